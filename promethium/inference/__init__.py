"""Tiled inference: overlapping patches, window blending, batching, Zarr streaming.

The stages a patch goes through, one module each, in order: ``source`` (region halos),
``batcher``, the forward pass in ``engine``, ``blender``, and the sink: ``predict``
(``tiled_predict``, in-memory arrays) or ``streaming`` (``stream_predict``, Zarr to Zarr
by output chunks with bounded memory, resumable), published by ``writers``. The
``task=infer`` entry of ``run.py`` is :mod:`promethium.tasks.infer`.
"""

from promethium.inference.predict import tiled_predict
from promethium.tiling import TileGrid, axis_starts, make_window

__all__ = ["TileGrid", "axis_starts", "make_window", "tiled_predict"]
