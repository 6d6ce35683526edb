"""Stage 4, the blender: window-weighted predictions summed per region.

Each finished region goes to the sink (an in-memory array, or the output store's
chunks).

On the host the sum is NumPy slicing; on an accelerator one scatter-add per region and
batch (the flat index :class:`promethium.inference.batcher.GatherScatter` made).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from promethium.tiling import Region


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
