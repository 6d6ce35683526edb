"""The ``infer`` task: ``python run.py task=infer ckpt_path=CKPT input=IN output=OUT``."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from torch import nn

from promethium.data.inputs import InferenceInput, open_input
from promethium.data.progress import ProgressBar
from promethium.data.store import is_url
from promethium.errors import ConfigError, DataError
from promethium.inference.engine import resolve_device
from promethium.inference.ownership import claim_output, publish_once
from promethium.inference.predict import Layout, make_layout
from promethium.inference.streaming import (
    parse_shard,
    seal_work_store,
    stream_predict,
    work_path,
)
from promethium.inference.volumes import ObservedTraces, combine_masks, trace_mask
from promethium.inference.writers import (
    check_output,
    check_output_kind,
    export,
    staging_path,
    upload,
)
from promethium.models.amplitude import sample_interval
from promethium.tasks.common import (
    checkpoint_path,
    keeps_observed,
    load_network,
    patch_size,
    warn_if_amplitudes_differ,
)

log = logging.getLogger("promethium.infer")


def _required(cfg: DictConfig, key: str, example: str) -> str:
    value = OmegaConf.select(cfg, key)
    if value in (None, "", "???"):
        raise ConfigError(f"{key}: required for task=infer; e.g. {key}={example}")
    return str(value)


@dataclass
class InferJob:
    """Everything one inference run needs, resolved from the config."""

    model: nn.Module
    source: InferenceInput
    layout: Layout
    output: str
    target: Path  # the output, or its local staging store for an object-store URL
    settings: dict[str, Any]
    shard: tuple[int, int]
    observed: ObservedTraces | None = None  # recorded traces that pass through


def prepare(cfg: DictConfig) -> InferJob:
    """Check the paths, open the input, load the network and lay out the tiles."""
    icfg = cfg.infer
    ckpt = checkpoint_path(cfg)
    source_path = _required(cfg, "input", "survey.zarr")
    output = _required(cfg, "output", "denoised.zarr")
    check_output_kind(output)
    # an object-store output is predicted into a local staging store (the resumable work
    # store needs atomic renames), then uploaded chunk by chunk
    target = staging_path(output, cfg.paths.cache_dir) if is_url(output) else Path(output)
    if not ckpt.is_file():  # before a SEG-Y input is converted: the cheap refusal first
        raise DataError(f"{ckpt}: no such checkpoint (ckpt_path)")
    source = open_input(source_path, cfg.paths.cache_dir, list(icfg.segy_sort))
    check_output(output if is_url(output) else target, bool(icfg.overwrite), source)
    model, train_config = load_network(cfg, icfg.get("tta"))
    warn_if_amplitudes_differ(ckpt, model, source.volume, sample_interval(source.attrs))
    patch = patch_size(icfg.patch_size, train_config, "infer.patch_size")
    overlap = (
        OmegaConf.to_object(icfg.overlap) if OmegaConf.is_config(icfg.overlap) else icfg.overlap
    )
    mask_cfg = icfg.mask
    header = source.header(mask_cfg.header) if mask_cfg.header else None
    configured = trace_mask(
        source.volume.shape, list(mask_cfg.traces), header, list(mask_cfg.dead_values)
    )
    mask = combine_masks(source.trace_mask(), configured)
    layout = make_layout(
        source.volume,
        model.spatial_dims,
        patch,
        overlap,
        icfg.window,
        mask,
        icfg.slice_axis,
        contract=getattr(model, "contract", None),
        dt=sample_interval(source.attrs),
    )
    keep = keeps_observed(icfg.get("keep_observed"), train_config)
    observed = ObservedTraces(source.volume, mask) if keep else None
    settings = {**resume_settings(cfg, ckpt, source, layout, mask), "keep_observed": keep}
    shard = parse_shard(icfg.shard)
    return InferJob(model, source, layout, output, target, settings, shard, observed)


def resume_settings(
    cfg: DictConfig, ckpt: Path, source: InferenceInput, layout: Layout, mask: np.ndarray | None
) -> dict[str, Any]:
    """Everything that determines the output: progress is resumed only if all of it agrees."""
    icfg, stat = cfg.infer, ckpt.stat()
    return {
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
        "tta": icfg.get("tta"),  # null: the recipe's choice, fixed by the checkpoint
        "precision": str(icfg.precision),
        "batch_size": icfg.batch_size,
        "slice_axis": icfg.slice_axis,
        "dead_traces": int((mask == 0).sum()) if mask is not None else 0,
        "device": resolve_device(icfg.device).type,
    }


def predict(cfg: DictConfig, job: InferJob) -> tuple[dict[str, Any], bool]:
    """Predict this shard's chunks into the work store and publish it once complete.

    Returns:
        The streaming summary and whether this process published the output.
    """
    icfg, work = cfg.infer, work_path(job.target)
    claim = claim_output(work, job.output) if job.shard[1] == 1 else None
    bar = ProgressBar("infer", unit="patches", enabled=bool(icfg.progress))
    try:
        try:
            summary = stream_predict(
                job.model,
                job.layout,
                job.target,
                job.source.attrs,
                job.settings,
                chunks=list(icfg.chunks) if icfg.chunks is not None else None,
                batch_size=icfg.batch_size,
                device=resolve_device(icfg.device),
                precision=str(icfg.precision),
                num_workers=icfg.num_workers,
                on_start=bar.begin,
                on_batch=bar.advance,
                source_name=str(job.source.path),
                shard=job.shard,
                observed=job.observed,
            )
        except DataError:
            # the input was refused (e.g. NaN): its progress is worth nothing, leave none
            if claim is not None:
                shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            bar.close()
        return summary, summary["complete"] and publish_once(work, _exporter(cfg, job))
    finally:
        if claim is not None:
            claim.release()


def _exporter(cfg: DictConfig, job: InferJob) -> Any:
    overwrite = bool(cfg.infer.overwrite)
    fill, fmt = job.observed is not None, cfg.infer.get("segy_format")

    def export_sealed(store: Path) -> None:
        seal_work_store(store)
        if is_url(job.output):
            upload(store, job.output, overwrite)
        else:
            export(store, job.target, job.source, overwrite, fill, fmt)

    return export_sealed


def metrics_file(cfg: DictConfig, metrics: dict[str, Any]) -> str:
    """Shards started by torchrun compose one Hydra run folder: one file per shard."""
    index, count = parse_shard(cfg.infer.shard)
    return "metrics.json" if count == 1 else f"metrics_shard{index}of{count}.json"


def run(cfg: DictConfig) -> dict[str, Any]:
    """Tile a trained network over ``input`` into ``output``; returns the run summary."""
    start = time.perf_counter()
    job = prepare(cfg)
    summary, published = predict(cfg, job)
    seconds = time.perf_counter() - start
    summary.update(
        shard=f"{job.shard[0]}/{job.shard[1]}",
        published=published,
        output=job.output,
        seconds=round(seconds, 3),
        patches_per_s=round(summary["patches"] / max(seconds, 1e-9), 2),
    )
    summary.pop("work_store")
    _log_summary(summary, job, seconds)
    return summary


def _log_summary(summary: dict[str, Any], job: InferJob, seconds: float) -> None:
    if not summary["published"]:
        log.info(
            "infer shard %d/%d: %d patches in %.1f s; %d chunks left to other shards (the "
            "shard that finishes last publishes %s)",
            *job.shard,
            summary["patches"],
            seconds,
            summary["chunks_left"],
            job.output,
        )
        return
    log.info(
        "infer: %d patches in %.1f s (%.1f patches/s), %d/%d chunks%s -> %s",
        summary["patches"],
        seconds,
        summary["patches_per_s"],
        summary["chunks_total"] - summary["chunks_done_before"],
        summary["chunks_total"],
        f" (resumed, {summary['chunks_done_before']} already done)" if summary["resumed"] else "",
        job.output,
    )
