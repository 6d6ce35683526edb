"""The ``evaluate`` task: the trained network against classical baselines on held-out gathers.

``python run.py task=evaluate ckpt_path=CKPT [data=...]``: the test gathers of the
configured data (the same split as training), or the gathers of a clean reference file
(``evaluate.input``, Zarr, SEG-Y or ``.npy``), corrupted by ``data.corruption`` (or
``evaluate.corruption``) with a fixed seed, go through tiled inference and through the
classical baselines that suit the corruption (interpolation when traces are missing,
denoising when live traces are changed); every method is scored against the clean
gathers, and the run folder gets ``metrics.json``, ``scores.csv`` (per gather),
``evaluation.npz`` (all arrays) and ``report.md`` with figures.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from promethium import baselines
from promethium.api import load_checkpoint
from promethium.config import build_node
from promethium.data.store import open_store
from promethium.data.transforms import bind_store_sampling, make_corruption
from promethium.errors import ConfigError, DataError
from promethium.evaluation.metrics import METRICS, score, summarise
from promethium.evaluation.report import write_report
from promethium.files import write_metrics
from promethium.ml.inference import tiled_predict
from promethium.ml.inference.io import open_input
from promethium.ml.inference.task import training_patch
from promethium.ml.inference.tta import TestTimeAugmentation
from promethium.ml.train import build_datamodule

log = logging.getLogger("promethium.evaluate")


def reference_gathers(cfg: DictConfig) -> tuple[np.ndarray, dict[str, Any], Any]:
    """``evaluate.input``: the first ``n_gathers`` gathers of a clean reference file.

    The corruption is ``evaluate.corruption`` (a list like ``data.corruption``), else
    ``data.corruption``; corruptions with unset sampling take the file's.
    """
    ecfg = cfg.evaluate
    sort = list(ecfg.get("segy_sort", []))
    source = open_input(str(ecfg.input), cfg.paths.cache_dir, sort, "evaluate.segy_sort")
    if len(source.volume.shape) != 3:
        raise DataError(
            f"{ecfg.input}: evaluate.input must hold (gather, trace, time) gathers; got "
            f"shape {tuple(source.volume.shape)}"
        )
    clean = np.asarray(source.volume[: int(ecfg.n_gathers)], dtype=np.float32)
    key = "evaluate.corruption" if ecfg.get("corruption") is not None else "data.corruption"
    corruption = make_corruption(build_node(cfg, key))
    bind_store_sampling(corruption, source.attrs)
    return clean, source.attrs, corruption


def held_out_gathers(cfg: DictConfig) -> tuple[np.ndarray, dict[str, Any], Any]:
    """The clean test gathers ``(G, trace, time)``, the store attributes and the corruption."""
    if cfg.evaluate.get("input"):
        return reference_gathers(cfg)
    datamodule = build_datamodule(cfg)
    datamodule.setup("test")
    _, array = open_store(datamodule.path)
    if array.ndim != 3:
        raise DataError(
            f"{datamodule.path}: evaluate needs a (gather, trace, time) store; got {array.shape}"
        )
    regions = datamodule.datasets["test"].regions[: int(cfg.evaluate.n_gathers)]
    if not regions:
        raise DataError(
            f"{datamodule.path}: the test split holds no gathers; raise data.test_fraction"
        )
    clean = np.stack([np.asarray(array[r.lead], dtype=np.float32) for r in regions])
    return clean, datamodule.store_attrs, datamodule.corruption


def scorable(
    clean: np.ndarray, attrs: dict[str, Any], corruption: Any
) -> tuple[np.ndarray, dict[str, Any], Any]:
    """The gathers that carry signal: SNR, PSNR and SSIM are undefined against zeros.

    Raises:
        DataError: when there is no gather, or every reference gather is all zero.
    """
    energy = np.abs(clean).reshape(len(clean), -1).max(axis=1) if len(clean) else clean
    if not np.any(energy > 0):
        raise DataError(
            f"evaluate: {len(clean)} reference gather(s), none with signal (all zero); SNR, "
            "PSNR and SSIM are undefined against zeros: choose another evaluate.input or data"
        )
    if np.any(energy == 0):
        log.warning(
            "evaluate: gathers %s of the reference are all zero and are not scored",
            np.flatnonzero(energy == 0).tolist(),
        )
    return clean[energy > 0], attrs, corruption


def corrupt(clean: np.ndarray, corruption: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt each gather with one seeded generator: ``(inputs, masks (G, trace))``."""
    if corruption is None:
        raise ConfigError("data.corruption: evaluate needs a corruption to undo; none is set")
    rng = np.random.default_rng(seed)
    pairs = [corruption(g.copy(), rng) for g in clean]
    inputs = np.stack([p[0] for p in pairs]).astype(np.float32)
    masks = np.stack(
        [np.broadcast_to(p[1], g.shape)[..., 0] for p, g in zip(pairs, clean, strict=True)]
    )
    return inputs, masks


