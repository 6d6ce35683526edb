"""Generated data sources written once into a Zarr cache keyed by their configuration."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from promethium.data.store import write_store
from promethium.errors import DataError

log = logging.getLogger(__name__)

#: what :meth:`CachedStoreSource.build` returns: data, attributes, chunks, extra arrays
StoreContent = tuple[np.ndarray, dict[str, Any], tuple[int, ...], dict[str, np.ndarray]]


def build_once(path: Path, build: Callable[[Path], object], what: str) -> Path:
    """The cached store at ``path``, built by ``build(path)`` unless it exists.

    ``build`` writes the store atomically (a temporary sibling renamed into place, as
    :func:`promethium.data.store.write_store` does), so a store at ``path`` is always
    complete. Two processes building the same cache race harmlessly: the one that
    loses finds the winner's store (identical, by its key) and uses it.

    Raises:
        DataError: the build's own error, unless another process's store is now there.
    """
    if path.exists():
        log.info("Reusing cached %s store %s", what, path)
        return path
    log.info("Building %s into %s", what, path)
    try:
        build(path)
    except DataError:
        if not path.exists():  # not a lost race with another process building the same
            raise
    return path


class CachedStoreSource:
    """Base of dataclass sources that generate a store: ``prepare`` builds it once.

    Subclasses are dataclasses that set ``kind`` and implement :meth:`build`; the cache
    folder name is ``<kind>_<hash of the fields>.zarr``, so any setting change makes a
    new store and reruns with the same settings reuse it.
    """

    kind = "store"

    def cache_key(self) -> str:
        """A short hash of the configuration (the cache folder name)."""
        fields = asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses
        payload = json.dumps({"kind": self.kind, **fields}, sort_keys=True, default=list)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def prepare(self, cache_dir: str | Path) -> Path:
        """Build and write the store unless an identical one is cached; return its path."""
        path = Path(cache_dir) / f"{self.kind}_{self.cache_key()}.zarr"

        def generate(target: Path) -> None:
            data, attrs, chunks, extra = self.build()
            # uncompressed: generated caches are read hot by training (see write_store)
            write_store(target, data, attrs, chunks=chunks, extra_arrays=extra, compress=False)

        return build_once(path, generate, self.kind)

    def build(self) -> StoreContent:
        """Generate the store content (subclasses)."""
        raise NotImplementedError
