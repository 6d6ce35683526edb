"""SEG-Y import to and export from Promethium Zarr stores (through segyio).

Import sorts traces into a regular array by one or two trace-header keys: pre-stack
gathers by ``FieldRecord`` (or ``CDP``, ...), post-stack cubes by
``["INLINE_3D", "CROSSLINE_3D"]``. Trace headers are read in blocks through a memory map
(:mod:`promethium.data.segy_blocks`: one pass for the sort keys, then one for the traces
and every header field together), and it streams gather by gather (each gather is one
Zarr chunk, written whole; headers a block of gathers at a time), so memory is a gather,
a block of headers and at most ~50 bytes per trace (sort keys and dead codes while the
gather grid is built; the grid and live mask, 9 bytes per trace, after), not the file
size. Every trace header field is kept as an int32 array
``headers/<field>`` shaped like the gather grid, with ``trace_index`` (the trace's
position in the file, ``-1`` for padding), and the textual and binary file headers go
into the store attributes, so export rewrites the original file exactly.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import segyio
import zarr

from promethium.data.cache import build_once
from promethium.data.chunk_reader import chunk_writer
from promethium.data.progress import ProgressBar
from promethium.data.segy_blocks import HEADER_FIELDS, SegyTraces
from promethium.data.store import (
    CHUNKS_WRITTEN,
    DATA_ARRAY,
    EVERY_CHUNK,
    TRACE_MASK,
    atomic_store,
    store_attrs,
    validate_store,
)
from promethium.errors import ConfigError, DataError

#: TraceIdentificationCode: 2 marks a dead trace
CODE_FIELD = "TraceIdentificationCode"
#: traces per chunk of each ``headers/<field>`` array (whole gathers)
HEADER_CHUNK_TRACES = 65536
#: threads that create the header arrays and write their chunks (small, latency-bound)
HEADER_IO_THREADS = 8
T = TypeVar("T")
#: data sample formats segyio reads and writes: code -> (name, bytes per sample). (Codes
#: 4, 7 and 15, fixed point with gain and 3-byte integers, segyio reads as IBM floats.)
SEGY_FORMATS: dict[int, tuple[str, int]] = {
    1: ("IBM float32", 4),
    2: ("int32", 4),
    3: ("int16", 2),
    5: ("IEEE float32", 4),
    6: ("IEEE float64", 8),
    8: ("int8", 1),
    9: ("int64", 8),
    10: ("uint32", 4),
    11: ("uint16", 2),
    12: ("uint64", 8),
    16: ("uint8", 1),
}
ENDIANS = ("big", "little")
#: TraceIdentificationCode of a dead trace
DEAD_TRACE_CODE = 2


def check_endian(endian: str | None, key: str = "endian") -> None:
    """Refuse an unknown byte order (``None``: detect)."""
    if endian is not None and endian not in ENDIANS:
        raise ConfigError.for_parameter(key, endian, "null (detect), big, little")


@contextmanager
def open_segy(path: str | os.PathLike, endian: str | None = None) -> Iterator[segyio.SegyFile]:
    """Open a SEG-Y file without geometry inference; clear errors for bad files.

    Args:
        path: the file.
        endian: ``big`` or ``little``; ``None`` tries big-endian (the standard), then
            little-endian (a file read in the wrong byte order has an impossible size).

    Raises:
        DataError: naming the file when it is missing, not SEG-Y or truncated.
    """
    path = Path(path)
    check_endian(endian)
    if not path.is_file():
        raise DataError(f"{path}: no such SEG-Y file")
    errors = []
    for order in [endian] if endian else list(ENDIANS):
        try:
            handle = segyio.open(str(path), "r", ignore_geometry=True, endian=order)
            break
        except Exception as err:  # noqa: BLE001 - segyio raises RuntimeError/ValueError/OSError
            errors.append(f"{order}-endian: {err}")
    else:
        raise DataError(f"{path}: not a readable SEG-Y file ({'; '.join(errors)})")
    with handle as f:
        f.endian_name = order  # which byte order opened it, for the store's records
        code = int(f.format)
        if code not in SEGY_FORMATS:
            raise DataError(
                f"{path}: data sample format code {code} is not supported; allowed: "
                + ", ".join(f"{c} ({n})" for c, (n, _) in SEGY_FORMATS.items())
            )
        trace_bytes = 240 + len(f.samples) * SEGY_FORMATS[code][1]
        expected = 3600 + f.ext_headers * 3200 + f.tracecount * trace_bytes
        if path.stat().st_size < expected or f.tracecount == 0:
            raise DataError(
                f"{path}: truncated SEG-Y file ({path.stat().st_size} bytes, "
                f"header says {f.tracecount} traces of {len(f.samples)} samples)"
            )
        yield f


def _field(name: str) -> int:
    if name not in HEADER_FIELDS:
        raise ConfigError.about(
            "sort", f"unknown trace header {name!r}; allowed: {', '.join(HEADER_FIELDS)}"
        )
    return HEADER_FIELDS[name]


def trace_grid(
    keys: Mapping[str, np.ndarray], sort: Sequence[str], n_traces: int, name: str = "SEG-Y file"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Place every trace on a ``(n_gathers, n_traces)`` grid by its header keys.

    With one key, traces keep file order inside each gather; with two, the second key
    gives the column (e.g. crossline), so gathers line up.

    Args:
        keys: the sort fields' values, ``(n_traces,)`` each (:meth:`SegyTraces.header_fields`).
        sort: zero, one or two field names.
        n_traces: traces in the file.
        name: the file, for messages.

    Returns:
        The grid of file trace indices (``-1`` where a gather has fewer traces), the
        gathers' key values and, with two keys, the columns' key values.
    """
    if not sort:
        return np.arange(n_traces)[None, :], np.zeros(1, dtype=np.int64), None
    gathers, gather_of = np.unique(np.asarray(keys[sort[0]], dtype=np.int64), return_inverse=True)
    columns = None
    if len(sort) > 1:
        columns, column_of = np.unique(keys[sort[1]], return_inverse=True)
        width = len(columns)
    else:
        order = np.argsort(gather_of, kind="stable")
        starts = np.searchsorted(gather_of[order], np.arange(len(gathers)))
        column_of = np.empty_like(gather_of)
        column_of[order] = np.arange(n_traces) - starts[gather_of[order]]
        width = int(np.bincount(gather_of).max())
    grid = np.full((len(gathers), width), -1, dtype=np.int64)
    if np.any(np.bincount(gather_of * width + column_of, minlength=grid.size) > 1):
        raise DataError(f"{name}: several traces share the same {'/'.join(sort)} key")
    grid[gather_of, column_of] = np.arange(n_traces)
    return grid, gathers, columns


