"""Data sources: anything that provides a Promethium Zarr store (existing, or made once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from promethium.data.store import is_url, open_store
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
            raise ConfigError("data.path: no Zarr store given; set data.path=/path/to/store.zarr")
        open_store(self.path)
        return self.path if is_url(self.path) else Path(self.path)
