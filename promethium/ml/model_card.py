"""The model card every trained checkpoint carries: what the network is, saw and scored.

``task=train`` writes the card into each checkpoint under :data:`CARD_KEY` as plain
JSON types (SeisBench's model cards and torchvision's weight metadata are the model),
so it is read with ``torch.load(weights_only=True)``, without Lightning or Hydra:

- ``format_version`` (:data:`FORMAT_VERSION`), the Promethium version and git commit;
- ``model``: the fully resolved constructor arguments (every default written out, so a
  default changed later, as ``model.stem_stride`` was, cannot alter an old model);
- ``task``: the kind (interpolation, denoising, physics) and the monitored metric;
- ``contract``: the amplitude contract (``normalize``) the network expects;
- ``data``: the training store or survey, its content fingerprint, shape, ``dt``, axis
  names, the corruption and record applied; ``amplitude``: RMS and percentiles of the
  training input after the contract (what :func:`amplitude_mismatch` compares a new
  survey with);
- ``metrics``: the final and best figures; ``command``: the command line.

Checkpoints written before the card existed (format 0) get one from what they hold
(:func:`migrate_card`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from promethium.models import ModelRegistry
from promethium.models.amplitude import AmplitudeContract

#: the checkpoint key of the card
CARD_KEY = "promethium_card"
#: the card's format; :func:`migrate_card` brings older ones up to it
FORMAT_VERSION = 1
#: percentiles of |amplitude| a card records
PERCENTILES = (50, 90, 99)
#: how far (a ratio) a survey's amplitudes may be from the training input's unwarned
MISMATCH_RATIO = 10.0


def promethium_version() -> str:
    """The installed Promethium's version string."""
    from promethium import __version__

    return __version__


