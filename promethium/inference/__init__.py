"""Tiled inference: overlapping patches, window blending, batching, Zarr streaming.

``tiled_predict`` works on in-memory arrays; ``stream_predict`` goes Zarr to Zarr by
output chunks with bounded memory and resumes after a crash; ``task.run`` is the
``task=infer`` entry of ``run.py``.
"""

from promethium.inference.predict import tiled_predict
from promethium.tiling import TileGrid, axis_starts, make_window

__all__ = ["TileGrid", "axis_starts", "make_window", "tiled_predict"]
