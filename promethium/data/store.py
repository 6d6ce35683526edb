"""The Promethium Zarr store convention: write, open and validate seismic stores.

A store is a Zarr v3 group holding one float32 array ``data`` whose axes run slowest to
fastest with time (samples) last, e.g. gathers ``(gather, trace, time)`` or cubes
``(inline, crossline, time)``. The group attributes carry:

* ``dt``: time sampling in seconds (> 0);
* ``dx``: spatial sampling in metres, one value per non-time axis that has a physical
  spacing (``null`` for index axes such as ``gather``);
* ``axis_names``: one name per array axis, the last one ``time``;
* ``units``: at least ``{"data": ..., "dt": "s", "dx": "m"}``;
* ``provenance``: free text or a mapping saying where the data came from.

Extra arrays (trace headers, velocity models) may sit beside ``data`` in the group.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from promethium.data.mdio import MdioGroup, is_mdio
from promethium.errors import DataError
from promethium.files import atomic_path, refuse_existing

#: the traces, float32, time last: MDIO's name for the same variable
DATA_ARRAY = "amplitude"
#: its name before the convention took MDIO's (stores written before 0.2 are still read)
LEGACY_DATA_ARRAY = "data"
#: optional boolean array over the non-time axes: True where a trace was recorded (MDIO's
#: name); absent and dead traces are False and never a training target
TRACE_MASK = "trace_mask"
REQUIRED_ATTRS = ("dt", "dx", "axis_names", "units", "provenance")
#: attribute: how many chunks of the amplitudes the writer wrote (every one, empty ones
#: too), so a reader can tell a lost chunk from one never written (zarr reads both as
#: the fill value)
CHUNKS_WRITTEN = "chunks_written"
#: array settings of writers that record CHUNKS_WRITTEN: all-zero chunks are written too
EVERY_CHUNK = {"write_empty_chunks": True}
FORMAT_VERSION = 1


def data_array(group: Any) -> zarr.Array:
    """The store's traces: ``amplitude`` (or ``data`` in stores written before 0.2)."""
    return group[DATA_ARRAY if DATA_ARRAY in group else LEGACY_DATA_ARRAY]


def validate_store(group: zarr.Group, path: str | os.PathLike = "<store>") -> zarr.Array:
    """Check ``group`` against the convention and return its ``data`` array.

    Raises:
        DataError: naming the store and the missing or invalid key.

    """
    attrs = dict(group.attrs)
    for key in REQUIRED_ATTRS:
        if key not in attrs:
            raise DataError(
                f"{path}: store attribute {key!r} is missing (required: {REQUIRED_ATTRS})"
            )
    try:
        present = DATA_ARRAY in group or LEGACY_DATA_ARRAY in group
        data = data_array(group) if present else None
    except Exception as err:  # noqa: BLE001 - zarr raises JSON, key and value errors here
        raise DataError(
            f"{path}: the amplitudes' metadata is unreadable ({type(err).__name__}: {err}); "
            "its zarr.json may be truncated: re-create the store"
        ) from None
    if data is None:
        raise DataError(f"{path}: array {DATA_ARRAY!r} is missing from the store")
    if data.dtype != np.float32:
        raise DataError(f"{path}: array {DATA_ARRAY!r} has dtype {data.dtype}; allowed: float32")
    dt = attrs["dt"]
    if not isinstance(dt, int | float) or not np.isfinite(dt) or dt <= 0:
        raise DataError(f"{path}: attribute 'dt' must be a positive number of seconds, got {dt!r}")
    if TRACE_MASK in group:
        mask = group[TRACE_MASK]
        if mask.dtype != np.bool_ or tuple(mask.shape) != tuple(data.shape[:-1]):
            raise DataError(
                f"{path}: array {TRACE_MASK!r} must be boolean with the shape of the "
                f"amplitudes minus time {tuple(data.shape[:-1])}; got {mask.dtype} "
                f"{tuple(mask.shape)}"
            )
    names = attrs["axis_names"]
    if not isinstance(names, list) or len(names) != data.ndim:
        raise DataError(
            f"{path}: attribute 'axis_names' must list one name per axis of the amplitudes "
            f"({data.ndim}), got {names!r}"
        )
    if names[-1] != "time":
        raise DataError(f"{path}: attribute 'axis_names' must end with 'time', got {names!r}")
    dx = attrs["dx"]
    if not isinstance(dx, list) or len(dx) != data.ndim - 1:
        raise DataError(
            f"{path}: attribute 'dx' must list one spacing (m, or null) per non-time axis "
            f"({data.ndim - 1}), got {dx!r}"
        )
    if any(v is not None and (not isinstance(v, int | float) or v <= 0) for v in dx):
        raise DataError(
            f"{path}: attribute 'dx' values must be positive metres or null, got {dx!r}"
        )
    if not isinstance(attrs["units"], Mapping):
        raise DataError(f"{path}: attribute 'units' must be a mapping, got {attrs['units']!r}")
    if CHUNKS_WRITTEN in attrs:
        check_chunks(data, int(attrs[CHUNKS_WRITTEN]), path)
    return data