def jsonable(value: Any) -> Any:
    """``value`` as JSON types (NaN as None): a checkpoint stays weights-only loadable."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic | np.ndarray):
        return jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item):  # a 0-d torch tensor
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def store_fingerprint(path: str | os.PathLike) -> str | None:
    """A sha256 of a store's traces as stored (``amplitude``/``data`` files and metadata).

    Hashes the stored (compressed) chunk files, not the decoded samples, so it costs one
    read of the array's bytes on disk. ``None`` for a store that is not a local folder.
    """
    root = Path(path)
    if not root.is_dir():
        return None
    digest = hashlib.sha256()
    for name in ("amplitude", "data"):
        folder = root / name
        if not folder.is_dir():
            continue
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(root)).encode())
            with file.open("rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
        break
    return digest.hexdigest()


def amplitude_statistics(samples: Iterable[np.ndarray]) -> dict[str, float | int | None]:
    """RMS and percentiles of |x| over the live traces of ``samples`` (arrays ``(..., time)``).

    A trace zero at every sample (missing, dead, or hidden by a corruption) is no data
    and is left out.
    """
    live = []
    for x in samples:
        flat = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        live.append(flat[np.abs(flat).max(axis=1) > 0].ravel())
    values = np.concatenate(live) if live else np.zeros(0)
    if not values.size:
        return {"rms": None, **{f"p{q}": None for q in PERCENTILES}, "samples": 0}
    magnitudes = np.abs(values)
    return {
        "rms": float(np.sqrt(np.mean(np.square(values)))),
        **{f"p{q}": float(np.percentile(magnitudes, q)) for q in PERCENTILES},
        "samples": int(values.size),
    }


def survey_amplitudes(
    volume: Any,
    contract: AmplitudeContract | None,
    spatial_dims: int,
    dt: float | None = None,
    trace_stage: bool = True,
    items: int = 8,
    crop: int = 256,
) -> dict[str, float | int | None]:
    """:func:`amplitude_statistics` of a survey in its model's units (after the contract).

    Up to ``items`` gathers (evenly spaced along the leading axes; the whole array when it
    has no more axes than the network), each cropped to its central ``crop`` samples per
    axis, go through the contract as the network would see them: the trace stage (time
    gain, per-gather scale; skipped with ``trace_stage=False``, for data it was applied
    to) and the patch stage (one scale per crop, trace or sample).

    Args:
        volume: ``(..., time)`` array-like (NumPy, Zarr); only the chosen crops are read.
        contract: the model's contract (``None``: raw amplitudes).
        spatial_dims: the network's axes (the trailing axes of one gather).
        dt: the sample interval (s), for a time gain; unknown (``None``) skips the gain.
        trace_stage: whether to apply the contract's trace stage (``False``: done already).
        items: gathers sampled at most.
        crop: samples kept per axis of each gather, around its centre.
    """
    shape = tuple(volume.shape)
    lead = shape[: max(len(shape) - spatial_dims, 0)]
    count = int(np.prod(lead)) if lead else 1
    chosen = np.unique(np.linspace(0, count - 1, min(items, count)).round().astype(int))
    window = tuple(
        slice(max((n - crop) // 2, 0), max((n - crop) // 2, 0) + min(n, crop))
        for n in shape[len(lead) :]
    )
    crops = []
    for flat in chosen:
        index = np.unravel_index(int(flat), lead) if lead else ()
        x = np.asarray(volume[(*(int(i) for i in index), *window)], dtype=np.float64)
        x = np.nan_to_num(x)  # absent traces (NaN) are no data
        if contract is not None and trace_stage and contract.trace_stage:
            if contract.gain and dt:
                x = x * contract.gain_curve(window[-1].start, x.shape[-1], float(dt))
            if contract.per_gather:
                x = x / contract.statistic(x)
        if contract is not None and contract.per_patch:
            t = torch.from_numpy(x)[None, None]
            x = (t / contract.scale(t))[0, 0].numpy()
        crops.append(x)
    return amplitude_statistics(crops)


def amplitude_mismatch(card: Mapping[str, Any], observed: Mapping[str, Any]) -> str | None:
    """Why a survey's amplitudes (after the contract) do not fit the model's; None if they do.

    Compares the RMS of ``observed`` (:func:`amplitude_statistics` of the survey, in the
    contract's units) with the card's training input; a ratio beyond
    :data:`MISMATCH_RATIO` either way is named with both figures and ``normalize``.
    """
    trained = (card.get("amplitude") or {}).get("rms")
    seen = observed.get("rms")
    if not trained or not seen:
        return None
    ratio = float(seen) / float(trained)
    if 1 / MISMATCH_RATIO <= ratio <= MISMATCH_RATIO:
        return None
    contract = card.get("contract") or {}
    described = contract.get("kind", "none") if contract else "none"
    return (
        f"the input's RMS amplitude after the model's amplitude contract (normalize: "
        f"{described}) is {float(seen):.4g}, {ratio:.3g}x the {float(trained):.4g} of the data "
        "the model was trained on: its output may be meaningless; train with normalize=rms "
        "(scales every patch, any survey fits), or scale the survey to the training data's "
        "units"
    )


def resolved_model_config(model: Mapping[str, Any]) -> dict[str, Any]:
    """A model config with every constructor argument, defaults included.

    Nested registry configs (a ``backbone`` with a ``name``) are resolved too, less the
    ``spatial_dims`` and channel counts their parent passes. Keys a constructor does not
    take are left as they are (:meth:`ModelRegistry.from_config` names them).
    """
    params = dict(model)
    name = params.get("name")
    if name is None:
        return params
    model_cls = ModelRegistry.get(str(name))
    signature = inspect.signature(model_cls.__init__)
    resolved: dict[str, Any] = {"name": name}
    for key, parameter in signature.parameters.items():
        if key == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if key in params:
            resolved[key] = params[key]
        elif parameter.default is not parameter.empty:
            resolved[key] = parameter.default
    for key, value in params.items():
        resolved.setdefault(key, value)
        if isinstance(value, Mapping) and "name" in value:
            inner = resolved_model_config(value)
            given = set(value)
            resolved[key] = {
                k: v
                for k, v in inner.items()
                if k in given or k not in ("spatial_dims", "in_channels", "out_channels")
            }
    return jsonable(resolved)


def contract_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``normalize`` settings of a run config, without ``_target_`` (``kind: none``)."""
    node = config.get("normalize") or {}
    settings = {k: v for k, v in node.items() if k != "_target_"}
    return jsonable(settings) if settings else {"kind": "none"}


def task_section(config: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The card's task: its kind and the monitored metric."""
    task = config.get("task") or {}
    return {"kind": kind, "monitor": task.get("monitor"), "mode": task.get("mode")}


def data_section(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a run config says of its data (path or source, patch, corruption, record)."""
    data = dict(config.get("data") or {})
    source = data.get("source")
    corruption = config.get("corruption")
    transforms = corruption.get("transforms") if isinstance(corruption, Mapping) else None
    source = source if isinstance(source, Mapping) else {}
    return jsonable(
        {
            "source": source.get("_target_"),
            "survey": data.get("path") or source.get("path"),
            "patch_size": data.get("patch_size"),
            "corruption": transforms if transforms is not None else data.get("corruption"),
            "record": data.get("record"),
        }
    )


def command_line() -> str:
    """This process's command line, as a shell would take it back."""
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def new_card(
    config: Mapping[str, Any], kind: str, git: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A card from a run's resolved config: everything known before the data is opened."""
    return {
        "format_version": FORMAT_VERSION,
        "promethium": {
            "version": promethium_version(),
            "git_commit": (git or {}).get("git_commit"),
            "git_dirty": (git or {}).get("git_dirty"),
        },
        "model": resolved_model_config(config.get("model") or {}),
        "task": task_section(config, kind),
        "contract": contract_settings(config),
        "data": data_section(config),
        "amplitude": {},
        "metrics": {"final": {}, "best": {}},
        "command": command_line(),
        "seed": jsonable(config.get("seed")),
    }


def migrate_card(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """The card of a checkpoint, brought up to :data:`FORMAT_VERSION`.

    Format 0 (checkpoints written before cards, Promethium 0.1.0) holds only the training
    config: the card is built from it, its model arguments resolved with today's defaults
    where the config lacks them (what loading such a checkpoint has always done), and
    marked ``migrated_from: 0``; unknown fields (data fingerprint, amplitudes) stay empty.
    """
    from promethium.ml.checkpoints import task_kind

    card = ckpt.get(CARD_KEY)
    if isinstance(card, Mapping) and int(card.get("format_version", 0)) >= 1:
        return dict(card)
    config = (ckpt.get("hyper_parameters") or {}).get("config") or {}
    kind = (ckpt.get("hyper_parameters") or {}).get("kind") or task_kind(config)
    migrated = new_card(config, str(kind))
    migrated.update(
        migrated_from=0,
        command=None,
        promethium={"version": "0.1.0 or earlier", "git_commit": None, "git_dirty": None},
    )
    migrated["metrics"]["final"] = jsonable(
        {"epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step")}
    )
    for state in (ckpt.get("callbacks") or {}).values():  # the checkpoint callback's state
        if isinstance(state, Mapping) and state.get("best_model_score") is not None:
            best = {str(state.get("monitor")): state["best_model_score"]}
            migrated["metrics"]["best"] = jsonable(best)
    return migrated


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The card of the checkpoint at ``path`` (read weights-only, without Lightning).

    Raises:
        DataError: a missing or unreadable checkpoint, naming the file.
    """
    from promethium.ml.checkpoints import read_checkpoint

    return migrate_card(read_checkpoint(path, key="checkpoint"))


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping) or (
        isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value)
    ):
        return "`" + json.dumps(value) + "`"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "—" if value is None else str(value)


def card_markdown(card: Mapping[str, Any], title: str = "Model card") -> str:
    """The card as Markdown: a heading per section, a two-column table each."""
    lines = [f"# {title}", ""]
    task = card.get("task") or {}
    model = card.get("model") or {}
    lines += [
        f"A `{model.get('name')}` network for **{task.get('kind')}**, card format "
        f"{card.get('format_version')}"
        + (f" (migrated from format {card['migrated_from']})" if "migrated_from" in card else "")
        + ".",
        "",
    ]
    sections: list[tuple[str, Mapping[str, Any]]] = [
        ("Promethium", card.get("promethium") or {}),
        ("Model arguments", model),
        ("Task", task),
        ("Amplitude contract (normalize)", card.get("contract") or {}),
        ("Training data", card.get("data") or {}),
        ("Training input amplitudes (after the contract)", card.get("amplitude") or {}),
        ("Final metrics", (card.get("metrics") or {}).get("final") or {}),
        ("Best metrics", (card.get("metrics") or {}).get("best") or {}),
    ]
    if card.get("pretrained"):  # a shipped model (promethium.pretrained): how it was made
        sections.append(("Pretrained model", card["pretrained"]))
    if card.get("evaluation"):  # task=evaluate on held-out data, the truth known
        sections.append(("Evaluation (held out)", card["evaluation"]))
    for heading, entries in sections:
        lines += [f"## {heading}", ""]
        if not entries:
            lines += ["(not recorded)", ""]
            continue
        lines += ["| key | value |", "| --- | --- |"]
        lines += [f"| `{k}` | {_value(v)} |" for k, v in entries.items()]
        lines.append("")
    lines += ["## Command", "", f"    {card.get('command') or '(not recorded)'}", ""]
    return "\n".join(lines)


def data_provenance(datamodule: Any) -> dict[str, Any]:
    """The training store of a set-up data module: where, its fingerprint, layout, split."""
    attrs = dict(datamodule.store_attrs)
    path = datamodule.path
    shape = None
    if datamodule.datasets:
        shape = list(datamodule.datasets["train"].shape)
    split = datamodule.split
    return jsonable(
        {
            "store": str(path) if path is not None else None,
            "fingerprint": store_fingerprint(path) if path is not None else None,
            "shape": shape,
            "dt": attrs.get("dt"),
            "dx": attrs.get("dx"),
            "axis_names": attrs.get("axis_names"),
            "units": attrs.get("units"),
            "provenance": attrs.get("provenance"),
            "fitted_patch_size": list(datamodule.patch_size),
            "held_out": split.held_out if split is not None else None,
        }
    )
