"""Stage 1, the patch source: each planned region's input halo read into a work item.

Reader threads read ahead of the network (``infer.num_workers``); every block is checked
finite, and the window sum of the region's layout comes with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from promethium.data.inputs import NAN_POLICY, absent_traces
from promethium.errors import DataError
from promethium.inference.work import RegionWork, Volume, as_block
from promethium.tiling import Region, TileGrid


class PatchSource:
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
            block = self._without_absent_traces(block, region.lead + halo)
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

    def _without_absent_traces(self, block: Any, where: tuple) -> Any:
        """``block`` with absent traces (NaN at every sample) zeroed; other NaN refused.

        Raises:
            DataError: naming the input, the block and the policy.
        """
        values = block if isinstance(block, np.ndarray) else block.cpu().numpy()
        try:
            absent = absent_traces(values, self.source_name)
        except DataError:
            raise DataError(
                f"{self.source_name}: NaN or inf values in the input block {where}; "
                f"{NAN_POLICY}: fix those samples or mark the traces dead (infer.mask.traces, "
                "infer.mask.header)"
            ) from None
        if isinstance(block, np.ndarray):
            return np.where(absent[..., None], np.float32(0), block)
        dead = torch.from_numpy(absent[..., None]).to(block.device)
        return block.masked_fill(dead, 0.0)

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
