"""The ``evaluate`` task: the trained network against classical baselines on held-out gathers.

``python run.py task=evaluate ckpt_path=CKPT [data=...]``: the test gathers of the
configured data (the same split as training), or the gathers of a clean reference file
(``evaluate.input``, Zarr, SEG-Y or ``.npy``), corrupted by the ``corruption`` group's (or
``evaluate.corruption``) with a fixed seed, go through tiled inference and through the
classical baselines that suit the corruption (interpolation when traces are missing,
denoising when live traces are changed); every method is scored against the clean
gathers, and the run folder gets ``metrics.json``, ``scores.csv`` (per gather),
``evaluation.npz`` (all arrays) and ``report.md`` with figures.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from promethium.errors import ConfigError, DataError
from promethium.evaluation.methods import methods_for
from promethium.evaluation.metrics import METRICS, score, summarise
from promethium.evaluation.report import write_report
from promethium.inference import tiled_predict
from promethium.models.amplitude import AmplitudeContract, sample_interval
from promethium.tasks.common import (
    checkpoint_path,
    load_network,
    patch_size,
    trained_densities,
    warn_if_amplitudes_differ,
)
from promethium.tasks.references import (
    Pass,
    References,
    evaluation_passes,
    held_out_gathers,
    refuse_blind_spots,
    scorable,
)

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
    network, train_config = load_network(cfg, ecfg.get("tta"))
    contract = getattr(network, "contract", None)
    refs = gained(scorable(held_out_gathers(cfg)), contract)
    refuse_blind_spots(refs.corruption)
    configured = ecfg.get("corruption") is not None
    folds = int(ecfg.get("folds") or 0)
    refs, passes, densities = evaluation_passes(refs, folds, int(ecfg.seed), configured)
    densities.update(trained_densities(train_config, densities["survey"]))
    scales = gather_scales(passes[0].inputs, contract)
    refs = dataclasses.replace(refs, clean=refs.clean / scales)
    passes = [dataclasses.replace(p, inputs=p.inputs / scales) for p in passes]
    dt = float(refs.attrs.get("dt") or 0) or None
    warn_if_amplitudes_differ(checkpoint_path(cfg), network, passes[0].inputs, dt, False)
    scoring, domain = in_contract_domain(contract)
    patch = patch_size(ecfg.patch_size, train_config, "evaluate.patch_size")

    def predict(inputs: np.ndarray, masks: np.ndarray, missing: bool) -> np.ndarray:
        out = tiled_predict(
            network,
            inputs,
            patch,
            ecfg.overlap,
            ecfg.batch_size,
            device=ecfg.device,
            contract=scoring,
        )
        if missing and ecfg.get("keep_observed", True):
            # like the classical methods, keep the recorded traces as they are
            out = np.where(masks[..., None].astype(bool), inputs, out)
        return out

    outputs, runtime = fill_passes(cfg, refs, passes, predict)
    # one pass: its own mask; passes at the survey's density: every recorded trace hidden once
    masks = passes[0].masks if len(passes) == 1 else np.zeros_like(passes[0].masks)
    missing = bool((masks == 0).any())
    per_gather = {n: score(o, refs.clean, masks if missing else None) for n, o in outputs.items()}
    summary: dict[str, dict[str, Any]] = {
        name: {**summarise(s), "runtime_s": runtime[name]} for name, s in per_gather.items()
    }
    best = _best_methods(summary)
    shown = {**outputs, "input": passes[0].inputs}  # the report shows the first input
    first_masks = passes[0].masks if missing else None
    write_outputs(cfg, refs, shown, first_masks, per_gather, summary, domain)
    log_summary(summary, densities, refs.held_out)
    extra = {"held_out": refs.held_out} if refs.held_out else {}
    return {
        **_means(summary),
        "methods": summary,
        "best": best,
        "domain": domain,
        "densities": densities,
        **extra,
    }


def log_summary(summary: dict[str, Any], densities: dict[str, float], held_out: str) -> None:
    """The methods' mean SNR, the trace densities and what was held out, as log lines."""
    log.info(
        "evaluate: %s", ", ".join(f"{k} {_db(v['snr_db']['mean'])}" for k, v in summary.items())
    )
    log.info(
        "evaluate: trace densities %s", ", ".join(f"{k} {v:.0%}" for k, v in densities.items())
    )
    if held_out:
        log.info("evaluate: the test split of the training data, %s", held_out)


