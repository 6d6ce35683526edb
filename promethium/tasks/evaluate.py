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
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from promethium.errors import ConfigError, DataError
from promethium.evaluation.methods import methods_for
from promethium.evaluation.metrics import METRICS, score, summarise
from promethium.evaluation.references import References, corrupt, held_out_gathers, scorable
from promethium.evaluation.report import write_report
from promethium.ml.inference import tiled_predict
from promethium.models.amplitude import AmplitudeScaler, sample_interval
from promethium.tasks.common import load_network, patch_size

log = logging.getLogger("promethium.evaluate")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score the checkpoint's network and the baselines; write the report.

    Returns:
        ``<method>/<metric>`` means, plus ``methods`` (mean and spread per metric, and
        runtime, per method) and ``best`` (the best method per metric), which the task
        wrapper writes to ``metrics.json``.
    """
    ecfg = cfg.evaluate
    n_gathers = ecfg.n_gathers
    if not isinstance(n_gathers, int) or isinstance(n_gathers, bool) or n_gathers < 1:
        raise ConfigError(f"evaluate.n_gathers: got {n_gathers!r}; allowed: a positive integer")
    network, train_config = load_network(cfg, bool(ecfg.get("tta", False)))
    contract = getattr(network, "scaler", None)
    refs = gained(scorable(held_out_gathers(cfg)), contract)
    clean, attrs = refs.clean, refs.attrs
    inputs, masks = corrupt(clean, refs.corruption, int(ecfg.seed))
    refs, inputs, masks = with_hidden_traces(refs, inputs, masks)
    inputs, clean = scaled_per_gather(inputs, refs.clean, contract)
    scaler, domain = in_contract_domain(contract)
    dt = float(attrs["dt"])
    dx = next((float(v) for v in attrs.get("dx", [])[::-1] if v), 1.0)
    missing = bool((masks == 0).any())
    patch = patch_size(ecfg.patch_size, train_config, "evaluate.patch_size")

    def predict() -> np.ndarray:
        out = tiled_predict(
            network, inputs, patch, ecfg.overlap, ecfg.batch_size, device=ecfg.device, scaler=scaler
        )
        if missing and ecfg.get("keep_observed", True):
            # like the classical methods, keep the recorded traces as they are
            out = np.where(masks[..., None].astype(bool), inputs, out)
        return out

    methods = {"network": predict, **methods_for(cfg, inputs, masks, clean, dt, dx, missing)}
    outputs, runtime = run_methods(inputs, methods)
    if refs.live is not None:  # a field reference's dead traces: nothing to score there
        outputs = {name: out * refs.live[..., None] for name, out in outputs.items()}
    per_gather = {n: score(o, clean, masks if missing else None) for n, o in outputs.items()}
    summary: dict[str, dict[str, Any]] = {
        name: {**summarise(s), "runtime_s": runtime[name]} for name, s in per_gather.items()
    }
    best = _best_methods(summary)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / "evaluation.npz", clean=clean, masks=masks, **outputs)
    _write_csv(out_dir / "scores.csv", per_gather)
    shown = masks if missing else None
    write_report(
        out_dir,
        clean,
        outputs,
        shown,
        summary,
        best,
        dt,
        dx,
        int(ecfg.panels),
        domain,
        held_out=refs.held_out,
    )
    log.info(
        "evaluate: %s", ", ".join(f"{k} {_db(v['snr_db']['mean'])}" for k, v in summary.items())
    )
    if refs.held_out:
        log.info("evaluate: the test split of the training data, %s", refs.held_out)
    extra = {"held_out": refs.held_out} if refs.held_out else {}
    return {**_means(summary), "methods": summary, "best": best, "domain": domain, **extra}


def _means(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    """``<method>/<metric>``: the mean over gathers of every metric of every method."""
    return {
        f"{name}/{metric}": v["mean"]
        for name, s in summary.items()
        for metric, v in s.items()
        if isinstance(v, dict)
    }


def gained(refs: References, contract: Any) -> References:
    """The clean gathers with the contract's ``t^p`` gain, before they are corrupted.

    The gain does not depend on the data, so it is applied as training applies it:
    before the corruption, whose noise level is then set where the network looks.
    """
    if not isinstance(contract, AmplitudeScaler) or not contract.gain:
        return refs
    gain = contract.gain_curve(0, refs.clean.shape[-1], _seconds(refs.attrs))
    clean = (refs.clean * gain).astype(np.float32)
    return dataclasses.replace(refs, clean=clean)


def scaled_per_gather(
    inputs: np.ndarray, clean: np.ndarray, contract: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and references divided by each input gather's scale (``per: gather``).

    The scale comes from the corrupted input, as ``task=infer`` takes it from the survey
    it is given; the reference shares it, so every score is unchanged by it.
    """
    if not isinstance(contract, AmplitudeScaler) or not contract.per_gather:
        return inputs, clean
    scales = np.array([contract.statistic(g) for g in inputs], dtype=np.float32)[:, None, None]
    return inputs / scales, clean / scales


def in_contract_domain(contract: Any) -> tuple[AmplitudeScaler | None, str]:
    """The network's scaler for data already in its contract's domain, and that domain.

    A contract with a trace stage (a ``t^p`` gain, a scale per gather) defines where the
    network looks: every method runs and is scored there (:func:`gained`,
    :func:`scaled_per_gather`) and the network's own trace stage is switched off. Scores
    are then not dominated by the strongest early arrivals.
    """
    if not isinstance(contract, AmplitudeScaler) or not contract.trace_stage:
        return contract, "the data's own units"
    log.info("evaluate: scoring in the checkpoint's amplitude domain (%s)", contract.describe())
    return contract.without_trace_stage(), f"the model's: {contract.describe()}"


def _seconds(attrs: dict[str, Any]) -> float:
    dt = sample_interval(attrs)
    if dt is None:
        raise DataError("evaluate: the contract's time gain needs the reference's dt in s")
    return dt


def with_hidden_traces(
    refs: References, inputs: np.ndarray, masks: np.ndarray
) -> tuple[References, np.ndarray, np.ndarray]:
    """Drop gathers in which the corruption hid no recorded trace, when it removes traces.

    With traces removed elsewhere, such a gather is returned unchanged by every method
    (recorded traces are kept), and its error of exactly zero would swamp the means.
    """
    live = refs.live if refs.live is not None else np.ones(masks.shape, dtype=bool)
    hidden = ((masks == 0) & live).any(axis=1)
    if not (masks == 0).any() or hidden.all():
        return refs, inputs, masks
    if not hidden.any():
        raise DataError("evaluate: the corruption hid no recorded trace in any gather")
    log.warning(
        "evaluate: gathers %s have no recorded trace hidden and are not scored",
        np.flatnonzero(~hidden).tolist(),
    )
    kept = dataclasses.replace(
        refs, clean=refs.clean[hidden], live=None if refs.live is None else live[hidden]
    )
    return kept, inputs[hidden], masks[hidden]


def run_methods(
    inputs: np.ndarray, methods: dict[str, Callable[[], np.ndarray]]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Each method's output and runtime (s); the corrupted input is method ``input``."""
    outputs: dict[str, np.ndarray] = {"input": inputs}
    runtime: dict[str, float] = {"input": 0.0}
    for name, method in methods.items():
        start = time.perf_counter()
        try:
            outputs[name] = method()
        except ConfigError as err:  # a baseline parameter: name its key
            if name == "network":  # the network's settings are evaluate's own keys
                raise
            raise err.at(f"evaluate.baselines.{name}") from None
        runtime[name] = time.perf_counter() - start
    return outputs, runtime


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
