"""Lightning data module: a store source, a region split and three patch datasets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader, Sampler

from promethium.data.dataset import (
    EpochKeySampler,
    Region,
    SeismicDataset,
    ShardSampler,
    make_regions,
)
from promethium.data.store import is_url, open_store
from promethium.data.transforms import (
    Augmentation,
    Corruption,
    bind_store_sampling,
    make_corruption,
)
from promethium.errors import ConfigError

log = logging.getLogger(__name__)


class StoreSource(Protocol):
    """Anything that can provide a Promethium Zarr store path (cached or existing)."""

    def prepare(self, cache_dir: str | Path) -> Path: ...


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


def split_regions(
    regions: Sequence[Region], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[Region], list[Region], list[Region]]:
    """Shuffle whole regions with ``seed`` and split them into train / val / test."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"data.{key}: got {value!r}; allowed: a fraction in [0, 1)")
    n = len(regions)
    n_val = max(int(round(val_fraction * n)), 1 if val_fraction > 0 else 0)
    n_test = max(int(round(test_fraction * n)), 1 if test_fraction > 0 else 0)
    if n - n_val - n_test < 1:
        raise ConfigError(
            f"data.val_fraction/test_fraction: {n} regions (gathers or blocks) cannot give "
            f"{n_val} validation and {n_test} test regions and still leave one for training"
        )
    order = np.random.default_rng(seed).permutation(n)
    pick = [regions[i] for i in order]
    return pick[n_val + n_test :], pick[:n_val], pick[n_val : n_val + n_test]


def warn_if_patch_exceeds(
    patch_size: Sequence[int], shape: Sequence[int], attrs: dict[str, Any], path: Any
) -> None:
    """Warn (once per data set) where a patch is larger than the data: zero padding trains."""
    trailing = shape[len(shape) - len(patch_size) :]
    names = list(attrs.get("axis_names") or [])[len(shape) - len(patch_size) :]
    names = names if len(names) == len(trailing) else [f"axis {i}" for i in range(len(trailing))]
    over = [
        f"{name} {p} > {n}" for name, p, n in zip(names, patch_size, trailing, strict=True) if p > n
    ]
    if over:
        log.warning(
            "data.patch_size %s is larger than the data of %s (%s): patches are zero-padded "
            "there, so the network trains partly on padding; choose a smaller patch",
            list(patch_size),
            path,
            ", ".join(over),
        )