def fill_passes(
    cfg: DictConfig,
    refs: References,
    passes: list[Pass],
    predict: Callable[[np.ndarray, np.ndarray, bool], np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every method on every pass; each output holds, per trace, the pass that scores it.

    Returns:
        Outputs ``(G, trace, time)`` by method (zero on a field reference's dead traces)
        and total runtimes (s).
    """
    dt, dx = float(refs.attrs["dt"]), trace_spacing(refs.attrs)
    baselines = OmegaConf.to_container(cfg.evaluate.baselines, resolve=True)
    outputs: dict[str, np.ndarray] = {}
    runtime: dict[str, float] = {}
    for one in passes:
        inputs, masks = one.inputs, one.masks
        missing = bool((masks == 0).any())
        methods: dict[str, Callable[[], np.ndarray]] = {
            "network": functools.partial(predict, inputs, masks, missing),
            **methods_for(baselines, inputs, masks, refs.clean, dt, dx, missing),
        }
        done, seconds = run_methods(inputs, methods)
        for name, out in done.items():
            outputs[name] = outputs.get(name, 0) + out * one.scored[..., None]
            runtime[name] = runtime.get(name, 0.0) + seconds[name]
    if refs.live is not None:  # a field reference's dead traces: nothing to score there
        outputs = {name: out * refs.live[..., None] for name, out in outputs.items()}
    return outputs, runtime


def write_outputs(
    cfg: DictConfig,
    refs: References,
    outputs: dict[str, np.ndarray],
    masks: np.ndarray | None,
    per_gather: dict[str, dict[str, np.ndarray]],
    summary: dict[str, dict[str, Any]],
    domain: str,
) -> None:
    """``evaluation.npz``, ``scores.csv`` and ``report.md`` with figures, in the run folder."""
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {"masks": masks} if masks is not None else {}
    np.savez_compressed(out_dir / "evaluation.npz", clean=refs.clean, **arrays, **outputs)
    _write_csv(out_dir / "scores.csv", per_gather)
    write_report(
        out_dir,
        refs.clean,
        outputs,
        masks,
        summary,
        _best_methods(summary),
        float(refs.attrs["dt"]),
        trace_spacing(refs.attrs),
        int(cfg.evaluate.panels),
        domain,
        held_out=refs.held_out,
    )


def trace_spacing(attrs: dict[str, Any]) -> float:
    """The trace axis' spacing (m) from store attributes; 1 for index axes."""
    return next((float(v) for v in attrs.get("dx", [])[::-1] if v), 1.0)


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
    if not isinstance(contract, AmplitudeContract) or not contract.gain:
        return refs
    gain = contract.gain_curve(0, refs.clean.shape[-1], _seconds(refs.attrs))
    clean = (refs.clean * gain).astype(np.float32)
    return dataclasses.replace(refs, clean=clean)


def gather_scales(inputs: np.ndarray, contract: Any) -> np.ndarray | float:
    """Each input gather's scale (``per: gather``; 1 otherwise), ``(G, 1, 1)``.

    The scale comes from the corrupted input, as ``task=infer`` takes it from the survey
    it is given; inputs and references are divided by it, so every score is unchanged.
    """
    if not isinstance(contract, AmplitudeContract) or not contract.per_gather:
        return 1.0
    return np.array([contract.statistic(g) for g in inputs], dtype=np.float32)[:, None, None]


def in_contract_domain(contract: Any) -> tuple[AmplitudeContract | None, str]:
    """The contract to apply to data already in its own domain, and that domain.

    A contract with a trace stage (a ``t^p`` gain, a scale per gather) defines where the
    network looks: every method runs and is scored there (:func:`gained`,
    :func:`scaled_per_gather`) and the network's own trace stage is switched off. Scores
    are then not dominated by the strongest early arrivals.
    """
    if not isinstance(contract, AmplitudeContract) or not contract.trace_stage:
        return contract, "the data's own units"
    log.info("evaluate: scoring in the checkpoint's amplitude domain (%s)", contract.describe())
    return contract.without_trace_stage(), f"the model's: {contract.describe()}"


def _seconds(attrs: dict[str, Any]) -> float:
    dt = sample_interval(attrs)
    if dt is None:
        raise DataError("evaluate: the contract's time gain needs the reference's dt in s")
    return dt


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
