"""The tiled-prediction engine: regions in, blended predictions out, in three overlapped stages.

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
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from promethium.errors import ConfigError, DataError
from promethium.tiling import TileGrid

PRECISIONS = {"32": None, "32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


class Volume(Protocol):
    """What the engine reads from: NumPy arrays, memory maps and Zarr arrays all fit."""

    shape: tuple[int, ...]

    def __getitem__(self, key: tuple[slice, ...]) -> Any: ...


@dataclass(frozen=True)
class Region:
    """One box of the output: ``lead`` slices over iterated axes, ``box`` over model axes."""

    key: Any
    lead: tuple[slice, ...]
    box: tuple[slice, ...]


@dataclass
class _Work:
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
        raise ConfigError(
            f"infer.device: got {device!r}; allowed: auto, cpu, cuda, cuda:N"
        ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"infer.device: got {device!r} but CUDA is not available; use auto or cpu"
        )
    return resolved


def autocast_context(device: torch.device, precision: str) -> Any:
    """Autocast for ``*-mixed`` precisions, nothing for 32-bit."""
    if str(precision) not in PRECISIONS:
        raise ConfigError(f"infer.precision: got {precision!r}; allowed: {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[str(precision)]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


class _Stop(Exception):
    """Another stage failed; this one unwinds quietly."""


class _Pipeline:
    """Queues between the stages, with failure propagation instead of deadlocks."""

    def __init__(self, depth: int) -> None:
        self.batches: queue.Queue = queue.Queue(maxsize=depth)
        self.predictions: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def put(self, q: queue.Queue, item: Any) -> None:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue) -> Any:
        while True:
            if self.stop.is_set():
                raise _Stop
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                continue

    def guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        def wrapped() -> None:
            try:
                fn()
            except _Stop:
                pass
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                self.errors.append(err)
                self.stop.set()

        return wrapped


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
        raise ConfigError(f"infer.batch_size: got {batch_size!r}; allowed: a positive integer")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"infer.num_workers: got {num_workers!r}; allowed: an integer >= 0")
    device = device or torch.device("cpu")
    autocast = autocast_context(device, precision)
    model = model.to(device).eval()
    # On the CPU the blending runs in NumPy: torch ops issued from the helper threads
    # start OpenMP teams that fight the forward pass for the cores (docs/benchmarks.md).
    # On an accelerator it runs there, next to the predictions.
    on_host = device.type == "cpu" if host_blending is None else host_blending
    reader = _HaloReader(volume, grid, None if on_host else device, source_name)
    stack = _stack_host if on_host else _GatherScatter(grid.patch, device).stack
    batches = _batches(reader.works(planned, num_workers), batch_size, stack)
    blender = _Blender(grid.window, None if on_host else device, sink, host_output)

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
    _run_pipelined(batches, forward, blender, autocast, on_batch, depth=2 + num_workers)


class _HaloReader:
    """Reads each planned region's input halo into a :class:`_Work`.

    Checks the block is finite and keeps the window sum of the last region layout
    (regions of one run mostly repeat the same layout).
    """

    def __init__(
        self, volume: Volume, grid: TileGrid, device: torch.device | None, source_name: str
    ) -> None:
        self.volume, self.grid, self.device, self.source_name = volume, grid, device, source_name
        self.wsum_cache: dict[tuple, Any] = {}

    def __call__(self, item: tuple[Region, tuple[slice, ...], list]) -> _Work:
        region, halo, slices = item
        block = _as_block(self.volume[(*region.lead, *halo)], self.device)
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
        return _Work(region, halo, block, slices, wsum)

    def works(
        self, planned: Sequence[tuple[Region, tuple[slice, ...], list]], num_workers: int
    ) -> Iterator[_Work]:
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


def _batches(
    works: Iterable[_Work], batch_size: int, stack: Callable[[list], tuple[list, torch.Tensor]]
) -> Iterator[tuple[list, torch.Tensor]]:
    """``(payload, x)`` batches of patches; a batch may span regions."""
    jobs: list[tuple[_Work, int, tuple[slice, ...]]] = []
    for work in works:
        for lead in range(work.block.shape[0]):
            for sl in work.slices:
                jobs.append((work, lead, sl))
                if len(jobs) == batch_size:
                    yield stack(jobs)
                    jobs = []
    if jobs:
        yield stack(jobs)


class _Blender:
    """Weights predictions by the window, accumulates them, and sinks finished regions.

    ``device=None`` blends in NumPy on the host; otherwise with one scatter-add per region
    and batch on ``device`` (see :class:`_GatherScatter`).
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


def _run_pipelined(
    batches: Iterator[tuple[list, torch.Tensor]],
    forward: Callable[[torch.Tensor], Any],
    blender: _Blender,
    autocast: Any,
    on_batch: Callable[[int], None] | None,
    depth: int,
) -> None:
    """Batching, the forward pass (this thread) and blending as three overlapped stages."""
    pipe = _Pipeline(depth)

    def batcher() -> None:
        for item in batches:
            pipe.put(pipe.batches, item)
        pipe.put(pipe.batches, None)

    def blend_stage() -> None:
        with torch.inference_mode():  # thread-local: the predictions are inference tensors
            while (item := pipe.get(pipe.predictions)) is not None:
                blender.blend(*item)

    threads = [
        threading.Thread(target=pipe.guard(batcher), name="infer-batch", daemon=True),
        threading.Thread(target=pipe.guard(blend_stage), name="infer-blend", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        with torch.inference_mode(), autocast:
            while (item := pipe.get(pipe.batches)) is not None:
                payload, x = item
                pipe.put(pipe.predictions, (payload, forward(x)))
                if on_batch:
                    on_batch(len(x))
        pipe.put(pipe.predictions, None)
        threads[1].join()
    except _Stop:
        pass
    except BaseException:
        pipe.stop.set()
        raise
    finally:
        if pipe.errors:
            pipe.stop.set()
        for thread in threads:
            thread.join()
    if pipe.errors:
        raise pipe.errors[0]


def _as_block(raw: Any, device: torch.device | None) -> np.ndarray | torch.Tensor:
    """A float32 block read from the volume, for host blending or for ``device``.

    NumPy for host blending (``device=None``), else a tensor on ``device``; blocks of a
    tensor volume already there are not copied.
    """
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().float()
        return raw.cpu().numpy() if device is None else raw.to(device)
    block = np.asarray(raw, dtype=np.float32)
    return block if device is None else torch.from_numpy(block).to(device)


def _stack_host(jobs: list[tuple[_Work, int, tuple[slice, ...]]]) -> tuple[list, torch.Tensor]:
    """Stack the jobs' patches (NumPy blocks) into a ``(B, 1, *patch)`` tensor."""
    return jobs, torch.from_numpy(np.stack([w.block[lead][sl] for w, lead, sl in jobs])[:, None])


class _GatherScatter:
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

    def stack(self, jobs: list[tuple[_Work, int, tuple[slice, ...]]]) -> tuple[list, torch.Tensor]:
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
