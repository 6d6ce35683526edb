"""Inputs and outputs of the ``infer`` task: Zarr stores, SEG-Y files and ``.npy`` arrays."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from promethium.data.mdio import write_like
from promethium.data.segy import SegyFile
from promethium.data.segy_export import zarr_to_segy
from promethium.data.store import (
    DATA_ARRAY,
    TRACE_MASK,
    data_array,
    is_url,
    open_store,
    store_attrs,
)
from promethium.errors import ConfigError, DataError
from promethium.files import refuse_existing, replace_atomically
from promethium.ml.inference.streaming import INFER_OVERWRITE, publish

SEGY_SUFFIXES = (".sgy", ".segy")
OUTPUT_SUFFIXES = (".zarr", *SEGY_SUFFIXES, ".npy", ".mdio")
ATTR_KEYS = ("dt", "dx", "axis_names", "units")


@dataclass
class InferenceInput:
    """A lazily readable input: ``volume[...]`` reads blocks on demand."""

    path: Path | str  # a local path, or an fsspec URL (str) of a Zarr store
    volume: Any  # zarr.Array or np.memmap, time last
    attrs: dict[str, Any]
    store: Path | str | None  # the Zarr store holding it (SEG-Y inputs: the converted cache)

    @property
    def location(self) -> str:
        """The absolute path, or the URL, as text."""
        return self.path if isinstance(self.path, str) else str(self.path.resolve())

    def content_signature(self) -> str:
        """A cheap hash of the input's content: file names, sizes and modification times.

        A SEG-Y or ``.npy`` input is one file; a local Zarr store is every file under it
        (chunk keys, sizes, mtimes); a URL store is its listing as fsspec reports it. An
        input rewritten in place between a killed run and its rerun gets another
        signature, so its old progress is not mixed into the new output.
        """
        digest = hashlib.sha256()
        for entry in _listing(self.path):
            digest.update(repr(entry).encode())
        return digest.hexdigest()[:16]

    def trace_mask(self) -> np.ndarray | None:
        """The store's ``trace_mask`` (recorded traces), or ``None`` if it has none."""
        if self.store is None:
            return None
        group, _ = open_store(self.store)
        return np.asarray(group[TRACE_MASK][...], dtype=bool) if TRACE_MASK in group else None

    def header(self, name: str) -> np.ndarray:
        """A trace-header array ``headers/<name>`` of a SEG-Y-derived store."""
        if self.store is None:
            raise ConfigError.about(
                "mask.header", f"{self.path} has no trace headers (not SEG-Y/Zarr)"
            )
        group, _ = open_store(self.store)
        key = f"headers/{name}"
        if key not in group:
            known = sorted(group["headers"].array_keys()) if "headers" in group else []
            raise ConfigError.about(
                "mask.header",
                f"{self.store} has no header {name!r}; allowed: "
                f"{', '.join(known) or 'none (not a SEG-Y-derived store)'}",
            )
        return np.asarray(group[key][...])


def _listing(path: Path | str) -> list[tuple[str, int, Any]]:
    """``(name, size, mtime)`` of every file of ``path`` (a file, a folder or a URL)."""
    if is_url(path):
        import fsspec

        fs, root = fsspec.core.url_to_fs(str(path))
        found = fs.find(root, detail=True)
        return sorted(
            (name, int(info.get("size") or 0), str(info.get("mtime") or info.get("ETag") or ""))
            for name, info in found.items()
        )
    path = Path(path)
    if path.is_file():
        stat = path.stat()
        return [(path.name, stat.st_size, stat.st_mtime_ns)]
    entries = []
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            stat = os.stat(full)
            entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return sorted(entries)


def kind_of(path: str | os.PathLike) -> str:
    """``npy``, ``segy``, ``mdio`` or ``zarr`` by the file name (MDIO is Zarr too)."""
    suffix = Path(str(path).rstrip("/")).suffix.lower()
    if suffix in (".npy", ".mdio"):
        return suffix[1:]
    return "segy" if suffix in SEGY_SUFFIXES else "zarr"


