"""Generated data sources written once into a Zarr cache keyed by their configuration."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from promethium.data.store import write_store
from promethium.errors import DataError

log = logging.getLogger(__name__)

#: what :meth:`CachedStoreSource.build` returns: data, attributes, chunks, extra arrays
StoreContent = tuple[np.ndarray, dict[str, Any], tuple[int, ...], dict[str, np.ndarray]]


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
        if path.exists():
            log.info("Reusing cached %s store %s", self.kind, path)
            return path
        log.info("Generating %s into %s", self.kind, path)
        data, attrs, chunks, extra = self.build()
        try:
            # uncompressed: generated caches are read hot by training (see write_store)
            write_store(path, data, attrs, chunks=chunks, extra_arrays=extra, compress=False)
        except DataError:
            if not path.exists():  # not a lost race with another process writing the same cache
                raise
        return path

    def build(self) -> StoreContent:
        """Generate the store content (subclasses)."""
        raise NotImplementedError
