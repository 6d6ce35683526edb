"""Synchronous box reads from local Zarr v3 arrays, for data-loader workers.

Why not ``array[selection]``: zarr 3 runs every read through its asyncio event loop in a
separate thread and hands each chunk's file read and decode to a thread pool. For the
small patch reads of training (one to four chunks) that machinery costs far more than
the I/O, several times the cost of the same slice of ``np.memmap`` (``scripts/bench_data.py``
measures it; the figures are in ``docs/benchmarks.md``). This reader keeps
zarr for everything format-related (metadata, chunk grid, chunk keys, fill value and
the codecs' own synchronous decoders, zarr's ``SupportsSyncCodec`` protocol) and only
replaces the scheduling: it reads chunk files with plain ``open()`` in the calling
thread and decodes them there, with a small LRU cache of decoded chunks so that
overlapping grid windows do not decode a chunk twice.

Arrays it cannot read this way (remote or in-memory stores, sharding, zarr v2, codecs
without a synchronous decoder) are read through zarr itself: :func:`box_reader` picks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.core.buffer.cpu import NDBuffer

from promethium.data.zarr_codecs import chunk_decoders, chunk_encoders, supports_sync_reads

Box = tuple[int | slice, ...]
"""A selection of integers and step-1 slices, one per array axis."""


class SyncChunkReader:
    """Reads boxes of a local, unsharded Zarr v3 array chunk by chunk, in this thread.

    Args:
        array: the array to read (see :meth:`supports`).
        cache_bytes: capacity of the decoded-chunk LRU cache (0 disables it).

    """

    def __init__(self, array: zarr.Array, cache_bytes: int = 32 * 2**20) -> None:
        if not self.supports(array):
            raise ValueError(f"{array.store_path}: not a local, unsharded zarr v3 array")
        meta = array.metadata
        self.shape = tuple(array.shape)
        self.chunks = tuple(meta.chunk_grid.chunk_shape)
        self.dtype = np.dtype(array.dtype)
        self.fill_value = meta.fill_value
        self.folder = Path(array.store_path.store.root) / array.store_path.path
        self.encode_key = meta.encode_chunk_key
        self.decoders = chunk_decoders(array)
        self.cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self.cache_chunks = cache_bytes // max(1, int(np.prod(self.chunks)) * self.dtype.itemsize)

    @staticmethod
    def supports(array: zarr.Array) -> bool:
        """Whether ``array`` is a local, regular-grid, unsharded v3 array with sync codecs."""
        return supports_sync_reads(array)

    def chunk(self, coords: tuple[int, ...]) -> np.ndarray:
        """The decoded chunk at grid position ``coords``, full chunk shape (cached)."""
        if coords in self.cache:
            self.cache.move_to_end(coords)
            return self.cache[coords]
        try:
            raw = (self.folder / self.encode_key(coords)).read_bytes()
        except FileNotFoundError:  # never-written chunk: zarr's fill value
            values = np.full(self.chunks, self.fill_value, dtype=self.dtype)
        else:
            data = default_buffer_prototype().buffer.from_bytes(raw)
            for decode in self.decoders:
                data = decode(data)
            values = data.as_numpy_array().reshape(self.chunks)
        if self.cache_chunks > 0:
            self.cache[coords] = values
            if len(self.cache) > self.cache_chunks:
                self.cache.popitem(last=False)
        return values

    def read(self, box: Box) -> np.ndarray:
        """Read ``array[box]`` (integers drop their axis, as in NumPy)."""
        if len(box) != len(self.shape):
            raise IndexError(f"box {box} does not match the array's {len(self.shape)} axes")
        bounds = []
        for sel, n in zip(box, self.shape, strict=True):
            if isinstance(sel, slice):
                lo, hi, step = sel.indices(n)
                if step != 1:
                    raise IndexError(f"only step-1 slices are supported, got {sel}")
                bounds.append((lo, max(lo, hi)))
            else:
                i = int(sel) + n if int(sel) < 0 else int(sel)
                if not 0 <= i < n:
                    raise IndexError(f"index {sel} out of range for an axis of length {n}")
                bounds.append((i, i + 1))
        out = np.empty([hi - lo for lo, hi in bounds], dtype=self.dtype)
        if out.size:
            ranges = [
                range(lo // c, (hi - 1) // c + 1)
                for (lo, hi), c in zip(bounds, self.chunks, strict=True)
            ]
            for coords in np.ndindex(*[len(r) for r in ranges]):
                grid = tuple(r[k] for r, k in zip(ranges, coords, strict=True))
                src, dst = [], []
                for g, c, (lo, hi) in zip(grid, self.chunks, bounds, strict=True):
                    a, b = max(lo, g * c), min(hi, (g + 1) * c)
                    src.append(slice(a - g * c, b - g * c))
                    dst.append(slice(a - lo, b - lo))
                out[tuple(dst)] = self.chunk(grid)[tuple(src)]
        keep = tuple(slice(None) if isinstance(s, slice) else 0 for s in box)
        return out[keep]


class SyncChunkWriter:
    """Writes whole chunks of a local, unsharded Zarr v3 array as files, in this thread.

    The mirror of :class:`SyncChunkReader` for the SEG-Y import: ``array[g] = gather``
    runs through zarr's event loop (~5 ms a chunk, 3.3 s for 667 chunks of 1.4 MB against
    0.7-2 s for plain file writes of the same bytes); here each chunk is encoded by the
    array's own codecs and written with ``open()``, so that several threads write at
    once. The chunk files are the ones zarr writes (same keys, same encoding).

    Args:
        array: the array (see :meth:`SyncChunkReader.supports`).
    """

    def __init__(self, array: zarr.Array) -> None:
        if not SyncChunkReader.supports(array):
            raise ValueError(f"{array.store_path}: not a local, unsharded zarr v3 array")
        meta = array.metadata
        self.chunks = tuple(meta.chunk_grid.chunk_shape)
        self.dtype = np.dtype(array.dtype)
        self.folder = Path(array.store_path.store.root) / array.store_path.path
        self.encode_key = meta.encode_chunk_key
        self.encoders = chunk_encoders(array)

    def write(self, coords: tuple[int, ...], values: np.ndarray) -> None:
        """Write the chunk at grid position ``coords`` (``values``: the full chunk shape)."""
        if values.shape != self.chunks:
            raise ValueError(f"chunk of shape {values.shape}, the array's is {self.chunks}")
        data: Any = NDBuffer.from_numpy_array(np.ascontiguousarray(values, dtype=self.dtype))
        for encode in self.encoders:
            data = encode(data)
        path = self.folder / self.encode_key(coords)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.as_numpy_array().tobytes())


def chunk_writer(array: zarr.Array) -> Callable[[tuple[int, ...], np.ndarray], None]:
    """``(coords, chunk) -> None`` for ``array``: :class:`SyncChunkWriter` where it applies."""
    if SyncChunkReader.supports(array):
        return SyncChunkWriter(array).write

    def through_zarr(coords: tuple[int, ...], values: np.ndarray) -> None:
        box = tuple(slice(c * n, (c + 1) * n) for c, n in zip(coords, array.chunks, strict=True))
        array[box] = values

    return through_zarr


def box_reader(array: zarr.Array, cache_bytes: int = 32 * 2**20) -> Callable[[Box], np.ndarray]:
    """``box -> ndarray`` for ``array``: :class:`SyncChunkReader` where it applies, else zarr."""
    if SyncChunkReader.supports(array):
        return SyncChunkReader(array, cache_bytes).read
    return lambda box: np.asarray(array[box])


__all__ = ["Box", "SyncChunkReader", "SyncChunkWriter", "box_reader", "chunk_writer"]
