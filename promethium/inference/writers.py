"""The sink's last step: a complete work store published as the output its suffix names.

Each output kind has one writer, registered by suffix (:func:`register_writer`, as
MONAI registers its image writers): Zarr stores are moved into place; ``.npy``, SEG-Y
and MDIO outputs are written to a temporary sibling and renamed. Object-store outputs
are uploaded (:func:`upload`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from promethium.data.inputs import SEGY_SUFFIXES, InferenceInput, kind_of
from promethium.data.mdio import write_like
from promethium.data.segy_export import sample_interval_us, zarr_to_segy
from promethium.data.store import DATA_ARRAY, data_array, is_url, open_store
from promethium.errors import ConfigError, DataError
from promethium.files import atomic_path, refuse_existing
from promethium.inference.streaming import INFER_OVERWRITE, publish

#: writer(work store, target, input, overwrite, fill, fmt); see :func:`export`
Writer = Callable[[Path, Path, InferenceInput, bool, bool, "int | None"], None]
WRITERS: dict[str, Writer] = {}


def register_writer(*suffixes: str) -> Callable[[Writer], Writer]:
    """Register a writer for outputs whose file name ends in one of ``suffixes``."""

    def register(writer: Writer) -> Writer:
        for suffix in suffixes:
            WRITERS[suffix] = writer
        return writer

    return register


def output_suffix(target: Path | str) -> str:
    """The output's suffix, lower case (``.zarr`` for a folder name without one)."""
    return Path(str(target).rstrip("/")).suffix.lower()


def _copy_blocks(source: Any, target: Any) -> None:
    """``target[...] = source[...]`` one block of ``source``'s leading chunk size at a time."""
    step = max(int(source.chunks[0]), 1)
    for start in range(0, source.shape[0], step):
        target[start : start + step] = source[start : start + step]


def export(
    work: Path,
    target: Path,
    source: InferenceInput,
    overwrite: bool,
    fill: bool = False,
    fmt: int | None = None,
) -> None:
    """Turn a complete work store into the output ``target``'s suffix names, atomically.

    The suffix's registered writer makes the output (a previous one is replaced only
    once the new one is complete), then the work store is removed.

    Raises:
        ConfigError: naming ``output`` when no writer is registered for the suffix.
    """
    check_output_kind(target)
    WRITERS[output_suffix(target)](work, target, source, overwrite, fill, fmt)
    shutil.rmtree(work, ignore_errors=True)


@register_writer(".zarr")
def write_zarr(
    work: Path, target: Path, source: InferenceInput, overwrite: bool, fill: bool, fmt: int | None
) -> None:
    """The work store moved into place: it already is a store of the data convention."""
    publish(work, target, overwrite)


@register_writer(*SEGY_SUFFIXES)
def write_segy(
    work: Path, target: Path, source: InferenceInput, overwrite: bool, fill: bool, fmt: int | None
) -> None:
    """SEG-Y in ``fmt`` (default the input's), with the input's headers if it was SEG-Y."""
    refuse_existing(target, overwrite, INFER_OVERWRITE)
    header_store = source.store if kind_of(source.path) == "segy" else None
    zarr_to_segy(
        work, target, overwrite=True, header_store=header_store, progress=False, fmt=fmt, fill=fill
    )


@register_writer(".npy")
def write_npy(
    work: Path, target: Path, source: InferenceInput, overwrite: bool, fill: bool, fmt: int | None
) -> None:
    """A float32 ``.npy`` array, copied block by block through a memory map."""
    refuse_existing(target, overwrite, INFER_OVERWRITE)
    _, data = open_store(work)
    with atomic_path(target, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=data.shape)
        _copy_blocks(data, out)
        out.flush()
        del out


@register_writer(".mdio")
def write_mdio(
    work: Path, target: Path, source: InferenceInput, overwrite: bool, fill: bool, fmt: int | None
) -> None:
    """An MDIO dataset with the input MDIO's dimensions, coordinates and headers."""
    refuse_existing(target, overwrite, INFER_OVERWRITE)
    _, data = open_store(work)
    write_like(source.path, data, target, tuple(data.chunks))


def staging_path(url: str, cache_dir: str | os.PathLike) -> Path:
    """The local store an object-store output is predicted into before the upload.

    Keyed by the URL, under the cache folder, so that every shard of a sharded run (on a
    shared file system) and a resumed run find the same work store.
    """
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(cache_dir) / "infer_staging" / key / Path(url.rstrip("/")).name


def upload(work: Path, url: str, overwrite: bool) -> None:
    """Copy a complete local work store to ``url`` chunk block by chunk block.

    Object stores have no atomic rename, so the uploaded store says
    ``inference.complete: false`` until its last chunk is written; only then is the
    flag set and the local work store removed.
    """
    import zarr

    source = zarr.open_group(str(work), mode="r")
    data = data_array(source)
    attrs = dict(source.attrs)
    info = attrs.get("inference", {})
    try:
        target = zarr.open_group(url, mode="w" if overwrite else "w-")
    except Exception as err:  # noqa: BLE001 - fsspec and zarr raise several types
        raise DataError(f"{url}: cannot create the output store ({err})") from err
    target.attrs.update({**attrs, "inference": {**info, "complete": False}})
    out = target.create_array(
        DATA_ARRAY, shape=data.shape, chunks=data.chunks, dtype=data.dtype, compressors=None
    )
    _copy_blocks(data, out)
    target.attrs["inference"] = {**info, "complete": True}
    shutil.rmtree(work, ignore_errors=True)


def check_output_kind(target: Path | str) -> None:
    """Refuse an output whose suffix has no registered writer.

    Raises:
        ConfigError: naming ``output`` and the allowed suffixes.
    """
    suffix = output_suffix(target)
    if suffix not in WRITERS:
        raise ConfigError.about(
            "output",
            f"{target} has unknown output kind {suffix or '(no suffix)'!r}; allowed "
            f"suffixes: {', '.join(WRITERS)}",
        )


def check_output(target: Path | str, overwrite: bool, source: InferenceInput) -> None:
    """Refuse an existing output (unless ``overwrite``) and outputs the input cannot make.

    Raises:
        DataError: naming the output.
    """
    url = is_url(target)
    check_output_kind(target)
    if url and kind_of(target) != "zarr":
        raise DataError(f"{target}: URL outputs must be Zarr stores (output=...)")
    refuse_existing(target, overwrite, INFER_OVERWRITE, _store_exists(str(target)) if url else None)
    if url:
        return
    if str(Path(target).resolve()) == source.location:
        raise DataError(f"{target}: output is the input; choose another output path")
    if kind_of(target) == "mdio" and kind_of(source.path) != "mdio":
        raise DataError(
            f"{target}: an MDIO output copies an MDIO input's dimensions, coordinates and "
            f"headers; {source.path} is not MDIO (write .zarr, .sgy or .npy instead)"
        )
    if kind_of(target) == "segy" and source.volume.ndim != 3:
        raise DataError(
            f"{target}: SEG-Y output needs a 3D (gather, trace, time) input; got "
            f"{len(source.volume.shape)} axes"
        )
    if kind_of(target) == "segy":  # before any prediction: SEG-Y's 16-bit sample interval
        sample_interval_us(float(source.attrs.get("dt", 0.0)), str(target))


def _store_exists(url: str) -> bool:
    import zarr

    try:
        zarr.open_group(url, mode="r")
    except Exception:  # noqa: BLE001 - "not found" has several types across stores
        return False
    return True


__all__ = [
    "WRITERS",
    "check_output",
    "check_output_kind",
    "export",
    "register_writer",
    "staging_path",
    "upload",
]
