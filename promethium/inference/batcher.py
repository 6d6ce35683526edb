"""Stage 2, the batcher: patches of the regions' blocks stacked into network batches.

On the host (CPU) patches are sliced from NumPy blocks (:func:`stack_host`); on an
accelerator a batch is one gather from the region's block (:class:`GatherScatter`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from promethium.inference.work import RegionWork


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
