"""Promethium: Hydra-driven deep learning on seismic data.

The library is importable and usable without Hydra; Hydra only composes configs and
instantiates the objects described here.
"""

from promethium.errors import ConfigError, DataError, PromethiumError

__all__ = ["ConfigError", "DataError", "PromethiumError"]
__version__ = "0.1.0"