def open_input(
    path: str | os.PathLike,
    cache_dir: str | os.PathLike,
    segy_sort: Sequence[str],
) -> InferenceInput:
    """Open ``path`` for lazy reads (SEG-Y is converted once into ``cache_dir``).

    Raises:
        DataError: naming the file if it is missing, unreadable or not float data.
    """
    if is_url(path):  # a Zarr store behind fsspec: read through zarr's store abstraction
        if kind_of(path) not in ("zarr", "mdio"):
            raise DataError(f"{path}: URL inputs must be Zarr stores (input=...)")
        return _store_input(str(path), str(path))
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such input (input=...)")
    kind = kind_of(path)
    if kind == "npy":
        try:
            volume = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as err:
            raise DataError(f"{path}: not a readable .npy array ({err})") from err
        if volume.dtype.kind != "f":
            raise DataError(f"{path}: dtype {volume.dtype}; allowed: floating point")
        attrs = store_attrs(
            dt=1.0,
            dx=[None] * (volume.ndim - 1),
            axis_names=[*(f"axis{i}" for i in range(volume.ndim - 1)), "time"],
            provenance={"source": str(path.resolve())},
        )
        attrs["units"]["dt"] = "sample"  # a bare array carries no sampling
        return InferenceInput(path, volume, attrs, None)
    store: Path = path
    if kind == "segy":
        try:
            store = SegyFile(str(path), list(segy_sort)).prepare(Path(cache_dir))
        except ConfigError as err:
            raise err.renamed("segy_sort") from None
    return _store_input(path, Path(store))


def _store_input(path: Path | str, store: Path | str) -> InferenceInput:
    """The ``data`` array of a Zarr store (local or URL) with the convention's attributes."""
    group, data = open_store(store)
    source = InferenceInput(path, data, {}, store)
    source.attrs = {k: v for k, v in dict(group.attrs).items() if k in ATTR_KEYS}
    source.attrs["provenance"] = {
        "source": source.location,
        "input_provenance": group.attrs["provenance"],
    }
    return source


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
    """Turn a complete work store into the requested output, atomically.

    Zarr outputs are moved into place; ``.npy`` and SEG-Y outputs are written to a
    temporary sibling and renamed (SEG-Y keeps the input's headers when it came from
    SEG-Y), then the work store is removed.
    """
    kind = kind_of(target)
    if kind == "zarr":
        publish(work, target, overwrite)
        return
    refuse_existing(target, overwrite, INFER_OVERWRITE)
    if kind == "mdio":
        _, data = open_store(work)
        write_like(source.path, data, target, tuple(data.chunks))
    elif kind == "segy":
        header_store = source.store if kind_of(source.path) == "segy" else None
        zarr_to_segy(
            work,
            target,
            overwrite=True,
            header_store=header_store,
            progress=False,
            fmt=fmt,
            fill=fill,
        )
    else:
        _, data = open_store(work)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}.npy")
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=data.shape)
            _copy_blocks(data, out)
            out.flush()
            del out
            replace_atomically(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)


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
    """Refuse an output whose suffix names no format we write.

    Raises:
        ConfigError: naming ``output`` and the allowed suffixes.
    """
    suffix = Path(str(target).rstrip("/")).suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ConfigError.about(
            "output",
            f"{target} has unknown output kind {suffix or '(no suffix)'!r}; allowed "
            f"suffixes: {', '.join(OUTPUT_SUFFIXES)}",
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


def _store_exists(url: str) -> bool:
    import zarr

    try:
        zarr.open_group(url, mode="r")
    except Exception:  # noqa: BLE001 - "not found" has several types across stores
        return False
    return True


__all__ = [
    "InferenceInput",
    "check_output",
    "check_output_kind",
    "export",
    "kind_of",
    "open_input",
    "staging_path",
    "upload",
]
