"""Data sources: anything that provides a Promethium Zarr store (existing, or made once)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from promethium.data.cache import build_once
from promethium.data.store import (
    DATA_ARRAY,
    LEGACY_DATA_ARRAY,
    TRACE_MASK,
    is_url,
    open_store,
    write_store,
)
from promethium.errors import ConfigError


class StoreSource(Protocol):
    """Anything that can provide a Promethium Zarr store path (cached or existing)."""

    def prepare(self, cache_dir: str | Path) -> Path | str: ...


@dataclass
class ZarrSource:
    """An existing store: a local path or an fsspec URL (``data=zarr data.path=...``).

    URLs (``s3://``, ``gs://``, ``memory://``, ``file://``) go through zarr's
    ``FsspecStore``; S3 and GCS need ``s3fs`` / ``gcsfs`` installed.
    """

    path: str

    def prepare(self, cache_dir: str | Path) -> Path | str:
        """Validate the store and return its path or fsspec URL (``cache_dir`` is unused)."""
        if not self.path:
            raise ConfigError.about("path", "no Zarr store given; set it to /path/to/store.zarr")
        open_store(self.path)
        return self.path if is_url(self.path) else Path(self.path)


@dataclass
class CorruptedRecord:
    """Another source's store as a field survey would record it: corrupted once, for good.

    For testing self-supervised training where the truth is known: each gather of the
    source is corrupted once with a fixed seed (e.g. ``MissingTraces``: traces absent
    from the record; ``AdditiveNoise``: noise in the record) and stored; traces that the
    corruption removed whole are ``False`` in the derived store's ``trace_mask``. The
    copy is cached beside the source's store, keyed by it and these settings.

    Args:
        source: the complete data (any source with ``prepare``).
        corruption: what the recording did (one corruption or a list, as
            the ``corruption`` group's).
        seed: the draw's seed.
        domain: ``(values, attrs) -> factors``, multipliers broadcastable to the data
            into the domain the corruption is defined in (the amplitude contract's trace
            stage, as training corruptions see it); the record is divided back. None:
            the store's own units.
    """

    source: Any
    corruption: Any
    seed: int = 0
    domain: Callable[[np.ndarray, dict[str, Any]], np.ndarray] | None = None

    def prepare(self, cache_dir: str | Path) -> Path | str:
        """Build the corrupted copy once and return its path."""
        inner = Path(self.source.prepare(cache_dir))
        described = describe(self.corruption)
        key = hashlib.sha256(f"{inner.resolve()}|{described}|{self.seed}|{self.domain}".encode())
        target = Path(cache_dir) / f"{inner.stem}_record_{key.hexdigest()[:12]}.zarr"
        return build_once(
            target, lambda path: self._record(inner, path, described), "a recorded copy"
        )

    def _record(self, inner: Path, target: Path, described: str) -> None:
        """Write the corrupted copy of the store ``inner`` to ``target``."""
        from promethium.data.transforms import bind_store_sampling, make_corruption

        group, data = open_store(inner)
        corruption = make_corruption(self.corruption)
        if corruption is None:
            raise ConfigError.for_parameter("record", self.corruption, "a corruption or a list")
        bind_store_sampling(corruption, dict(group.attrs))
        rng = np.random.default_rng(self.seed)
        values = np.asarray(data[...], dtype=np.float32)
        factors = self.domain(values, dict(group.attrs)) if self.domain is not None else None
        if factors is not None:
            values = (values * factors).astype(np.float32)
        live = np.ones(values.shape[:-1], dtype=bool)
        for g in range(values.shape[0]):
            values[g], mask = corruption(values[g], rng)
            live[g] = np.broadcast_to(mask, values[g].shape).max(axis=-1) > 0
        if factors is not None:
            values = (values / factors).astype(np.float32)
        attrs = dict(group.attrs)
        attrs["provenance"] = {
            "derived_from": str(inner),
            "recorded_with": described,
            "seed": self.seed,
            "source_provenance": attrs.get("provenance"),
        }
        extra = {TRACE_MASK: live}
        for name, array in group.arrays():
            if name not in (DATA_ARRAY, LEGACY_DATA_ARRAY, TRACE_MASK):
                extra[name] = np.asarray(array[...])
        write_store(target, values, attrs, extra_arrays=extra, compress=False)


def describe(corruption: Any) -> str:
    """A stable text of a corruption (or list of them): class names and settings."""
    if isinstance(corruption, list | tuple):
        return "[" + ", ".join(describe(c) for c in corruption) + "]"
    settings = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(corruption).items()))
    return f"{type(corruption).__name__}({settings})"