class SeismicDataModule(pl.LightningDataModule):
    """Train/val/test patch loaders over one store.

    Args:
        source: provides the store (e.g. ``SyntheticGathers``); ``None`` reads ``path``.
        patch_size: patch extent along the trailing axes (time last).
        batch_size: patches per batch.
        num_workers: loader worker processes.
        persistent_workers: keep workers alive between epochs (needs ``num_workers > 0``).
        samples_per_epoch: random training patches per epoch.
        val_fraction: share of regions held out for validation.
        test_fraction: share of regions held out for the final test.
        val_stride: grid stride for validation/test windows (default: ``patch_size``).
        corruption: turns a clean patch into the network input (task-specific); a list
            is applied in order (:class:`CorruptionChain`).
        augment: clean-patch augmentation applied to training samples.
        cache_dir: where generated or converted stores are cached.
        seed: seed of the split, the sample keys and the validation corruptions.
        pin_memory: pin host memory for faster host-to-GPU copies.

    """

    def __init__(
        self,
        source: StoreSource | None,
        patch_size: Sequence[int],
        batch_size: int = 16,
        num_workers: int = 0,
        persistent_workers: bool = False,
        samples_per_epoch: int = 1024,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        val_stride: Sequence[int] | None = None,
        corruption: Corruption | Sequence[Corruption] | None = None,
        augment: Augmentation | None = None,
        cache_dir: str | Path = "outputs/cache",
        seed: int = 0,
        pin_memory: bool = False,
        aux_arrays: Sequence[str] = (),
        path: str | None = None,
    ) -> None:
        super().__init__()
        if source is None:
            source = ZarrSource(path or "")
        for key, value in (("batch_size", batch_size), ("samples_per_epoch", samples_per_epoch)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{key}: got {value!r}; allowed: a positive integer")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError(f"data.num_workers: got {num_workers!r}; allowed: an integer >= 0")
        self.source, self.patch_size = source, list(patch_size)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.persistent_workers = persistent_workers and num_workers > 0
        self.samples_per_epoch, self.val_stride = samples_per_epoch, val_stride
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.corruption, self.augment = make_corruption(corruption), augment
        self.cache_dir, self.seed, self.pin_memory = Path(cache_dir), int(seed), pin_memory
        self.aux_arrays = list(aux_arrays)
        self.path: Path | None = None
        self.store_attrs: dict = {}
        self.datasets: dict[str, SeismicDataset] = {}

    def _prepare(self) -> Any:
        try:
            return self.source.prepare(self.cache_dir)
        except ConfigError as err:  # a source parameter: name it by its key under data
            raise err.at("data.source") from None

    def prepare_data(self) -> None:
        """Generate or convert the store once (rank zero)."""
        self._prepare()

    def setup(self, stage: str | None = None) -> None:
        """Open the store, split its regions and build the datasets (every rank)."""
        if self.datasets:
            return
        self.path = self._prepare()
        group, array = open_store(self.path)
        self.store_attrs = dict(group.attrs)
        bind_store_sampling(self.corruption, self.store_attrs)  # e.g. CoherentNoise dt/dx null
        if len(self.patch_size) > array.ndim:
            raise ConfigError(
                f"data.patch_size: {len(self.patch_size)} axes but {self.path} has {array.ndim}"
            )
        warn_if_patch_exceeds(self.patch_size, array.shape, self.store_attrs, self.path)
        regions = make_regions(array.shape, len(self.patch_size))
        train, val, test = split_regions(regions, self.val_fraction, self.test_fraction, self.seed)
        common = dict(
            path=self.path,
            patch_size=self.patch_size,
            corruption=self.corruption,
            aux_arrays=self.aux_arrays,
        )
        self.datasets = {
            "train": SeismicDataset(
                regions=train,
                mode="random",
                num_samples=self.samples_per_epoch,
                augment=self.augment,
                seed=self.seed,
                **common,
            ),
            "val": SeismicDataset(
                regions=val, mode="grid", stride=self.val_stride, seed=self.seed, **common
            ),
            "test": SeismicDataset(
                regions=test or val,
                mode="grid",
                stride=self.val_stride,
                seed=self.seed + 1,
                **common,
            ),
        }
        log.info(
            "Data %s: %d train, %d val, %d test regions; %d val / %d test windows",
            self.path,
            len(train),
            len(val),
            len(test),
            len(self.datasets["val"]),
            len(self.datasets["test"]),
        )

    def _ranks(self) -> tuple[int, int]:
        """``(rank, world size)`` of the attached trainer (``(0, 1)`` without one)."""
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader(self, split: str, sampler: Sampler | None = None) -> DataLoader:
        rank, world = self._ranks()
        if sampler is None and world > 1:
            sampler = ShardSampler(len(self.datasets[split]), rank, world)
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
            pin_memory=self.pin_memory,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        """Random patches; sample keys from :class:`EpochKeySampler` seeded by epoch.

        Under data parallelism (DDP) every rank takes its own share of the keys and of the
        validation/test windows (the trainer's ``use_distributed_sampler`` is off:
        Lightning's wrapper would not pass the epoch on to the key sampler).
        """
        rank, world = self._ranks()
        return self._loader(
            "train", EpochKeySampler(self.samples_per_epoch, self.seed, rank, world)
        )

    def val_dataloader(self) -> DataLoader:
        """Deterministic validation windows."""
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        """Deterministic test windows (validation windows if no test regions were held out)."""
        return self._loader("test")
