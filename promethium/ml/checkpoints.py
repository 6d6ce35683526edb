"""Reading Promethium checkpoints safely (no Lightning needed).

Every checkpoint is read with ``torch.load(weights_only=True)`` (never torch's default,
which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` can turn into executing pickled code), and
every way a file can fail to be a Promethium checkpoint (text, truncated, a bare
tensor, no weights, weights of another shape) ends in one :class:`DataError` naming it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from promethium.errors import ConfigError, DataError, PromethiumError
from promethium.ml.model_card import CARD_KEY
from promethium.models import ModelRegistry, PromethiumModel
from promethium.models.amplitude import AmplitudeContract, NormalizedNetwork


def unreadable_checkpoint(path: Path, key: str, err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in one line.

    A file that pickles code (a global weights-only loading does not allow) is named as
    such, with torch's own warning kept: load it another way only if its source is trusted.
    """
    text = " ".join(str(err).split())
    if "Weights only load failed" in text:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        what = f" ({found.group(1)})" if found else ""
        return (
            f"{path}: refused ({key}): the file pickles code{what} that would run when it is "
            "loaded, and Promethium loads checkpoints weights-only; use a checkpoint written "
            "by task=train, and open this one otherwise only if you trust its source"
        )
    first = text or type(err).__name__
    return f"{path}: not a readable checkpoint ({key}): {first[:200]}"


def read_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", key: str = "ckpt_path"
) -> dict[str, Any]:
    """The checkpoint's contents, checked to hold a training config and weights.

    Args:
        path: the ``.ckpt`` file.
        map_location: where tensors are loaded.
        key: the config key that named the file, for messages.

    Raises:
        DataError: naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such checkpoint ({key})")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - pickle, zip and torch errors of many types
        raise DataError(unreadable_checkpoint(path, key, err)) from err
    if not isinstance(ckpt, dict):
        raise DataError(
            f"{path}: holds a {type(ckpt).__name__}, not a Promethium checkpoint ({key}); "
            "use a .ckpt written by task=train"
        )
    config = (ckpt.get("hyper_parameters") or {}).get("config")
    if not isinstance(config, dict) or "model" not in config:
        raise DataError(
            f"{path}: no model config in the checkpoint, not a Promethium checkpoint ({key})"
        )
    if not isinstance(ckpt.get("state_dict"), dict):
        raise DataError(f"{path}: the checkpoint holds no weights (state_dict) ({key})")
    return ckpt


def network_from_checkpoint(
    ckpt: dict[str, Any], path: str | os.PathLike, key: str = "ckpt_path"
) -> PromethiumModel:
    """Build the registry network of ``ckpt``'s model config and load its weights.

    The model card's resolved arguments (every default as it was at training) are used
    where the checkpoint has a card, so a default changed since cannot alter the network;
    older checkpoints are built from their model config with today's defaults.

    Raises:
        DataError: if the saved model config or weights do not make a network.
    """
    card = ckpt.get(CARD_KEY)
    model = card.get("model") if isinstance(card, dict) else None
    try:
        net = ModelRegistry.from_config(model or ckpt["hyper_parameters"]["config"]["model"])
    except PromethiumError as err:
        raise DataError(f"{path}: the checkpoint's model config is not usable ({err})") from err
    state = {
        k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")
    }
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        detail = str(err).strip().splitlines()
        raise DataError(
            f"{path}: the checkpoint's weights do not fit its model config ({key}): "
            f"{' '.join(line.strip() for line in detail[:3])[:300]}"
        ) from err
    return net


def with_amplitude_contract(net: nn.Module, config: dict[str, Any], path: Any) -> nn.Module:
    """``net`` wrapped in the ``normalize`` contract it was trained with (if any).

    The contract is built from its saved parameters, never from a ``_target_`` in the
    file: a checkpoint names no code to run.

    Raises:
        DataError: if the saved settings do not make a contract.
    """
    contract = saved_contract(config, path)
    return net if contract is None else NormalizedNetwork(net, contract)


def saved_contract(config: dict[str, Any], path: Any) -> AmplitudeContract | None:
    """The amplitude contract (``normalize``) a run was trained with; None if it had none.

    Raises:
        DataError: if the saved settings do not make a contract.
    """
    settings = {k: v for k, v in (config.get("normalize") or {}).items() if k != "_target_"}
    if settings.get("kind", "none") == "none" and not settings.get("gain"):
        return None
    try:
        return AmplitudeContract(**settings)
    except (PromethiumError, TypeError) as err:
        raise DataError(
            f"{path}: the checkpoint's normalize settings are unusable ({err})"
        ) from err


def load_trained_network(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", key: str = "ckpt_path"
) -> tuple[nn.Module, dict[str, Any]]:
    """The checkpoint's network, in its amplitude contract and eval mode, and its config.

    Raises:
        DataError: a missing or unusable checkpoint (see :func:`read_checkpoint`).
    """
    ckpt = read_checkpoint(path, map_location, key)
    config = ckpt["hyper_parameters"]["config"]
    net = with_amplitude_contract(network_from_checkpoint(ckpt, path, key), config, path)
    return net.to(map_location).eval(), config


#: task kind (``task.kind``) -> whether inference keeps recorded samples by default: a
#: network trained to fill missing traces never improves on a recorded one
KEEPS_OBSERVED: dict[str, bool] = {"interpolation": True, "denoising": False, "physics": True}


def task_kind(config: dict[str, Any]) -> str:
    """The task kind a checkpoint's run config was trained for (``task.kind``).

    Checkpoints written before ``task.kind`` existed did not record it; theirs is the one
    their recipe implied: ``physics`` for ``model=pinn``, ``interpolation`` when the data
    hid traces (a ``MissingTraces`` corruption), else ``denoising``.
    """
    kind = (config.get("task") or {}).get("kind")
    if kind:
        return str(kind)
    if (config.get("model") or {}).get("name") == "pinn":
        return "physics"
    hides = any(
        str(c.get("_target_", "")).endswith("MissingTraces") for c in training_corruptions(config)
    )
    return "interpolation" if hides else "denoising"


def training_corruptions(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The corruptions a checkpoint's run config trained with, in order (config entries).

    The ``corruption`` group's ``transforms``; checkpoints written before the group
    existed kept them as ``data.corruption`` (a list, or one entry).
    """
    node = config.get("corruption")
    if isinstance(node, dict):
        entries = node.get("transforms") or []
    else:
        entries = (config.get("data") or {}).get("corruption") or []
    entries = entries if isinstance(entries, list) else [entries]
    return [e for e in entries if isinstance(e, dict)]