def methods_for(
    cfg: DictConfig,
    inputs: np.ndarray,
    masks: np.ndarray,
    clean: np.ndarray,
    dt: float,
    dx: float,
    missing: bool,
) -> dict[str, Callable[[], np.ndarray]]:
    """The classical methods that apply to this corruption, with their config parameters.

    ``missing``: traces were removed (interpolation methods); denoising methods apply when
    live traces differ from the clean ones.
    """
    params = OmegaConf.to_container(cfg.evaluate.baselines, resolve=True)
    live = masks[..., None].astype(bool)
    noisy = bool(np.any(np.abs(inputs - clean)[np.broadcast_to(live, clean.shape)] > 1e-6))
    chosen: dict[str, Callable[[], np.ndarray]] = {}
    if missing:
        chosen["linear_interpolation"] = lambda: baselines.linear_interpolation(inputs, masks)
        chosen["pocs"] = lambda: baselines.pocs(inputs, masks, **params.get("pocs", {}))
    if noisy:
        chosen["bandpass"] = lambda: baselines.bandpass(inputs, dt, **params.get("bandpass", {}))
        chosen["fx_decon"] = lambda: baselines.fx_decon(inputs, dt, **params.get("fx_decon", {}))
        fk = params.get("fk_dip_filter", {})
        chosen["fk_dip_filter"] = lambda: baselines.fk_dip_filter(inputs, dt, dx=dx, **fk)
        fx = params.get("fx_decon", {})
        chosen["fk_fx_decon"] = lambda: baselines.fk_fx_decon(inputs, dt, dx, fk, fx)
    return chosen


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score the checkpoint's network and the baselines; write the report. Returns the summary."""
    ckpt = cfg.get("ckpt_path")
    if not ckpt:
        raise ConfigError("ckpt_path: required for task=evaluate; e.g. ckpt_path=CKPT")
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise DataError(f"{ckpt}: no such checkpoint (ckpt_path)")
    ecfg = cfg.evaluate
    n_gathers = ecfg.n_gathers
    if not isinstance(n_gathers, int) or isinstance(n_gathers, bool) or n_gathers < 1:
        raise ConfigError(f"evaluate.n_gathers: got {n_gathers!r}; allowed: a positive integer")
    model, train_config = load_checkpoint(ckpt)
    clean, attrs, corruption = scorable(*held_out_gathers(cfg))
    inputs, masks = corrupt(clean, corruption, int(ecfg.seed))
    dt = float(attrs["dt"])
    dx = next((float(v) for v in attrs.get("dx", [])[::-1] if v), 1.0)
    patch = ecfg.patch_size or training_patch(train_config)
    patch = OmegaConf.to_object(patch) if OmegaConf.is_config(patch) else patch
    missing = bool((masks == 0).any())
    network = TestTimeAugmentation(model) if ecfg.get("tta", False) else model

    def predict() -> np.ndarray:
        out = tiled_predict(
            network, inputs, patch, ecfg.overlap, ecfg.batch_size, device=ecfg.device
        )
        if missing and ecfg.get("keep_observed", True):
            # like the classical methods, keep the recorded traces as they are
            out = np.where(masks[..., None].astype(bool), inputs, out)
        return out

    methods: dict[str, Callable[[], np.ndarray]] = {
        "network": predict,
        **methods_for(cfg, inputs, masks, clean, dt, dx, missing),
    }
    outputs: dict[str, np.ndarray] = {"input": inputs}
    runtime: dict[str, float] = {"input": 0.0}
    for name, method in methods.items():
        start = time.perf_counter()
        try:
            outputs[name] = method()
        except ConfigError as err:  # a baseline parameter: name its key
            raise err.at(f"evaluate.baselines.{name}") from None
        runtime[name] = time.perf_counter() - start
    per_gather = {n: score(o, clean, masks if missing else None) for n, o in outputs.items()}
    summary = {name: {**summarise(s), "runtime_s": runtime[name]} for name, s in per_gather.items()}
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / "evaluation.npz", clean=clean, masks=masks, **outputs)
    _write_csv(out_dir / "scores.csv", per_gather)
    best = _best_methods(summary)
    write_metrics(out_dir / "metrics.json", {"methods": summary, "best": best}, sort_keys=False)
    write_report(
        out_dir, clean, outputs, masks if missing else None, summary, best, dt, dx, int(ecfg.panels)
    )
    log.info(
        "evaluate: %s", ", ".join(f"{k} {_db(v['snr_db']['mean'])}" for k, v in summary.items())
    )
    return {
        f"{name}/{metric}": v["mean"]
        for name, s in summary.items()
        for metric, v in s.items()
        if isinstance(v, dict)
    }


def _db(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f} dB"


def _best_methods(summary: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Per metric, the method (the corrupted input excluded) with the best mean."""
    best = {}
    candidates = {k: v for k, v in summary.items() if k != "input"}
    metrics = {m for s in candidates.values() for m in s if isinstance(s[m], dict)}
    for metric in sorted(metrics):
        higher = METRICS.get(metric, (None, True))[1]
        defined = [k for k in candidates if candidates[k][metric]["mean"] is not None]
        if defined:
            pick = max if higher else min
            best[metric] = pick(defined, key=lambda k: candidates[k][metric]["mean"])
    return best


def _write_csv(path: Path, per_gather: dict[str, dict[str, np.ndarray]]) -> None:
    metrics = sorted({m for s in per_gather.values() for m in s})
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "gather", *metrics])
        for name, scores in per_gather.items():
            for g in range(len(next(iter(scores.values())))):
                writer.writerow([name, g, *(f"{scores[m][g]:.6g}" for m in metrics)])
