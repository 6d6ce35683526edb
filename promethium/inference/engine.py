"""The tiled-prediction engine: regions in, blended predictions out, in overlapped stages.

The stages, in the order data flows (one module each):
    1. patch source (:mod:`~promethium.inference.source`): each region's input halo;
    2. batcher (:mod:`~promethium.inference.batcher`): patches stacked into batches;
    3. forward pass (here, :func:`predict_regions`, on the caller's thread);
    4. blender (:mod:`~promethium.inference.blender`): window-weighted sums per region;
    5. sink: an in-memory array (:mod:`~promethium.inference.predict`) or the output
       store's chunks (:mod:`~promethium.inference.streaming`), published as the output
       file by its suffix's writer (:mod:`~promethium.inference.writers`).

A *region* is a box of the output (for streaming: one output chunk; in memory: the
whole volume). For each region the engine reads the input halo that the patches
touching it need, predicts those patches in batches, blends them with the window and
divides by the window sum, and hands the finished region to a ``sink``. Three threads
overlap the work: a reader (halo reads and patch extraction, ``num_workers`` extra
threads reading halos ahead), the caller's thread (the network forward) and a blender
(accumulation, normalisation, the sink). Batches may span regions, so small regions
(single traces) still fill the batch.

Why our own instead of MONAI's ``sliding_window_inference``: it needs the whole volume
as one tensor in memory and has no notion of output chunks, so it cannot stream a
survey larger than memory or resume; it pads the whole volume, and blends on the
same thread as the forward pass (``scripts/bench_infer.py`` compares the two).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from promethium.errors import ConfigError
from promethium.inference.batcher import GatherScatter, patch_batches, stack_host
from promethium.inference.blender import Blender
from promethium.inference.pipeline import run_pipelined
from promethium.inference.source import PatchSource
from promethium.inference.work import RegionWork, Volume
from promethium.tiling import Region, TileGrid

PRECISIONS = {"32": None, "32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/``None`` picks CUDA when available, else the CPU.

    Under a launcher that sets ``LOCAL_RANK`` (torchrun, one shard per GPU), ``auto``
    takes GPU ``LOCAL_RANK`` (modulo the GPU count).
    """
    if device in (None, "auto"):
        if not torch.cuda.is_available():
            return torch.device("cpu")
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError.for_parameter("device", device, "auto, cpu, cuda, cuda:N") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError.about(
            "device", f"got {device!r} but CUDA is not available; use auto or cpu"
        )
    return resolved


def autocast_context(device: torch.device, precision: str) -> Any:
    """Autocast for ``*-mixed`` precisions, nothing for 32-bit."""
    if str(precision) not in PRECISIONS:
        raise ConfigError.for_parameter("precision", precision, ", ".join(PRECISIONS))
    dtype = PRECISIONS[str(precision)]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def plan(grid: TileGrid, regions: Iterable[Region]) -> list[tuple[Region, tuple[slice, ...], list]]:
    """Each region with its halo and patch slices (relative to the halo)."""
    planned = []
    for region in regions:
        halo, local = grid.halo(region.box)
        planned.append((region, halo, grid.patch_slices(local)))
    return planned


def count_patches(planned: Sequence[tuple[Region, tuple[slice, ...], list]]) -> int:
    """Patches the engine will predict for ``planned`` regions (leads x patches)."""
    return sum(
        int(np.prod([s.stop - s.start for s in r.lead], dtype=np.int64)) * len(sl)
        for r, _, sl in planned
    )


def predict_regions(
    model: nn.Module,
    volume: Volume,
    grid: TileGrid,
    planned: Sequence[tuple[Region, tuple[slice, ...], list]],
    sink: Callable[[Region, np.ndarray], None],
    batch_size: int = 8,
    device: torch.device | None = None,
    precision: str = "32",
    num_workers: int = 0,
    on_batch: Callable[[int], None] | None = None,
    source_name: str = "input",
    host_blending: bool | None = None,
    host_output: bool = True,
) -> None:
    """Predict every planned region and pass each finished one to ``sink``.

    Args:
        model: network taking ``(B, 1, *patch)`` and returning ``(B, 1, *patch)``.
        volume: input, axes ``(*lead, *grid.shape)``.
        grid: the global patch grid over the model axes.
        planned: output of :func:`plan`.
        sink: called with each finished region and its values, shape
            ``(*lead_box, *box)``, float32, in region order (on the blender thread, or on
            the caller's in single-thread mode): a NumPy array, or a tensor on ``device``
            when ``host_output`` is false and the blending runs there.
        batch_size: patches per forward pass.
        device: where the network runs (its parameters are moved there).
        precision: ``32``, ``bf16-mixed`` or ``16-mixed``.
        num_workers: threads reading halos ahead of the batcher. 0 on the CPU runs every
            stage in the caller's thread (fastest for in-memory arrays on few cores).
        on_batch: progress callback with the number of patches just predicted.
        source_name: how errors name the input (its path).
        host_blending: blend in NumPy on the host (default on the CPU) or with torch on
            ``device`` (default on accelerators).
        host_output: copy finished regions to the host; false leaves device-blended
            regions on the device (a GPU-resident output needs no round trip).
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError.for_parameter("batch_size", batch_size, "a positive integer")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError.for_parameter("num_workers", num_workers, "an integer >= 0")
    device = device or torch.device("cpu")
    autocast = autocast_context(device, precision)
    model = model.to(device).eval()
    # On the CPU the blending runs in NumPy: torch ops issued from the helper threads
    # start OpenMP teams that fight the forward pass for the cores (docs/benchmarks.md).
    # On an accelerator it runs there, next to the predictions.
    on_host = device.type == "cpu" if host_blending is None else host_blending
    reader = PatchSource(volume, grid, None if on_host else device, source_name)
    stack = stack_host if on_host else GatherScatter(grid.patch, device).stack
    batches = patch_batches(reader.works(planned, num_workers), batch_size, stack)
    blender = Blender(grid.window, None if on_host else device, sink, host_output)

    def forward(x: torch.Tensor) -> Any:
        pred = model(x)[:, 0].float()
        return pred.numpy() if on_host else pred

    if on_host and num_workers == 0:
        # One thread on the CPU: helper threads would compete with the forward pass for
        # the cores, which the forward already keeps busy (no I/O to hide in memory).
        with torch.inference_mode(), autocast:
            for payload, x in batches:
                blender.blend(payload, forward(x))
                if on_batch:
                    on_batch(len(x))
        return
    run_pipelined(batches, forward, blender, autocast, on_batch, depth=2 + num_workers)


__all__ = ["Region", "RegionWork", "Volume", "count_patches", "plan", "predict_regions"]
