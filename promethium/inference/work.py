"""Regions of the output and the work of predicting one: halo block, accumulator, count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from promethium.tiling import Region


class Volume(Protocol):
    """What the engine reads from: NumPy arrays, memory maps and Zarr arrays all fit."""

    shape: tuple[int, ...]

    def __getitem__(self, key: tuple[slice, ...]) -> Any: ...


@dataclass
class RegionWork:
    """A region being predicted: its halo block, accumulator and outstanding patches."""

    region: Region
    halo: tuple[slice, ...]
    block: Any  # (L, *halo_shape) float32: np.ndarray on CPU, torch.Tensor on an accelerator
    slices: list[tuple[slice, ...]]
    weight_sum: Any  # (*halo_shape) float64, same kind and device as ``block``
    acc: Any = field(init=False)
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        # float64 sums: with deep overlaps (up to 64 patches per sample in 3D) float32
        # accumulation drifts past 1e-6 relative; the identity must stay exact.
        if isinstance(self.block, np.ndarray):
            self.acc = np.zeros(self.block.shape, dtype=np.float64)
        else:
            self.acc = torch.zeros(self.block.shape, dtype=torch.float64, device=self.block.device)
        self.remaining = self.block.shape[0] * len(self.slices)

    def finish(self, to_host: bool = True) -> np.ndarray | torch.Tensor:
        """Normalise by the window sum and crop the halo to the region's box.

        Returns float32 values shaped ``(*lead_box, *box)``: a NumPy array, or with
        ``to_host=False`` a tensor left on the accelerator the work was blended on.
        """
        self.acc /= self.weight_sum
        inner = tuple(
            slice(b.start - h.start, b.stop - h.start)
            for b, h in zip(self.region.box, self.halo, strict=True)
        )
        lead_shape = tuple(s.stop - s.start for s in self.region.lead)
        out = self.acc[(slice(None), *inner)]
        if isinstance(out, np.ndarray):
            out = out.astype(np.float32)
        else:
            out = out.float() if not to_host else out.float().cpu().numpy()
        self.block = self.acc = None  # free device memory before the sink runs
        return out.reshape(lead_shape + out.shape[1:])


def as_block(raw: Any, device: torch.device | None) -> np.ndarray | torch.Tensor:
    """A float32 block read from the volume, for host blending or for ``device``.

    NumPy for host blending (``device=None``), else a tensor on ``device``; blocks of a
    tensor volume already there are not copied.
    """
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().float()
        return raw.cpu().numpy() if device is None else raw.to(device)
    block = np.asarray(raw, dtype=np.float32)
    return block if device is None else torch.from_numpy(block).to(device)
