"""Lightning data module: a store source, a region split and three patch datasets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader, Sampler

from promethium.data.dataset import (
    EpochKeySampler,
    SeismicDataset,
    ShardSampler,
    make_regions,
)
from promethium.data.sources import CorruptedRecord, StoreSource, ZarrSource
from promethium.data.splits import Split, fit_patch_to_data, split_regions
from promethium.data.store import open_store
from promethium.data.transforms import (
    Augmentation,
    Corruption,
    bind_store_sampling,
    make_corruption,
)
from promethium.errors import ConfigError
from promethium.models.amplitude import (
    AmplitudeContract,
    TraceAmplitude,
    gather_sample,
    sample_interval,
)

log = logging.getLogger(__name__)


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
        seed: seed of the split, the sample keys and the validation corruptions;
            ``None`` (``seed: null``, an unseeded run) keeps those of seed 0.
        pin_memory: pin host memory for faster host-to-GPU copies.
        aux_arrays: extra store arrays delivered with each patch (e.g. ``velocity``).
        path: the store when ``source`` is ``None``.
        record: corruptions baked into the data once, as a survey records them (see
            :class:`~promethium.data.sources.CorruptedRecord`): to test self-supervised
            training on data whose truth is known.
        contract: the amplitude contract (``normalize``); its trace stage (``gain``,
            ``per: gather``) is applied to patches as they are read, before any
            corruption, so the network's inputs and targets are both gained and scaled.

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
        seed: int | None = 0,
        pin_memory: bool = False,
        aux_arrays: Sequence[str] = (),
        path: str | None = None,
        record: Corruption | Sequence[Corruption] | None = None,
        contract: AmplitudeContract | None = None,
    ) -> None:
        super().__init__()
        # seed: null leaves training unseeded, not the data's layout: the split and the
        # validation corruptions stay those of seed 0, so runs compare and resume alike
        seed = 0 if seed is None else int(seed)
        self.contract = contract
        self.source: StoreSource = ZarrSource(path or "") if source is None else source
        if record:  # the data as a survey would have recorded them (self-supervision tests)
            domain = ContractDomain(contract, len(patch_size)) if contract else None
            self.source = CorruptedRecord(self.source, record, seed=int(seed), domain=domain)
        for key, value in (("batch_size", batch_size), ("samples_per_epoch", samples_per_epoch)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError.for_parameter(key, value, "a positive integer")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError.for_parameter("num_workers", num_workers, "an integer >= 0")
        self.patch_size = list(patch_size)
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
        self.split: Split | None = None

    def _prepare(self) -> Any:
        return self.source.prepare(self.cache_dir)  # its errors name source parameters

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
            raise ConfigError.about(
                "patch_size", f"{len(self.patch_size)} axes but {self.path} has {array.ndim}"
            )
        self.patch_size = fit_patch_to_data(
            self.patch_size, array.shape, self.store_attrs, self.path
        )
        regions = make_regions(array.shape, len(self.patch_size))
        names = list(self.store_attrs.get("axis_names") or [])
        axis = names[array.ndim - len(self.patch_size)] if len(names) == array.ndim else "trace"
        self.split = split_regions(
            regions, self.val_fraction, self.test_fraction, self.seed, self.patch_size, axis
        )
        train, val, test = self.split.train, self.split.val, self.split.test
        common: dict[str, Any] = dict(
            path=self.path,
            patch_size=self.patch_size,
            corruption=self.corruption,
            aux_arrays=self.aux_arrays,
            trace_stage=self._trace_stage(array.ndim),
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
            "Data %s: held out %s; %d validation / %d test windows",
            self.path,
            self.split.held_out,
            len(self.datasets["val"]),
            len(self.datasets["test"]),
        )

    def _trace_stage(self, ndim: int) -> Any:
        """The contract's trace stage on training patches (gain, per-gather scale), or None."""
        if self.contract is None or not self.contract.trace_stage:
            return None
        stage = TraceAmplitude(
            self.contract,
            sample_interval(self.store_attrs),
            StoreGathers(str(self.path)),
            by_first_axis=ndim > len(self.patch_size),
        )
        return stage.on_patch

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


class ContractDomain:
    """The trace stage of a contract as whole-store multipliers (for ``data.record``).

    A recording's corruption is defined where training corruptions act: after the
    contract's gain and per-gather scale (0 dB of noise is 0 dB where the network looks).
    """

    def __init__(self, contract: AmplitudeContract, patch_ndim: int) -> None:
        self.contract, self.patch_ndim = contract, patch_ndim

    def __call__(self, values: np.ndarray, attrs: dict[str, Any]) -> np.ndarray | None:
        if not self.contract.trace_stage:
            return None
        stage = TraceAmplitude(
            self.contract,
            sample_interval(attrs),
            lambda gather: gather_sample(values, gather),
            by_first_axis=values.ndim > self.patch_ndim,
        )
        return stage.block_factors(tuple(slice(None) for _ in values.shape), values.shape)

    def __repr__(self) -> str:  # part of the recorded copy's cache key
        s = self.contract
        return f"ContractDomain(kind={s.kind}, per={s.per}, gain={s.gain}, ndim={self.patch_ndim})"


class StoreGathers:
    """Raw samples of one gather of a store (see ``gather_sample``); picklable for workers."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, gather: int | None) -> np.ndarray:
        return gather_sample(open_store(self.path)[1], gather)
