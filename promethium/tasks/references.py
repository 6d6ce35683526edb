"""The gathers an evaluation scores: held-out test gathers or a clean reference file.

Both are corrupted with a fixed seed.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig

from promethium.config import build_node
from promethium.data.inputs import absent_traces, open_input
from promethium.data.store import TRACE_MASK, open_store
from promethium.data.transforms import (
    BlindSpot,
    CorruptionChain,
    MissingTraces,
    bind_store_sampling,
    make_corruption,
)
from promethium.errors import ConfigError, DataError
from promethium.tasks.builders import build_datamodule

log = logging.getLogger("promethium.evaluate")


@dataclass
class References:
    """The clean gathers ``(G, trace, time)`` an evaluation scores, and how to corrupt them.

    ``live`` (``(G, trace)``, or ``None``: all) marks the reference's recorded traces: a
    field reference has dead or absent ones, which no method is scored on.
    """

    clean: np.ndarray
    attrs: dict[str, Any]
    corruption: Any
    live: np.ndarray | None = None
    #: what of the training data these are (the test split), in words; "" for a file
    held_out: str = ""


def reference_gathers(cfg: DictConfig) -> References:
    """``evaluate.input``: the first ``n_gathers`` gathers of a clean reference file.

    The corruption is ``evaluate.corruption`` (a list of corruptions), else the composed
    ``corruption`` group's; corruptions with unset sampling take the file's.
    """
    ecfg = cfg.evaluate
    sort = list(ecfg.get("segy_sort", []))
    source = open_input(str(ecfg.input), cfg.paths.cache_dir, sort)
    if len(source.volume.shape) != 3:
        raise DataError(
            f"{ecfg.input}: evaluate.input must hold (gather, trace, time) gathers; got "
            f"shape {tuple(source.volume.shape)}"
        )
    n = int(ecfg.n_gathers)
    clean = np.asarray(source.volume[:n], dtype=np.float32)
    key = "evaluate.corruption" if ecfg.get("corruption") is not None else "corruption"
    corruption = make_corruption(build_node(cfg, key))
    bind_store_sampling(corruption, source.attrs)
    mask = source.trace_mask()
    clean, live = recorded_only(clean, None if mask is None else mask[:n], str(ecfg.input))
    return References(clean, source.attrs, corruption, live)


def recorded_only(
    clean: np.ndarray, live: np.ndarray | None, name: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Reference gathers with dead and absent traces zeroed, and the recorded-trace mask.

    Absent traces (NaN at every sample) are dead; other NaN is refused
    (:func:`~promethium.data.inputs.absent_traces`, the one NaN policy).
    """
    dead = None if live is None else ~np.asarray(live, dtype=bool)
    absent = absent_traces(clean, name, dead)
    if absent.any():
        live = ~absent if live is None else live & ~absent
    if live is None:
        return clean, None
    return np.where(live[..., None], clean, np.float32(0)), live


def held_out_gathers(cfg: DictConfig) -> References:
    """The clean test gathers ``(G, trace, time)``: the configured data's, or the input's."""
    if cfg.evaluate.get("input"):
        return reference_gathers(cfg)
    datamodule = build_datamodule(cfg)
    datamodule.setup("test")
    assert datamodule.path is not None  # set by setup
    group, array = open_store(datamodule.path)
    if array.ndim != 3:
        raise DataError(
            f"{datamodule.path}: evaluate needs a (gather, trace, time) store; got {array.shape}"
        )
    regions = datamodule.datasets["test"].regions[: int(cfg.evaluate.n_gathers)]
    if not regions:
        raise DataError(
            f"{datamodule.path}: the test split holds no gathers; raise data.test_fraction"
        )
    # the whole time axis of each test region's traces (all of a gather, or the test
    # stretch of a line too short to hold out whole gathers)
    traces = [(*r.lead, r.box[0]) for r in regions]
    clean = np.stack([np.asarray(array[t], dtype=np.float32) for t in traces])
    live = None
    if TRACE_MASK in group:
        live = np.stack([np.asarray(group[TRACE_MASK][t], dtype=bool) for t in traces])
    clean, live = recorded_only(clean, live, str(datamodule.path))
    corruption = datamodule.corruption
    if cfg.evaluate.get("corruption") is not None:  # evaluate.corruption wins, here too
        corruption = make_corruption(build_node(cfg, "evaluate.corruption"))
        bind_store_sampling(corruption, datamodule.store_attrs)
    held_out = datamodule.split.held_out if datamodule.split else ""
    return References(clean, datamodule.store_attrs, corruption, live, held_out)


def scorable(refs: References) -> References:
    """The gathers that carry signal: SNR, PSNR and SSIM are undefined against zeros.

    Raises:
        DataError: when there is no gather, or every reference gather is all zero.
    """
    clean = refs.clean
    parts = refs.corruption.corruptions if isinstance(refs.corruption, CorruptionChain) else []
    hides = isinstance(refs.corruption, MissingTraces) or any(
        isinstance(c, MissingTraces) for c in parts
    )
    if hides and clean.ndim == 3 and clean.shape[1] < 2:
        raise DataError(
            f"evaluate: the reference gathers hold {clean.shape[1]} trace each (shape "
            f"{clean.shape}), and missing traces are filled from their neighbours: each "
            "gather would lose its only trace or none (PSNR in the hundreds of dB); form "
            "gathers of several traces (data.source.sort or evaluate.segy_sort, e.g. "
            "[FieldRecord])"
        )
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
    keep = energy > 0
    live = None if refs.live is None else refs.live[keep]
    return dataclasses.replace(refs, clean=clean[keep], live=live)


