"""The engine's stages: read region halos, batch patches, blend predictions.

On the host (CPU) patches are sliced and blended in NumPy; on an accelerator a batch is
one gather from the region's block and one scatter-add into its accumulator
(:class:`GatherScatter`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from promethium.errors import DataError
from promethium.ml.inference.work import RegionWork, Volume, as_block
from promethium.tiling import Region, TileGrid


class HaloReader:
    """Reads each planned region's input halo into a :class:`RegionWork`.

    Checks the block is finite and keeps the window sum of the last region layout
    (regions of one run mostly repeat the same layout).
    """

    def __init__(
        self, volume: Volume, grid: TileGrid, device: torch.device | None, source_name: str
    ) -> None:
        self.volume, self.grid, self.device, self.source_name = volume, grid, device, source_name
        self.wsum_cache: dict[tuple, Any] = {}

    def __call__(self, item: tuple[Region, tuple[slice, ...], list]) -> RegionWork:
        region, halo, slices = item
        block = as_block(self.volume[(*region.lead, *halo)], self.device)
        block = block.reshape(-1, *block.shape[len(region.lead) :])
        on_host = self.device is None
        finite = np.isfinite(block).all() if on_host else bool(torch.isfinite(block).all())
        if not finite:
            raise DataError(
                f"{self.source_name}: NaN or inf values in the input block {region.lead + halo}"
            )
        key = (tuple(block.shape[1:]), tuple((s.start, s.stop) for sl in slices for s in sl))
        wsum = self.wsum_cache.get(key)
        if wsum is None:
            wsum = self.grid.weight_sum(block.shape[1:], slices)
            wsum = wsum if on_host else torch.from_numpy(wsum).to(self.device)
            self.wsum_cache.clear()  # (reader threads may race here: at worst a recompute)
            self.wsum_cache[key] = wsum
        if not on_host:
            block = block.contiguous()  # the gather indexes its flat storage
        return RegionWork(region, halo, block, slices, wsum)

    def works(
        self, planned: Sequence[tuple[Region, tuple[slice, ...], list]], num_workers: int
    ) -> Iterator[RegionWork]:
        """The regions' work in order, ``num_workers`` threads reading ahead (0: inline)."""
        if num_workers == 0:
            yield from map(self, planned)
            return
        with ThreadPoolExecutor(num_workers, thread_name_prefix="infer-read") as pool:
            ahead: deque[Future] = deque()
            for item in planned:
                ahead.append(pool.submit(self, item))
                if len(ahead) > num_workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()


def patch_batches(
    works: Iterable[RegionWork], batch_size: int, stack: Callable[[list], tuple[list, torch.Tensor]]
) -> Iterator[tuple[list, torch.Tensor]]:
    """``(payload, x)`` batches of patches; a batch may span regions."""
    jobs: list[tuple[RegionWork, int, tuple[slice, ...]]] = []
    for work in works:
        for lead in range(work.block.shape[0]):
            for sl in work.slices:
                jobs.append((work, lead, sl))
                if len(jobs) == batch_size:
                    yield stack(jobs)
                    jobs = []
    if jobs:
        yield stack(jobs)


class Blender:
    """Weights predictions by the window, accumulates them, and sinks finished regions.

    ``device=None`` blends in NumPy on the host; otherwise with one scatter-add per region
    and batch on ``device`` (see :class:`GatherScatter`).
    """

    def __init__(
        self,
        window: np.ndarray,
        device: torch.device | None,
        sink: Callable[[Region, Any], None],
        host_output: bool,
    ) -> None:
        self.window = window if device is None else torch.from_numpy(window).to(device)
        self.on_host, self.sink, self.host_output = device is None, sink, host_output

    def blend(self, payload: list, pred: np.ndarray | torch.Tensor) -> None:
        """Add one batch of predictions ``(B, *patch)`` to the regions it belongs to."""
        pred *= self.window  # one vectorised op per batch
        (self._host if self.on_host else self._device)(payload, pred)

    def _host(self, jobs: list, pred: np.ndarray) -> None:
        for (work, lead, sl), values in zip(jobs, pred, strict=True):
            work.acc[lead][sl] += values
            work.remaining -= 1
            if work.remaining == 0:
                self.sink(work.region, work.finish())

    def _device(self, groups: list, pred: torch.Tensor) -> None:
        flat, offset = pred.reshape(pred.shape[0], -1), 0
        for work, index, count in groups:
            values = flat[offset : offset + count].reshape(-1).double()
            work.acc.view(-1).index_add_(0, index.view(-1), values)
            offset += count
            work.remaining -= count
            if work.remaining == 0:
                self.sink(work.region, work.finish(self.host_output))


def stack_host(jobs: list[tuple[RegionWork, int, tuple[slice, ...]]]) -> tuple[list, torch.Tensor]:
    """Stack the jobs' patches (NumPy blocks) into a ``(B, 1, *patch)`` tensor."""
    return jobs, torch.from_numpy(np.stack([w.block[lead][sl] for w, lead, sl in jobs])[:, None])


class GatherScatter:
    """Patch extraction and blending on an accelerator as one gather / scatter per region.

    Per-patch slicing costs two kernel launches per patch; a flat index of every patch
    sample (``base offset + patch template``) turns a batch into one ``gather`` from the
    block and, after the forward pass, one ``index_add_`` into the accumulator.
    """

    def __init__(self, patch: tuple[int, ...], device: torch.device) -> None:
        self.patch, self.device = patch, device
        self.templates: dict[tuple[int, ...], torch.Tensor] = {}

    def template(self, strides: tuple[int, ...]) -> torch.Tensor:
        """Flat offsets of one patch's samples in a block with these spatial strides."""
        if strides not in self.templates:
            offsets = np.zeros((), dtype=np.int64)
            for n, stride in zip(self.patch, strides, strict=True):
                offsets = np.add.outer(offsets, np.arange(n, dtype=np.int64) * stride)
            self.templates[strides] = torch.from_numpy(offsets.ravel()).to(self.device)
        return self.templates[strides]

    def stack(
        self, jobs: list[tuple[RegionWork, int, tuple[slice, ...]]]
    ) -> tuple[list, torch.Tensor]:
        """``(groups, x)``: per region ``(work, flat index (b, P), b)``, and ``(B, 1, *patch)``."""
        groups, parts, start = [], [], 0
        for end in range(1, len(jobs) + 1):
            if end < len(jobs) and jobs[end][0] is jobs[start][0]:
                continue
            work = jobs[start][0]
            strides = work.block.stride()
            bases = torch.tensor(
                [
                    lead * strides[0]
                    + sum(s.start * st for s, st in zip(sl, strides[1:], strict=True))
                    for _, lead, sl in jobs[start:end]
                ],
                dtype=torch.int64,
            ).to(self.device, non_blocking=True)
            index = bases[:, None] + self.template(tuple(strides[1:]))[None]
            groups.append((work, index, end - start))
            parts.append(work.block.view(-1)[index])
            start = end
        x = parts[0] if len(parts) == 1 else torch.cat(parts)
        return groups, x.view(len(jobs), 1, *self.patch)
