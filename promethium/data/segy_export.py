"""SEG-Y export of Promethium stores (through segyio), with every header value checked.

Traces go back to their original file positions with their original headers when the
store came from :func:`promethium.data.segy.segy_to_zarr`; otherwise minimal headers are
made. segyio writes 2-byte header fields modulo 2**16 without a word, so every value is
checked against its field's width first.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import segyio
import zarr

from promethium.data.progress import progress as with_progress
from promethium.data.segy import DEAD_TRACE_CODE, HEADER_FIELDS, SEGY_FORMATS
from promethium.data.segy_blocks import field_bytes
from promethium.data.store import open_store
from promethium.errors import ConfigError, DataError
from promethium.files import atomic_path, refuse_existing

BINARY_FIELDS: dict[str, int] = dict(segyio.binfield.keys)
#: format names that are NumPy integer dtypes
INTEGER_FORMATS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
log = logging.getLogger(__name__)


TRACE_FIELD_BYTES = field_bytes(HEADER_FIELDS, 241)
CODE_FIELD = int(segyio.TraceField.TraceIdentificationCode)
#: TraceIdentificationCode of a live seismic trace
SEISMIC_TRACE_CODE = 1
BINARY_FIELD_BYTES = field_bytes(BINARY_FIELDS, 3601)


def zarr_to_segy(
    zarr_path: str | os.PathLike,
    segy_path: str | os.PathLike,
    overwrite: bool = False,
    header_store: str | os.PathLike | None = None,
    progress: bool = True,
    fmt: int | None = None,
    fill: bool = False,
) -> Path:
    """Write a store back to SEG-Y.

    With ``fill`` (an interpolated cube), grid positions that had no trace in the source
    are written too, after the recorded traces, with headers made by
    :func:`fill_absent`.

    The data sample format and byte order are the source file's (``fmt`` picks another
    format, a code of :data:`~promethium.data.segy.SEGY_FORMATS`); with the format kept,
    every header is byte-identical. Integer formats get rounded samples, clipped to the
    format's range (a warning counts the clipped ones).

    Traces go back to their original file positions with their original headers when the
    store (or ``header_store``, e.g. the input of an inference run) came from
    :func:`segy_to_zarr`; otherwise minimal headers are made (``FieldRecord`` = gather,
    ``TraceNumber`` = trace, sample count and interval). The file is written to a
    temporary name and renamed, so a failure never leaves a partial file at ``segy_path``.
    """
    target = Path(segy_path)
    refuse_existing(target, overwrite, "pass overwrite=True (--overwrite)")
    group, data = open_store(zarr_path)
    headers = open_store(header_store)[0] if header_store else group
    if data.ndim != 3:
        raise DataError(
            f"{zarr_path}: SEG-Y export needs a 3D (gather, trace, time) array, got {data.shape}"
        )
    meta = dict(headers.attrs).get("segy")
    grid = np.asarray(headers["trace_index"][...]) if meta and "trace_index" in headers else None
    if grid is not None and grid.shape != tuple(data.shape[:2]):
        raise DataError(
            f"{header_store or zarr_path}: trace_index {grid.shape} does not match "
            f"data {data.shape}"
        )
    if grid is None:
        grid = np.arange(data.shape[0] * data.shape[1]).reshape(data.shape[:2])
    if fmt is not None and int(fmt) not in SEGY_FORMATS:
        raise ConfigError.for_parameter(
            "format", fmt, ", ".join(f"{c} ({n})" for c, (n, _) in SEGY_FORMATS.items())
        )
    with atomic_path(target) as tmp:
        _write_segy(
            tmp,
            data,
            grid,
            headers if meta else None,
            meta,
            float(group.attrs["dt"]),
            progress,
            str(target),
            fmt,
            fill,
        )
    return target


def check_field_range(
    where: str, name: str, width: int, low: int, high: int, hint: str = ""
) -> None:
    """Refuse values that a ``width``-byte signed SEG-Y header field cannot hold.

    segyio writes 2-byte fields modulo 2**16 without a word (40 ms became -25536 us), so
    every exported header value is checked first.

    Raises:
        DataError: naming the field, the value and the allowed range.
    """
    if width > 4:  # unassigned blocks, never written by the exporter
        return
    bound = 2 ** (8 * width - 1)
    for value in (low, high):
        if not -bound <= value < bound:
            raise DataError(
                f"{where}: SEG-Y header field {name} would be {value}, which its {width}-byte "
                f"field cannot hold (allowed {-bound}..{bound - 1}){hint}"
            )


def sample_interval_us(dt: float, where: str) -> int:
    """``dt`` (s) as SEG-Y's sample interval: whole microseconds in a 16-bit field.

    Raises:
        DataError: naming ``dt`` when it is not a whole number of microseconds in
            1..32767 (e.g. 40 ms, 0.1 us).
    """
    us = dt * 1e6
    whole = int(round(us))
    if not 1 <= whole <= 32767 or abs(us - whole) > 1e-3 * max(whole, 1):
        raise DataError(
            f"{where}: dt = {dt!r} s ({us:g} us); SEG-Y holds the sample interval as whole "
            "microseconds in a 16-bit field, allowed 1..32767 us (0.001..32.767 ms); "
            "resample the data or export another format (.zarr, .npy)"
        )
    return whole


def _check_headers(
    where: str, fields: dict[str, np.ndarray], grid: np.ndarray, binary: dict[int, int]
) -> None:
    """Every header value the exporter will write fits its field."""
    live = grid >= 0
    for name, values in fields.items():
        if live.any():
            picked = values[live]
            width = TRACE_FIELD_BYTES[HEADER_FIELDS[name]]
            check_field_range(where, name, width, int(picked.min()), int(picked.max()))
    names = {v: k for k, v in BINARY_FIELDS.items()}
    for offset, value in binary.items():
        width = BINARY_FIELD_BYTES[int(offset)]
        check_field_range(where, f"binary {names[int(offset)]}", width, int(value), int(value))


class SampleConverter:
    """float32 samples to the values of a SEG-Y data sample format.

    Float formats take the samples as they are (float64 widened); integer formats round
    them and clip them to the format's range, counting what was clipped.
    """

    def __init__(self, code: int) -> None:
        self.code, self.clipped = code, 0
        name = SEGY_FORMATS[code][0]
        self.dtype = np.dtype("float64" if code == 6 else name if name in INTEGER_FORMATS else "f4")
        self.range = None
        if self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            self.range = (float(info.min), float(info.max))

    def __call__(self, trace: np.ndarray) -> np.ndarray:
        if self.range is None:
            return trace.astype(self.dtype, copy=False)
        rounded = np.rint(trace.astype(np.float64))
        clipped = np.clip(rounded, *self.range)
        self.clipped += int(np.count_nonzero(clipped != rounded))
        return clipped.astype(self.dtype)

    def report(self, where: str) -> None:
        if self.clipped:
            log.warning(
                "%s: %d samples clipped to the range of SEG-Y format %d (%s)",
                where,
                self.clipped,
                self.code,
                SEGY_FORMATS[self.code][0],
            )


def _header_fields(
    grid: np.ndarray,
    headers: zarr.Group | None,
    meta: dict | None,
    n_samples: int,
    dt: float,
    code: int,
    where: str,
) -> tuple[dict[str, np.ndarray], dict[int, int]]:
    """Trace-header arrays over the grid and the binary header the export writes.

    The source's own headers when there are any; otherwise minimal ones (``FieldRecord``
    = gather, ``TraceNumber`` = trace, sample count and interval).
    """
    if meta and headers is not None:
        fields = {name: np.asarray(headers[f"headers/{name}"][...]) for name in HEADER_FIELDS}
        binary = {int(k): int(v) for k, v in meta["binary"].items()}
        binary[BINARY_FIELDS["Format"]] = code
        return fields, binary
    dt_us = sample_interval_us(dt, where)
    g_index, t_index = np.indices(grid.shape)
    fields = {
        "TRACE_SEQUENCE_FILE": grid + 1,
        "FieldRecord": g_index + 1,
        "TraceNumber": t_index + 1,
        "TRACE_SAMPLE_COUNT": np.full(grid.shape, n_samples),
        "TRACE_SAMPLE_INTERVAL": np.full(grid.shape, dt_us),
    }
    binary = {
        BINARY_FIELDS["Samples"]: n_samples,
        BINARY_FIELDS["Interval"]: dt_us,
        BINARY_FIELDS["Format"]: code,
    }
    return fields, binary


#: coordinate headers of a filled-in trace, interpolated between the recorded ones
COORDINATE_FIELDS = ("CDP_X", "CDP_Y", "SourceX", "SourceY", "GroupX", "GroupY")


def fill_absent(
    grid: np.ndarray, fields: dict[str, np.ndarray], meta: dict
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Give the grid's absent traces headers, and every trace its place in grid order.

    Only for stores sorted by two keys (a cube by inline and crossline): an absent grid
    position is a real place with no trace. Its headers are the nearest recorded trace's
    of the same gather, with the two sort keys set to the position's own and the
    coordinates from the grid's own geometry (:func:`_fit_grid_coordinates`). The file is then
    written in grid order (inline-major, sorted as geometry-aware readers expect), each
    trace's ``TRACE_SEQUENCE_FILE`` its new position; recorded traces keep every other
    header as it was.
    """
    sort, columns = meta.get("sort") or [], meta.get("column_keys")
    absent = grid < 0
    if len(sort) != 2 or columns is None or not absent.any() or not (~absent).any():
        return grid, fields
    fields = {name: values.copy() for name, values in fields.items()}
    rows = np.flatnonzero((~absent).any(axis=1))
    for g in range(grid.shape[0]):
        source = g if g in rows else int(rows[np.argmin(np.abs(rows - g))])
        live = np.flatnonzero(~absent[source])
        holes = np.flatnonzero(absent[g])
        nearest = live[np.abs(live[None, :] - holes[:, None]).argmin(axis=1)]
        for values in fields.values():
            values[g, holes] = values[source, nearest]
    for name in COORDINATE_FIELDS:
        if name in fields:
            _fit_grid_coordinates(fields[name], absent)
    fields[sort[0]][:] = np.asarray(meta["gather_keys"])[:, None]
    fields[sort[1]][:] = np.asarray(columns)[None, :]
    order = np.arange(grid.size, dtype=np.int64).reshape(grid.shape)
    fields["TRACE_SEQUENCE_FILE"][:] = order + 1
    return order, fields