def _file_headers(f: segyio.SegyFile) -> dict[str, Any]:
    return {
        "text": [bytes(f.text[i]).hex() for i in range(1 + f.ext_headers)],
        "binary": {str(int(k)): int(v) for k, v in f.bin.items()},
        "format": int(f.format),
        "endian": f.endian_name,
        "samples": [float(s) for s in f.samples],
    }


def live_traces(codes: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``grid``'s recorded traces: present in the file and not flagged dead (code 2).

    ``codes``: every trace's ``TraceIdentificationCode``, ``(n_traces,)``.
    """
    live = grid >= 0
    live[live] = codes[grid[live]] != DEAD_TRACE_CODE
    return live


def segy_to_zarr(
    segy_path: str | os.PathLike,
    zarr_path: str | os.PathLike,
    sort: Sequence[str] = ("FieldRecord",),
    axis_names: Sequence[str] | None = None,
    dx: Sequence[float | None] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    compress: bool = False,
    endian: str | None = None,
    workers: int | None = None,
) -> Path:
    """Convert a SEG-Y file to a Promethium store (see module docstring).

    Samples of every format segyio reads (IBM and IEEE floats, 1- to 8-byte integers)
    become float32 in the survey's own units. Grid positions with no trace (absent from
    a post-stack cube, or beyond a short gather), traces flagged dead and traces that are
    zero at every sample are zero and ``False`` in the store's boolean ``trace_mask``
    (MDIO's name), which training and inference use as the record's live traces.

    Args:
        segy_path: input file.
        zarr_path: output store; written atomically (a failure leaves no store behind).
        sort: one or two trace-header names; empty for one line in file order.
        axis_names: names of the two non-time axes (default by ``sort``).
        dx: spacing (m) of the two non-time axes, ``None`` for index axes.
        overwrite: replace an existing store.
        progress: show a progress bar.
        compress: zstd-compress the traces. Off by default: seismic float32 compresses
            little and uncompressed chunks read faster in training (``docs/benchmarks.md``).
            Headers are always compressed.
        endian: ``big``, ``little`` or ``None`` (detect).
        workers: threads that read, convert and write gathers (``None``: the machine's
            cores); the store is byte-identical for any number.

    Returns:
        The store path.

    Raises:
        ConfigError: an unknown ``sort`` field or a ``workers`` below 1.
        DataError: a file that is not readable SEG-Y, naming it.
    """
    sort = list(sort)
    workers = check_workers(workers)
    for name in sort:
        _field(name)
    with open_segy(segy_path, endian) as f:
        with SegyTraces.of(f, segy_path) as traces:
            fields = traces.header_fields([*dict.fromkeys([*sort, CODE_FIELD])])  # one pass
            grid, keys, columns = trace_grid(fields, sort, traces.n_traces, str(segy_path))
            live = live_traces(fields.pop(CODE_FIELD), grid)
            del fields
            attrs = _segy_store_attrs(f, segy_path, sort, keys, columns, axis_names, dx)
            with atomic_store(zarr_path, overwrite=overwrite) as group:
                group.attrs.update(attrs)
                _write_traces(group, traces, grid, live, compress, progress, workers)
                validate_store(group, zarr_path)
    return Path(zarr_path)


def _segy_store_attrs(
    f: segyio.SegyFile,
    segy_path: str | os.PathLike,
    sort: list[str],
    keys: np.ndarray,
    columns: np.ndarray | None,
    axis_names: Sequence[str] | None,
    dx: Sequence[float | None] | None,
) -> dict[str, Any]:
    """The store attributes of an open SEG-Y file: sampling, axes, provenance, headers."""
    dt_us = segyio.tools.dt(f, fallback_dt=0.0)
    if not dt_us or dt_us <= 0:
        raise DataError(
            f"{segy_path}: sample interval missing (binary header 'Interval' and "
            "trace header 'TRACE_SAMPLE_INTERVAL' are 0)"
        )
    headers = _file_headers(f)
    headers.update(sort=sort, gather_keys=keys.tolist())
    if columns is not None:  # the grid's columns, for filling absent traces on export
        headers["column_keys"] = columns.tolist()
    return store_attrs(
        dt=dt_us * 1e-6,
        dx=list(dx or [None, None]),
        axis_names=[*(axis_names or _default_axes(sort)), "time"],
        provenance={
            "source": str(Path(segy_path).resolve()),
            "sort": sort,
            "format": SEGY_FORMATS[int(f.format)][0],
            "endian": f.endian_name,
        },
        segy=headers,
        gather_keys=keys.tolist(),
    )


def check_workers(workers: int | None, key: str = "workers") -> int:
    """``workers`` as a thread count (``None``: the machine's cores)."""
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError.for_parameter(key, workers, "a positive integer, or null (every core)")
    return workers


def header_rows(grid_shape: tuple[int, int]) -> int:
    """Gathers per ``headers/<field>`` chunk: ~:data:`HEADER_CHUNK_TRACES` traces, >= 1."""
    n_gathers, width = grid_shape
    return min(n_gathers, max(1, HEADER_CHUNK_TRACES // max(width, 1)))


def _write_traces(
    group: zarr.Group,
    traces: SegyTraces,
    grid: np.ndarray,
    live: np.ndarray,
    compress: bool,
    progress: bool,
    workers: int = 1,
) -> None:
    """Write ``data``, ``trace_index``, ``trace_mask`` and ``headers/*`` of ``grid``.

    Each gather is read, converted and written as one ``data`` chunk, by ``workers``
    threads (the chunks are disjoint: the store is byte-identical for any number);
    headers are gathered in file order, ``header_rows`` gathers at a time (one chunk of
    every ``headers/<field>``), so memory holds a few gathers and one block of headers,
    never a field of the whole survey. ``live`` (updated here) loses traces zero at every
    sample.
    """
    n_gathers, width = grid.shape
    n_samples = traces.n_samples
    data = group.create_array(
        DATA_ARRAY,
        shape=(*grid.shape, n_samples),
        chunks=(1, width, n_samples),
        dtype="float32",
        compressors="auto" if compress else None,
        config=EVERY_CHUNK,
    )
    group.create_array("trace_index", shape=grid.shape, dtype="int64")[...] = grid
    mask = group.create_array(TRACE_MASK, shape=grid.shape, dtype="bool")
    rows = header_rows(grid.shape)
    write_chunk = chunk_writer(data)  # chunk files written in the calling thread

    def convert(g: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Gather ``g`` read and written; its present traces and their headers."""
        present = np.flatnonzero(grid[g] >= 0)
        gather = np.zeros((width, n_samples), dtype=np.float32)
        values = None
        if present.size:
            values, samples = traces.read(grid[g, present])
            gather[present] = samples
        gather *= live[g][:, None]
        # a trace that is zero at every sample recorded nothing (a decimated or muted
        # trace written without the dead code): never a target, filled by inference
        live[g] &= np.any(gather != 0, axis=-1)
        write_chunk((g, 0, 0), gather[None])
        return present, values

    record_mb = traces.record.itemsize / 1e6  # the bar counts MB of the file read
    bar = ProgressBar("SEG-Y -> Zarr", traces.n_traces * record_mb, "MB", enabled=progress)
    # metadata and header chunks are small writes: a few threads overlap their latency
    with ThreadPoolExecutor(HEADER_IO_THREADS) as io, bar:
        headers = dict(
            zip(
                HEADER_FIELDS,
                io.map(
                    lambda name: group.create_array(
                        f"headers/{name}", shape=grid.shape, chunks=(rows, width), dtype="int32"
                    ),
                    HEADER_FIELDS,
                ),
                strict=True,
            )
        )
        block: dict[str, np.ndarray] = {}
        for g, (present, values) in enumerate(in_order(convert, range(n_gathers), workers)):
            bar.advance(present.size * record_mb)
            first, row = divmod(g, rows)
            first *= rows
            if row == 0:
                height = min(rows, n_gathers - first)
                block = {name: np.zeros((height, width), np.int32) for name in HEADER_FIELDS}
            if values is not None:
                for name, rows_of_field in block.items():
                    rows_of_field[row, present] = values[name]
            if row == len(block[CODE_FIELD]) - 1:  # the block is complete: one chunk each
                list(io.map(functools.partial(_put, headers, block, first), HEADER_FIELDS))
    mask[...] = live
    group.attrs[CHUNKS_WRITTEN] = int(data.nchunks)


def _put(
    arrays: dict[str, zarr.Array], block: dict[str, np.ndarray], first: int, name: str
) -> None:
    arrays[name][first : first + len(block[name])] = block[name]


def in_order(fn: Callable[[int], T], items: Iterable[int], workers: int) -> Iterator[T]:
    """``fn`` of each item, in order, by ``workers`` threads with a bounded queue.

    At most ``2 * workers`` results wait at once, so memory stays a few gathers whatever
    the survey's size; ``workers=1`` runs in this thread.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[T]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _default_axes(sort: Sequence[str]) -> list[str]:
    if len(sort) == 2 and "INLINE" in sort[0].upper():
        return ["inline", "crossline"]
    return ["gather", "trace"] if sort else ["line", "trace"]


@dataclass
class SegyFile:
    """A SEG-Y file as a data source (``data=segy data.path=FILE``).

    It is converted to a cached store on first use, keyed by the file's path, size,
    modification time, ``sort`` and ``endian``.

    Args:
        path: the SEG-Y file.
        sort: trace-header keys that form the gathers (see :func:`segy_to_zarr`), e.g.
            ``[FieldRecord]`` for shots, ``[INLINE_3D, CROSSLINE_3D]`` for a cube.
        endian: ``big``, ``little`` or ``None`` (detect).
    """

    path: str
    sort: list[str] = field(default_factory=lambda: ["FieldRecord"])
    endian: str | None = None

    def prepare(self, cache_dir: str | Path) -> Path:
        """Convert once into ``cache_dir`` and return the store path."""
        if not self.path:
            raise ConfigError.about("path", "no SEG-Y file given; set it to /path/to/file.sgy")
        source = Path(self.path).resolve()
        if not source.is_file():
            raise DataError(f"{source}: no such SEG-Y file (data.path)")
        stat = source.stat()
        check_endian(self.endian)
        key = f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{','.join(self.sort)}|{self.endian}"
        target = (
            Path(cache_dir)
            / f"segy_{source.stem}_{hashlib.sha256(key.encode()).hexdigest()[:12]}.zarr"
        )
        return build_once(
            target,
            lambda path: segy_to_zarr(
                source, path, sort=self.sort, progress=False, endian=self.endian
            ),
            f"the SEG-Y conversion of {source.name}",
        )
