"""Lightning's MLflow logger with the model-registry name a run registers its network as."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import MLFlowLogger as LightningMLFlowLogger

from promethium.errors import ConfigError


class MLFlowLogger(LightningMLFlowLogger):
    """:class:`lightning.pytorch.loggers.MLFlowLogger` plus ``register_as``.

    Args:
        register_as: model-registry name; ``task=train`` logs the best checkpoint as an
            MLflow pyfunc model of the run and registers it under this name (a new
            version per run). ``None``: logged, not registered.
        **kwargs: Lightning's ``MLFlowLogger`` arguments.
    """

    def __init__(self, *args: Any, register_as: str | None = None, **kwargs: Any) -> None:
        if register_as is not None and (not isinstance(register_as, str) or not register_as):
            raise ConfigError.for_parameter("register_as", register_as, "a model name, or null")
        super().__init__(*args, **kwargs)
        self.register_as = register_as