def check_chunks(data: zarr.Array, written: int, path: str | os.PathLike) -> None:
    """Refuse a store whose amplitudes lack chunks its writer recorded as written.

    Zarr reads a missing chunk as the fill value, so a chunk file lost after the store
    was written would train and infer as zeros without a word.

    Raises:
        DataError: naming the store, the first missing chunk and the gathers it holds.
    """
    present = int(data.nchunks_initialized)
    if present >= written:
        return
    missing = "; the missing chunk could not be located (not a local store)"
    if not is_url(path):
        folder = Path(path) / data.path
        for coords in np.ndindex(*data.cdata_shape):
            key = data.metadata.encode_chunk_key(coords)
            if not (folder / key).exists():
                first = coords[0] * data.chunks[0]
                last = min(first + data.chunks[0], data.shape[0]) - 1
                missing = f"; {data.path}/{key} (first-axis positions {first}..{last}) is missing"
                break
    raise DataError(
        f"{path}: {written - present} of the {written} amplitude chunks its writer wrote are "
        f"gone{missing}; they would read as zeros: re-create or restore the store (zarr "
        "itself deletes chunks rewritten all zero unless the array is opened under "
        "zarr.config.set({'array.write_empty_chunks': True}))"
    )


def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an fsspec URL (``s3://``, ``gs://``, ``memory://``, ``file://``)."""
    return "://" in str(path)


def open_store(path: str | os.PathLike) -> tuple[zarr.Group, zarr.Array]:
    """Open a store read-only and validate it.

    Returns:
        The group and its ``data`` array (lazy: nothing is read yet).

    Raises:
        DataError: if the path is missing, not a Zarr group, or breaks the convention.

    """
    if not is_url(path) and not Path(path).exists():
        raise DataError(f"{path}: no such Zarr store")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as err:  # zarr raises several types for "not a group"
        raise DataError(f"{path}: not a readable Zarr v3 group ({err})") from err
    if is_mdio(group):  # an MDIO v1 dataset, read in place (promethium.data.mdio)
        view = MdioGroup(group, path)
        return view, view.array  # the zarr group API Promethium uses
    return group, validate_store(group, path)


def store_attrs(
    *,
    dt: float,
    dx: Sequence[float | None],
    axis_names: Sequence[str],
    provenance: str | Mapping[str, Any],
    data_unit: str = "arbitrary",
    **extra: Any,
) -> dict[str, Any]:
    """Build the attribute mapping required by the convention."""
    return {
        "dt": float(dt),
        "dx": [None if v is None else float(v) for v in dx],
        "axis_names": list(axis_names),
        "units": {"data": data_unit, "dt": "s", "dx": "m"},
        "provenance": provenance if isinstance(provenance, str) else dict(provenance),
        "format_version": FORMAT_VERSION,
        **extra,
    }


@contextmanager
def atomic_store(path: str | os.PathLike, overwrite: bool = False) -> Iterator[zarr.Group]:
    """Create a store in a temporary sibling folder and move it into place on success.

    A crash (or any exception) inside the block removes the temporary folder, so a
    half-written store never appears at ``path`` and a previous good one is kept.

    Raises:
        DataError: if ``path`` exists and ``overwrite`` is false.

    """
    target = Path(path)
    refuse_existing(target, overwrite, "pass overwrite=True (--overwrite)")
    with atomic_path(target) as tmp:  # makes the parent folder too
        yield zarr.open_group(str(tmp), mode="w-")


def write_store(
    path: str | os.PathLike,
    data: np.ndarray,
    attrs: Mapping[str, Any],
    chunks: Sequence[int] | None = None,
    extra_arrays: Mapping[str, np.ndarray] | None = None,
    overwrite: bool = False,
    compress: bool = True,
) -> Path:
    """Write ``data`` (and optional extra arrays) as a validated store, atomically.

    Args:
        path: destination folder.
        data: float32-convertible array, time last.
        attrs: attributes from :func:`store_attrs`.
        chunks: chunk shape of ``data``; defaults to one leading index per chunk.
        extra_arrays: more arrays to store beside ``data`` (e.g. headers, velocity).
        overwrite: replace an existing store (atomically).
        compress: zstd-compress ``data`` chunks (zarr's default). Seismic float32
            compresses little and uncompressed chunks read faster (``docs/benchmarks.md``):
            turn it off for stores that training reads hot.
    """
    data = np.asarray(data, dtype=np.float32)
    if not np.isfinite(data).all():
        raise DataError(f"{path}: data contains NaN or inf values")
    chunks = tuple(chunks) if chunks is not None else (1, *data.shape[1:])
    with atomic_store(path, overwrite=overwrite) as group:
        group.attrs.update(dict(attrs))
        arr = group.create_array(
            DATA_ARRAY,
            shape=data.shape,
            chunks=chunks,
            dtype="float32",
            compressors="auto" if compress else None,
            config=EVERY_CHUNK,
        )
        arr[...] = data
        group.attrs[CHUNKS_WRITTEN] = int(arr.nchunks)
        for name, values in (extra_arrays or {}).items():
            values = np.asarray(values)
            group.create_array(name, shape=values.shape, dtype=values.dtype)[...] = values
        validate_store(group, path)
    return Path(path)
