"""Inputs of inference and evaluation, opened for lazy block reads.

Zarr stores (local or URL), SEG-Y files (converted once into the cache) and ``.npy``
arrays, with the data convention's attributes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from promethium.data.segy import SegyFile
from promethium.data.store import TRACE_MASK, is_url, open_store, store_attrs
from promethium.errors import ConfigError, DataError

SEGY_SUFFIXES = (".sgy", ".segy")
ATTR_KEYS = ("dt", "dx", "axis_names", "units")


@dataclass
class InferenceInput:
    """A lazily readable input: ``volume[...]`` reads blocks on demand."""

    path: Path | str  # a local path, or an fsspec URL (str) of a Zarr store
    volume: Any  # zarr.Array or np.memmap, time last
    attrs: dict[str, Any]
    store: Path | str | None  # the Zarr store holding it (SEG-Y inputs: the converted cache)
    group: Any = None  # that store's group, opened (and validated) once

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
        if self.group is None:
            return None
        group = self.group
        return np.asarray(group[TRACE_MASK][...], dtype=bool) if TRACE_MASK in group else None

    def header(self, name: str) -> np.ndarray:
        """A trace-header array ``headers/<name>`` of a SEG-Y-derived store."""
        if self.group is None:
            raise ConfigError.about(
                "mask.header", f"{self.path} has no trace headers (not SEG-Y/Zarr)"
            )
        group = self.group
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
    source = InferenceInput(path, data, {}, store, group)
    source.attrs = {k: v for k, v in dict(group.attrs).items() if k in ATTR_KEYS}
    source.attrs["provenance"] = {
        "source": source.location,
        "input_provenance": group.attrs["provenance"],
    }
    return source


#: the README's NaN policy, quoted by every refusal
NAN_POLICY = (
    "NaN or inf is allowed only in dead traces (trace_mask, infer.mask, SEG-Y dead code) "
    "and in absent traces that are NaN at every sample (MDIO's fill)"
)


def absent_traces(values: np.ndarray, name: str, dead: np.ndarray | None = None) -> np.ndarray:
    """The traces of ``values`` (``(..., time)``) that are absent: NaN at every sample.

    The one NaN policy of every entry point (``task=infer``, ``task=evaluate``,
    ``api.infer``): a trace marked ``dead`` may hold anything; a trace NaN at every sample
    is absent, as MDIO fills traces the survey does not have, and is treated as dead;
    any other NaN or infinite sample is refused.

    Args:
        values: the samples, time last.
        name: how the message names the input (a path, or ``api.infer input``).
        dead: traces already known dead (``True``), shape ``values.shape[:-1]``.

    Returns:
        ``(...)`` boolean: ``True`` where a trace is absent.

    Raises:
        DataError: naming ``name`` and the first bad ``(trace index, sample)``.
    """
    finite = np.isfinite(values)
    absent = np.isnan(values).all(axis=-1)
    bad = ~finite & ~absent[..., None]
    if dead is not None:
        bad &= ~np.asarray(dead, dtype=bool)[..., None]
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{name}: NaN or inf at index {where} (trace {where[:-1]}, sample {where[-1]}) "
            f"of a recorded trace; {NAN_POLICY}: fix those samples or mark the trace dead"
        )
    return absent


__all__ = [
    "NAN_POLICY",
    "SEGY_SUFFIXES",
    "InferenceInput",
    "absent_traces",
    "kind_of",
    "open_input",
]