def _fit_grid_coordinates(values: np.ndarray, absent: np.ndarray) -> None:
    """Coordinates of absent grid positions from the affine map of the recorded ones.

    A survey grid is a rotated regular lattice: each coordinate is an affine function of
    the (row, column) grid indices. It is fitted to the recorded traces (least squares)
    and evaluated at the absent positions, at the grid's edges too (where interpolating
    along a row would repeat the last recorded value). Needs recorded traces spanning both
    grid directions; otherwise the copied values stay.
    """
    rows, cols = np.nonzero(~absent)
    design = np.c_[rows, cols, np.ones(rows.size)]
    if np.linalg.matrix_rank(design) < 3:
        return
    coef, *_ = np.linalg.lstsq(design, values[~absent].astype(np.float64), rcond=None)
    holes_r, holes_c = np.nonzero(absent)
    values[holes_r, holes_c] = np.rint(np.c_[holes_r, holes_c, np.ones(holes_r.size)] @ coef)


def _write_segy(
    path: Path,
    data: zarr.Array,
    grid: np.ndarray,
    headers: zarr.Group | None,
    meta: dict | None,
    dt: float,
    progress: bool,
    where: str,
    fmt: int | None = None,
    fill: bool = False,
) -> None:
    """Write ``data`` at ``path``; ``where`` names the output in errors."""
    spec = segyio.spec()
    spec.format = int(fmt or (meta["format"] if meta else 5))
    spec.endian = meta.get("endian", "big") if meta else "big"
    spec.samples = meta["samples"] if meta else list(np.arange(data.shape[-1]) * dt * 1e3)
    spec.ext_headers = len(meta["text"]) - 1 if meta else 0
    fields, binary = _header_fields(
        grid, headers, meta, int(data.shape[-1]), dt, spec.format, where
    )
    if fill and meta:
        grid, fields = fill_absent(grid, fields, meta)
    spec.tracecount = int((grid >= 0).sum())
    _check_headers(where, fields, grid, binary)
    convert = SampleConverter(spec.format)
    with segyio.create(str(path), spec) as out:
        if meta:
            for i, text in enumerate(meta["text"]):
                out.text[i] = bytes.fromhex(text)
        out.bin.update(binary)
        gathers = range(grid.shape[0])
        for g in with_progress(gathers, len(gathers), "Zarr -> SEG-Y", enabled=progress):
            block = np.asarray(data[g])
            for t in np.flatnonzero(grid[g] >= 0):
                position = int(grid[g, t])
                header = {HEADER_FIELDS[k]: int(v[g, t]) for k, v in fields.items()}
                if header.get(CODE_FIELD) == DEAD_TRACE_CODE and block[t].any():
                    # a trace that was dead and now holds data (filled by inference) is
                    # live, or the next program drops it; the input's store keeps the code
                    header[CODE_FIELD] = SEISMIC_TRACE_CODE
                out.header[position] = header
                out.trace[position] = convert(block[t])
    convert.report(where)
