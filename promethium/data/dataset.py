"""Lazy patch datasets over Zarr stores.

Patches are read straight from Zarr chunks: the dataset holds only the store path and
opens its own handle in each worker process, so ``num_workers > 0`` and persistent
workers need no shared state and the array is never loaded whole.

A store's ``data`` array ``(*leading, *patch_axes)`` is cut into *regions*: one per
index of the leading axes (e.g. one per gather) or, when there are no leading axes,
blocks along the first patch axis. Train/validation/test splits assign whole regions,
so no patch of one split overlaps another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import zarr
from torch.utils.data import Dataset, Sampler, get_worker_info

from promethium.data.chunk_reader import Box, box_reader
from promethium.data.store import TRACE_MASK, data_array, open_store
from promethium.data.transforms import Augmentation, Corruption
from promethium.errors import ConfigError, DataError
from promethium.tiling import Region, axis_starts

SAMPLING_MODES = ("random", "grid")


def make_regions(shape: Sequence[int], patch_ndim: int, block: int | None = None) -> list[Region]:
    """Split an array shape into regions (see module docstring).

    Args:
        shape: full array shape, time last.
        patch_ndim: number of trailing axes a patch spans.
        block: block length along the first patch axis when there are no leading axes.

    """
    lead_shape, patch_shape = tuple(shape[: len(shape) - patch_ndim]), tuple(shape[-patch_ndim:])
    if lead_shape:
        return [
            Region.from_bounds(tuple(int(i) for i in idx), (0,) * patch_ndim, patch_shape)
            for idx in np.ndindex(*lead_shape)
        ]
    block = block or patch_shape[0]
    starts = range(0, patch_shape[0], block)
    return [
        Region.from_bounds(
            (), (s, *[0] * (patch_ndim - 1)), (min(s + block, patch_shape[0]), *patch_shape[1:])
        )
        for s in starts
    ]


class EpochKeySampler(Sampler[int]):
    """Yields ``num_samples`` random 63-bit sample keys per epoch, seeded by (seed, epoch).

    Lightning calls :meth:`set_epoch` each epoch, so a resumed run sees the same keys as
    an uninterrupted one; each key fully determines a patch and its random transforms.

    Under data parallelism rank ``r`` of ``n`` yields keys ``r, r + n, r + 2n, ...`` of
    the same epoch list: no key is drawn twice, and with a per-rank batch of ``b`` the
    ranks' ``k``-th batches together hold exactly the ``k``-th global batch of ``n * b``
    keys that one process would draw.
    """

    def __init__(
        self, num_samples: int, seed: int = 0, rank: int = 0, num_replicas: int = 1
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.num_samples, self.seed, self.epoch = int(num_samples), int(seed), 0
        self.rank, self.num_replicas = int(rank), int(num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose keys :meth:`__iter__` yields."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        keys = rng.integers(0, 2**63 - 1, self.num_samples)
        return iter(keys[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return len(range(self.rank, self.num_samples, self.num_replicas))


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + n, ...`` of a fixed-length dataset (validation/test windows).

    Unlike torch's ``DistributedSampler`` it never pads with repeated windows, so metrics
    summed over ranks count every window exactly once.
    """

    def __init__(self, length: int, rank: int = 0, num_replicas: int = 1) -> None:
        self.indices = range(int(rank), int(length), int(num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SeismicDataset(Dataset):
    """Patches of a Promethium Zarr store, read lazily, augmented and corrupted on the fly.

    In ``random`` mode an index is a sample key (see :class:`EpochKeySampler`; any int
    works) that selects a region, a patch position inside it and the random draws of the
    transforms. In ``grid`` mode index ``i`` is the ``i``-th window of a deterministic
    tiling of the regions (last window flush with the border) and corruptions use a
    fixed per-index seed, so validation sees the same inputs every epoch.

    Each sample is a dict of float32 tensors shaped ``(1, *patch_size)``: ``input``
    (corrupted), ``target`` (clean) and ``mask`` (1 observed, 0 removed).

    Args:
        path: store path (validated against the convention).
        patch_size: patch extent along the trailing axes (1, 2 or 3 values, time last).
        regions: regions to draw from (default: the whole array).
        mode: ``random`` or ``grid``.
        num_samples: length in ``random`` mode.
        stride: grid stride per axis (default: ``patch_size``, no overlap).
        augment: clean-to-clean transform (``random`` mode only).
        corruption: clean-to-``(input, mask)`` transform; identity if ``None``.
        seed: base seed for ``grid``-mode corruptions.
        aux_arrays: extra store arrays delivered with each patch (e.g. ``velocity``).
        trace_stage: ``(patch, gather, t0) -> patch`` applied to each clean patch as it is
            read (the amplitude contract's trace stage: ``gather`` is the first-axis
            index, ``None`` without leading axes; ``t0`` the first time sample).

    """

    def __init__(
        self,
        path: str | os.PathLike,
        patch_size: Sequence[int],
        regions: Sequence[Region] | None = None,
        mode: str = "random",
        num_samples: int = 1024,
        stride: Sequence[int] | None = None,
        augment: Augmentation | None = None,
        corruption: Corruption | None = None,
        seed: int = 0,
        aux_arrays: Sequence[str] = (),
        trace_stage: Callable[[np.ndarray, int | None, int], np.ndarray] | None = None,
    ) -> None:
        if mode not in SAMPLING_MODES:
            raise ConfigError.for_parameter("mode", mode, ", ".join(SAMPLING_MODES))
        group, array = open_store(path)
        self.patch_size = tuple(int(p) for p in patch_size)
        if not 1 <= len(self.patch_size) <= min(3, array.ndim) or min(self.patch_size) < 1:
            raise ConfigError.for_parameter(
                "patch_size",
                list(patch_size),
                f"1 to {min(3, array.ndim)} positive sizes for the trailing axes of {path} "
                f"(shape {array.shape})",
            )
        self.path, self.mode, self.seed = str(path), mode, int(seed)
        self.shape = tuple(array.shape)
        self.regions = (
            list(regions) if regions is not None else make_regions(self.shape, len(self.patch_size))
        )
        self.num_samples = int(num_samples)
        self.augment, self.corruption, self.trace_stage = augment, corruption, trace_stage
        self.windows = (
            self._grid(tuple(stride) if stride else self.patch_size) if mode == "grid" else []
        )
        self.aux_arrays = list(aux_arrays)
        for name in self.aux_arrays:
            if name not in group:
                raise DataError(
                    f"{path}: array {name!r} (data.aux_arrays) is missing from the store"
                )
        self._array: zarr.Array | None = None
        self._group: zarr.Group | None = None
        self._read_box: Callable[[Box], np.ndarray] | None = None
        self._trace_mask: Any = None  # np.ndarray, False (store has none) or None (unread)

    def _grid(self, stride: tuple[int, ...]) -> list[tuple[Region, tuple[int, ...]]]:
        windows = []
        for region in self.regions:
            axes = [
                lo + axis_starts(hi - lo, min(p, hi - lo), p - s)
                for lo, hi, p, s in zip(region.lo, region.hi, self.patch_size, stride, strict=True)
            ]
            windows += [
                (region, tuple(int(v) for v in start))
                for start in np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
            ]
        return windows

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # each worker process opens its own handles
        state["_array"] = state["_group"] = state["_read_box"] = state["_trace_mask"] = None
        return state

    @property
    def group(self) -> zarr.Group:
        """This process's lazy handle on the store (opened on first use in each worker)."""
        if self._group is None:
            if get_worker_info() is not None:
                # A loader worker is one of several processes sharing the cores; zarr's
                # default thread pool per read costs more than it gains there
                # (scripts/bench_data.py; docs/benchmarks.md).
                zarr.config.set({"threading.max_workers": 1})
            self._group = open_store(self.path)[0]  # a Promethium store or an MDIO dataset
        return self._group

    @property
    def array(self) -> zarr.Array:
        """This process's lazy handle on the store's ``data`` array."""
        if self._array is None:
            self._array = data_array(self.group)
        return self._array

    @property
    def read_box(self) -> Callable[[Box], np.ndarray]:
        """This process's reader of ``data[box]`` (see :mod:`promethium.data.chunk_reader`)."""
        if self._read_box is None:
            self._read_box = box_reader(self.array)
        return self._read_box

    def __len__(self) -> int:
        return len(self.windows) if self.mode == "grid" else self.num_samples

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.mode == "grid":
            region, start = self.windows[index]
            rng = np.random.default_rng([self.seed, 0x5EED, index])
        else:
            rng = np.random.default_rng(int(index) & (2**63 - 1))
            region = self.regions[int(rng.integers(len(self.regions)))]
            start = tuple(
                int(rng.integers(lo, max(hi - p, lo) + 1))
                for lo, hi, p in zip(region.lo, region.hi, self.patch_size, strict=True)
            )
        live = self.read_live(region, start)
        clean = self.read_patch(region, start, live)  # dead traces are no data
        if self.trace_stage is not None:
            clean = self.trace_stage(clean, region.lead[0] if region.lead else None, start[-1])
        if self.mode == "random" and self.augment is not None:
            clean = self.augment(clean, rng)
        noisy, mask = (
            self.corruption(clean, rng) if self.corruption else (clean, np.ones_like(clean))
        )
        sample = {
            name: torch.from_numpy(np.array(np.broadcast_to(a, clean.shape), np.float32))[None]
            for name, a in (("input", noisy), ("target", clean), ("mask", mask))
        }
        sample["live"] = torch.from_numpy(live)[None]
        for name in self.aux_arrays:
            sample[name] = torch.from_numpy(self.read_aux(name, region, start))[None]
        return sample

    @property
    def trace_mask(self) -> np.ndarray | None:
        """The store's recorded traces (``trace_mask``), read once per process; or None."""
        if self._trace_mask is None:
            found = TRACE_MASK in self.group
            self._trace_mask = np.asarray(self.group[TRACE_MASK][...]) if found else False
        return None if self._trace_mask is False else self._trace_mask

    def read_live(self, region: Region, start: Sequence[int]) -> np.ndarray:
        """1 where the patch window holds a recorded trace, ``(*patch[:-1], 1)``.

        Dead and absent traces (``trace_mask`` False) and the zero padding beyond the
        data are 0: they are never a training target (``DataLoss`` weights by this).
        """
        size = self.patch_size[:-1]
        stop = [min(s + p, hi) for s, p, hi in zip(start, size, region.hi, strict=False)]
        live = np.zeros((*size, 1), np.float32)
        inside = tuple(slice(0, b - a) for a, b in zip(start, stop, strict=False))
        mask = self.trace_mask
        if mask is None:
            live[inside] = 1.0
        else:
            window = tuple(slice(a, b) for a, b in zip(start, stop, strict=False))
            live[inside] = mask[(*region.lead, *window)][..., None]
        return live

    def read_aux(self, name: str, region: Region, start: Sequence[int]) -> np.ndarray:
        """Read an auxiliary array over the patch window minus time (edge-padded)."""
        aux = self.group[name]
        size = self.patch_size[:-1]
        lead = region.lead if aux.ndim == len(self.shape) - 1 else ()
        stop = [min(s + p, hi) for s, p, hi in zip(start, size, region.hi, strict=False)]
        window = tuple(slice(a, b) for a, b in zip(start, stop, strict=False))
        values = np.asarray(aux[(*lead, *window)], dtype=np.float32)
        if values.shape != size:
            values = np.pad(
                values, [(0, p - n) for p, n in zip(size, values.shape, strict=True)], mode="edge"
            )
        return values

    def read_patch(
        self, region: Region, start: Sequence[int], live: np.ndarray | None = None
    ) -> np.ndarray:
        """Read one patch (zero-padded at the end where the region is smaller than it).

        With ``live`` (from :meth:`read_live`), dead and absent traces are zero whatever
        the store holds there (MDIO fills absent traces with NaN).
        """
        stop = [min(s + p, hi) for s, p, hi in zip(start, self.patch_size, region.hi, strict=True)]
        patch = np.asarray(
            self.read_box((*region.lead, *(slice(a, b) for a, b in zip(start, stop, strict=True)))),
            dtype=np.float32,
        )
        if patch.shape != self.patch_size:
            patch = np.pad(
                patch, [(0, p - n) for p, n in zip(self.patch_size, patch.shape, strict=True)]
            )
        if live is not None:
            patch = np.where(live > 0, patch, np.float32(0))
        if not np.isfinite(patch).all():
            raise DataError(self._bad_values_message(patch, region, start))
        return patch

    def _bad_values_message(self, patch: np.ndarray, region: Region, start: Sequence[int]) -> str:
        """Where the first NaN/inf of ``patch`` is in the store, by axis name and index."""
        bad = ~np.isfinite(patch)
        first = np.argwhere(bad)[0]
        index = [*region.lead, *(s + int(b) for s, b in zip(start, first, strict=True))]
        names = list(self.group.attrs.get("axis_names") or [])
        if len(names) != len(index):
            names = [f"axis {i}" for i in range(len(index))]
        names[-1] = "sample"
        where = ", ".join(f"{n} {i}" for n, i in zip(names, index, strict=True))
        return (
            f"{self.path}: NaN or inf value at {where} (index {tuple(index)}; {int(bad.sum())} "
            "such values in this patch); fix or remove them before training"
        )