def model_differences(
    saved: dict[str, Any], current: dict[str, Any], prefix: str = "model"
) -> list[str]:
    """``key: checkpoint X, this run Y`` for every differing leaf of two model configs."""
    lines = []
    for name in sorted(set(saved) | set(current), key=str):
        a, b = saved.get(name, "<absent>"), current.get(name, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += model_differences(a, b, f"{prefix}.{name}")
        elif a != b:
            lines.append(f"{prefix}.{name}: checkpoint {a!r}, this run {b!r}")
    return lines


#: what Lightning needs to resume a run, besides the weights
RESUME_STATE = ("optimizer_states", "loops", "epoch", "global_step")


def check_resumable(ckpt: dict[str, Any], path: Path, model_config: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint into a run whose model config differs.

    Raises:
        ConfigError: naming the differing ``model.*`` keys and both values, or the training
            state a weights-only checkpoint lacks.
        DataError: weights that do not fit the checkpoint's own model config.
    """
    differences = model_differences(ckpt["hyper_parameters"]["config"]["model"], model_config)
    if differences:
        shown = "; ".join(differences[:5]) + ("; ..." if len(differences) > 5 else "")
        raise ConfigError(
            f"ckpt_path: {path} was trained with another model config ({shown}); resume with "
            "the checkpoint's model settings, or start a new run without ckpt_path"
        )
    missing = [k for k in RESUME_STATE if k not in ckpt]
    if missing:
        raise ConfigError(
            f"ckpt_path: {path} holds no training state to resume ({', '.join(missing)} "
            f"missing: a weights-only checkpoint?); start from its weights with "
            f"init_from={path} instead"
        )
    network_from_checkpoint(ckpt, path)  # weights that fit the model, or one clear error
