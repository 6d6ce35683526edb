"""SEG-Y export of Promethium stores (through segyio), with every header value checked.

Traces go back to their original file positions with their original headers when the
store came from :func:`promethium.data.segy.segy_to_zarr`; otherwise minimal headers are
made. segyio writes 2-byte header fields modulo 2**16 without a word, so every value is
checked against its field's width first.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import segyio
import zarr
from rich.progress import track

from promethium.data.segy import HEADER_FIELDS
from promethium.data.store import open_store
from promethium.errors import DataError
from promethium.files import refuse_existing, replace_atomically

BINARY_FIELDS: dict[str, int] = dict(segyio.binfield.keys)


def _field_bytes(fields: dict[str, int], end: int) -> dict[int, int]:
    """Byte width of each header field (fields are contiguous: next offset minus this)."""
    offsets = sorted(set(fields.values()))
    return {o: n - o for o, n in zip(offsets, [*offsets[1:], end], strict=True)}


TRACE_FIELD_BYTES = _field_bytes(HEADER_FIELDS, 241)
BINARY_FIELD_BYTES = _field_bytes(BINARY_FIELDS, 3601)


def zarr_to_segy(
    zarr_path: str | os.PathLike,
    segy_path: str | os.PathLike,
    overwrite: bool = False,
    header_store: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Write a store back to SEG-Y.

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
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _write_segy(
            tmp,
            data,
            grid,
            headers if meta else None,
            meta,
            float(group.attrs["dt"]),
            progress,
            str(target),
        )
        replace_atomically(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
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


def _write_segy(
    path: Path,
    data: zarr.Array,
    grid: np.ndarray,
    headers: zarr.Group | None,
    meta: dict | None,
    dt: float,
    progress: bool,
    where: str,
) -> None:
    """Write ``data`` at ``path``; ``where`` names the output in errors."""
    spec = segyio.spec()
    spec.format = int(meta["format"]) if meta else 5
    spec.samples = meta["samples"] if meta else list(np.arange(data.shape[-1]) * dt * 1e3)
    spec.tracecount = int((grid >= 0).sum())
    spec.ext_headers = len(meta["text"]) - 1 if meta else 0
    n_samples = int(data.shape[-1])
    if meta and headers is not None:
        fields = {name: np.asarray(headers[f"headers/{name}"][...]) for name in HEADER_FIELDS}
        binary = {int(k): int(v) for k, v in meta["binary"].items()}
    else:
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
            BINARY_FIELDS["Format"]: spec.format,
        }
    _check_headers(where, fields, grid, binary)
    with segyio.create(str(path), spec) as out:
        if meta:
            for i, text in enumerate(meta["text"]):
                out.text[i] = bytes.fromhex(text)
        out.bin.update(binary)
        for g in track(range(grid.shape[0]), description="Zarr -> SEG-Y", disable=not progress):
            block = np.asarray(data[g])
            for t in np.flatnonzero(grid[g] >= 0):
                position = int(grid[g, t])
                out.header[position] = {HEADER_FIELDS[k]: int(v[g, t]) for k, v in fields.items()}
                out.trace[position] = block[t]
