"""The ``infer`` task: ``python run.py task=infer ckpt_path=CKPT input=IN output=OUT``."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from promethium.api import load_checkpoint
from promethium.data.store import is_url
from promethium.errors import ConfigError, DataError
from promethium.files import write_metrics
from promethium.ml.inference.engine import resolve_device
from promethium.ml.inference.io import (
    check_output,
    check_output_kind,
    export,
    open_input,
    staging_path,
    upload,
)
from promethium.ml.inference.ownership import OwnerLock
from promethium.ml.inference.predict import make_layout
from promethium.ml.inference.streaming import parse_shard, stream_predict, work_path
from promethium.ml.inference.tta import TestTimeAugmentation
from promethium.ml.inference.volumes import trace_mask

log = logging.getLogger("promethium.infer")


def _required(cfg: DictConfig, key: str, example: str) -> str:
    value = OmegaConf.select(cfg, key)
    if value in (None, "", "???"):
        raise ConfigError(f"{key}: required for task=infer; e.g. {key}={example}")
    return str(value)


def training_patch(config: dict[str, Any]) -> list[int] | None:
    """The patch size a checkpoint's network was trained on (from its saved config)."""
    patch = config.get("data", {}).get("patch_size")
    return list(patch) if patch else None


class PatchProgress:
    """A rich progress bar in patches, with patches/s and ETA."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
            TextColumn("infer"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} patches"),
            TextColumn("{task.fields[rate]} patches/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            disable=not enabled,
        )
        self.task = None
        self.start = time.perf_counter()

    def begin(self, total: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("infer", total=total, rate="-")
        self.start = time.perf_counter()

    def advance(self, n: int) -> None:
        done = self.progress.tasks[0].completed + n
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        self.progress.update(self.task, advance=n, rate=f"{rate:.1f}")

    def close(self) -> None:
        self.progress.stop()


#: a publishing marker older than this is taken over even if its owner seems alive
PUBLISH_STALE_S = 3600.0


def publish_once(work: Path, export_work: Callable[[Path], None]) -> bool:
    """Export a complete work store unless another shard is already doing it.

    Shards that finish together both see every chunk done; an exclusively created
    marker beside the work store lets exactly one of them export it. A marker left by a
    killed publisher (its process gone, or older than an hour) is taken over.

    Returns:
        Whether this process exported it.
    """
    lock = OwnerLock(work.with_name(f"{work.name}.publishing"), stale_after=PUBLISH_STALE_S)
    if lock.acquire() is not None:
        return False
    with lock:
        if not work.exists():  # a publisher killed after its rename finished the job
            return False
        export_work(work)
    return True


def claim_output(work: Path, output: str) -> OwnerLock:
    """Mark ``output``'s work store as taken by this (unsharded) run.

    Raises:
        DataError: naming the live process that is writing the same output.
    """
    lock = OwnerLock(work.with_name(f"{work.name}.lock"))
    holder = lock.acquire()
    if holder is not None:
        raise DataError(
            f"{output}: another inference is writing this output ({holder.describe()}); wait "
            f"for it to end, or stop it and rerun to resume (marker: {lock.path})"
        )
    return lock


def run(cfg: DictConfig) -> dict[str, Any]:
    """Tile a trained network over ``input`` into ``output``; returns the run summary."""
    icfg = cfg.infer
    ckpt = Path(_required(cfg, "ckpt_path", "outputs/runs/<run>/checkpoints/last.ckpt"))
    source_path = _required(cfg, "input", "survey.zarr")
    output = _required(cfg, "output", "denoised.zarr")
    check_output_kind(output)
    # an object-store output is predicted into a local staging store (the resumable work
    # store needs atomic renames), then uploaded chunk by chunk
    target = staging_path(output, cfg.paths.cache_dir) if is_url(output) else Path(output)
    if not ckpt.is_file():
        raise DataError(f"{ckpt}: no such checkpoint (ckpt_path)")
    overwrite = bool(icfg.overwrite)
    source = open_input(source_path, cfg.paths.cache_dir, list(icfg.segy_sort))
    check_output(output if is_url(output) else target, overwrite, source)
    device = resolve_device(icfg.device)
    model, train_config = load_checkpoint(ckpt)
    if icfg.get("tta", False):
        model = TestTimeAugmentation(model)
    patch = icfg.patch_size if icfg.patch_size is not None else training_patch(train_config)
    if patch is None:
        raise ConfigError("infer.patch_size: the checkpoint has no training patch size; set one")
    patch = OmegaConf.to_object(patch) if OmegaConf.is_config(patch) else patch
    overlap = (
        OmegaConf.to_object(icfg.overlap) if OmegaConf.is_config(icfg.overlap) else icfg.overlap
    )
    mask_cfg = icfg.mask
    header = source.header(mask_cfg.header) if mask_cfg.header else None
    mask = trace_mask(
        source.volume.shape, list(mask_cfg.traces), header, list(mask_cfg.dead_values)
    )
    layout = make_layout(
        source.volume, model.spatial_dims, patch, overlap, icfg.window, mask, icfg.slice_axis
    )
    stat = ckpt.stat()
    settings = {
        "checkpoint": {
            "path": str(ckpt.resolve()),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
        },
        "input": {
            "path": source.location,
            "shape": list(source.volume.shape),
            "content": source.content_signature(),
        },
        "patch": list(layout.grid.patch),
        "overlap": list(layout.grid.overlap),
        "window": icfg.window,
        "tta": bool(icfg.get("tta", False)),
        "precision": str(icfg.precision),
        "batch_size": icfg.batch_size,
        "slice_axis": icfg.slice_axis,
        "dead_traces": int((mask == 0).sum()) if mask is not None else 0,
        "device": device.type,
    }
    chunks = list(icfg.chunks) if icfg.chunks is not None else None
    shard = parse_shard(icfg.get("shard"))
    bar = PatchProgress(bool(icfg.progress))
    start = time.perf_counter()
    work = work_path(target)
    claim = claim_output(work, str(output)) if shard[1] == 1 else None
    try:
        try:
            summary = stream_predict(
                model,
                layout,
                target,
                source.attrs,
                settings,
                chunks=chunks,
                batch_size=icfg.batch_size,
                device=device,
                precision=str(icfg.precision),
                num_workers=icfg.num_workers,
                on_start=bar.begin,
                on_batch=bar.advance,
                source_name=str(source.path),
                shard=shard,
            )
        except DataError:
            # the input was refused (e.g. NaN): its progress is worth nothing, leave none
            if claim is not None:
                shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            bar.close()
        published = summary["complete"] and publish_once(
            work,
            lambda store: (
                upload(store, output, overwrite)
                if is_url(output)
                else export(store, target, source, overwrite)
            ),
        )
    finally:
        if claim is not None:
            claim.release()
    seconds = time.perf_counter() - start
    summary.update(
        shard=f"{shard[0]}/{shard[1]}",
        published=published,
        output=str(output),
        seconds=round(seconds, 3),
        patches_per_s=round(summary["patches"] / max(seconds, 1e-9), 2),
    )
    summary.pop("work_store")
    # shards started by torchrun compose one Hydra run folder: one file per shard
    name = "metrics.json" if shard[1] == 1 else f"metrics_shard{shard[0]}of{shard[1]}.json"
    write_metrics(Path(cfg.paths.output_dir) / name, summary)
    if not published:
        log.info(
            "infer shard %d/%d: %d patches in %.1f s; %d chunks left to other shards (the "
            "shard that finishes last publishes %s)",
            *shard,
            summary["patches"],
            seconds,
            summary["chunks_left"],
            output,
        )
        return summary
    log.info(
        "infer: %d patches in %.1f s (%.1f patches/s), %d/%d chunks%s -> %s",
        summary["patches"],
        seconds,
        summary["patches_per_s"],
        summary["chunks_total"] - summary["chunks_done_before"],
        summary["chunks_total"],
        f" (resumed, {summary['chunks_done_before']} already done)" if summary["resumed"] else "",
        output,
    )
    return summary