def corrupt(clean: np.ndarray, corruption: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt each gather with one seeded generator: ``(inputs, masks (G, trace))``."""
    if corruption is None:
        raise ConfigError.about("corruption", "evaluate needs a corruption to undo; none is set")
    rng = np.random.default_rng(seed)
    pairs = [corruption(g.copy(), rng) for g in clean]
    inputs = np.stack([p[0] for p in pairs]).astype(np.float32)
    masks = np.stack(
        [np.broadcast_to(p[1], g.shape)[..., 0] for p, g in zip(pairs, clean, strict=True)]
    )
    return inputs, masks


@dataclass
class Pass:
    """One evaluation pass: an input every method fills, and the traces it is scored on.

    ``inputs`` ``(G, trace, time)``; ``masks`` ``(G, trace)``, 1 where the input holds the
    recorded trace; ``scored`` ``(G, trace)`` bool, the traces whose outputs this pass
    contributes to the scores.
    """

    inputs: np.ndarray
    masks: np.ndarray
    scored: np.ndarray


def refuse_blind_spots(corruption: Any) -> None:
    """Refuse to score a self-supervised denoiser's blind spots as if they were noise.

    Blind spots (``BlindSpot``, the Noise2Void training corruption) hide samples from the
    network; they are no noise a method removes, and a field survey has no clean version
    to score against.

    Raises:
        ConfigError: naming ``evaluate.corruption`` and ``evaluate.input``.
    """
    parts = corruption.corruptions if isinstance(corruption, CorruptionChain) else [corruption]
    if any(isinstance(c, BlindSpot) for c in parts):
        raise ConfigError(
            "evaluate.corruption: the corruption is the recipe's blind spots (self-supervised "
            "denoising), which no method undoes and the survey has no clean version for: set "
            "known noise, e.g. 'evaluate.corruption=[{_target_: "
            "promethium.data.transforms.AdditiveNoise, snr_db: 0}]', or a clean "
            "evaluate.input"
        )


def removes_traces_only(corruption: Any) -> bool:
    """Whether the corruption only removes traces (``MissingTraces``, alone or chained)."""
    parts = corruption.corruptions if isinstance(corruption, CorruptionChain) else [corruption]
    return bool(parts) and all(isinstance(c, MissingTraces) for c in parts)


def survey_folds(live: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each recorded trace's fold, ``0..folds-1`` at random, evenly per gather; -1 if dead."""
    rng = np.random.default_rng(seed)
    fold = np.full(live.shape, -1, dtype=np.int64)
    for g in range(len(live)):
        idx = np.flatnonzero(live[g])
        fold[g, rng.permutation(idx)] = np.arange(idx.size) % folds
    return fold


def evaluation_passes(
    refs: References, folds: int, seed: int, configured: bool
) -> tuple[References, list[Pass], dict[str, float]]:
    """The inputs an evaluation fills, at the survey's own trace density where it can.

    A field survey that already misses traces is filled at its own density: re-hiding
    half of its recorded traces (the training corruption) would score the methods on a
    sparser input than the one they fill. So when the survey misses traces, the
    corruption only removes traces and none is configured for evaluate itself
    (``configured``), its recorded traces are hidden in ``folds`` disjoint random sets,
    one per pass: each input keeps ``(folds - 1) / folds`` of the recorded traces, and
    every recorded trace is scored once, from the pass that hid it. Otherwise one pass
    applies the corruption (seeded).

    Returns:
        The references (gathers with nothing hidden dropped), the passes, and the trace
        densities (fractions of the grid): ``survey`` (recorded) and ``evaluated`` (held
        by the inputs).
    """
    live = refs.live if refs.live is not None else np.ones(refs.clean.shape[:2], dtype=bool)
    survey = float(live.mean())
    if folds > 1 and survey < 1 and not configured and removes_traces_only(refs.corruption):
        fold = survey_folds(live, folds, seed)
        passes = []
        for k in range(folds):
            keep = live & (fold != k)
            inputs = (refs.clean * keep[..., None]).astype(np.float32)
            passes.append(Pass(inputs, keep.astype(np.float32), fold == k))
        evaluated = float((live & (fold != 0)).mean())
        log.info(
            "evaluate: at the survey's own density, %d passes each hiding 1/%d of the "
            "recorded traces",
            folds,
            folds,
        )
        return refs, passes, {"survey": survey, "evaluated": evaluated}
    inputs, masks = corrupt(refs.clean, refs.corruption, seed)
    refs, inputs, masks = with_hidden_traces(refs, inputs, masks)
    held = masks.astype(bool) & (refs.live if refs.live is not None else True)
    scored = np.ones(masks.shape, dtype=bool)
    return refs, [Pass(inputs, masks, scored)], {"survey": survey, "evaluated": float(held.mean())}


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
