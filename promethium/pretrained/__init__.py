"""Pretrained Promethium networks, shipped in the package (no network access at run time).

Each model is a small weights-only checkpoint (weights, training config and model card,
no optimiser state) under ``promethium/pretrained/weights/``, listed with its card's
summary in ``weights/index.json``. ``scripts/build_pretrained.py`` trains and measures
every one with the ``run.py`` commands its card records, and rewrites the folder.

Wherever a checkpoint goes, a command line takes ``pretrained:NAME`` (the latest version)
or ``pretrained:NAME@VERSION``::

    python run.py experiment=marmousi_interp init_from=pretrained:marmousi_interp
    python run.py task=infer ckpt_path=pretrained:marmousi_denoise@1 input=SHOTS.zarr ...

From Python::

    from promethium import pretrained
    [m.name for m in pretrained.list()]
    net = pretrained.load("marmousi_interp")          # a PromethiumModel, in eval mode
"""

from __future__ import annotations

import builtins
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from promethium.errors import ConfigError
from promethium.ml.checkpoints import load_trained_network
from promethium.models import PromethiumModel

#: where the shipped checkpoints and their index lie
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: the index of names, versions and card summaries (written by scripts/build_pretrained.py)
INDEX_FILE = "index.json"
#: how a command line names a shipped model: ``pretrained:NAME`` or ``pretrained:NAME@VERSION``
PREFIX = "pretrained:"


@dataclass(frozen=True)
class PretrainedModel:
    """One shipped model version, as its index entry describes it.

    Attributes:
        name: the model's name (``marmousi_interp``).
        version: its version, counting from 1.
        file: the checkpoint's file name under :data:`WEIGHTS_DIR`.
        description: what it does and what it was trained on, in a sentence.
        task: the task kind (``interpolation``, ``denoising``, ``physics-informed``).
        trained_on: the training data, in words.
        metric: the key of ``task=evaluate``'s ``metrics.json`` that :attr:`score` is.
        score: that figure, measured by the build script with :attr:`evaluate`.
        baselines: the classical methods' figures on the same input (same metric).
        train: the ``run.py`` overrides that trained it.
        evaluate: the ``run.py`` overrides that measured it (``ckpt_path`` added).
        data: how the training or evaluation data were made, where ``run.py`` alone
            does not make them (``{placeholder: recipe}``), e.g. the F3 line.
    """

    name: str
    version: int
    file: str
    description: str
    task: str
    trained_on: str
    metric: str
    score: float
    baselines: dict[str, float] = field(default_factory=dict)
    train: tuple[str, ...] = ()
    evaluate: tuple[str, ...] = ()
    data: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The checkpoint file (a regular ``.ckpt``: ``ckpt_path`` and ``init_from`` take it)."""
        return WEIGHTS_DIR / self.file

    @property
    def reference(self) -> str:
        """The command-line reference of this exact version, ``pretrained:NAME@VERSION``."""
        return f"{PREFIX}{self.name}@{self.version}"


def _entries(weights_dir: Path = WEIGHTS_DIR) -> builtins.list[PretrainedModel]:
    index = weights_dir / INDEX_FILE
    if not index.is_file():
        return []
    raw = json.loads(index.read_text())
    models = []
    for entry in raw.get("models", []):
        entry = dict(entry)
        for key in ("train", "evaluate"):
            entry[key] = tuple(entry.get(key, ()))
        models.append(PretrainedModel(**entry))
    return sorted(models, key=lambda m: (m.name, m.version))


def list() -> builtins.list[PretrainedModel]:  # noqa: A001 - the name the issue and SeisBench use
    """Every shipped model version, by name then version."""
    return _entries()


def names() -> builtins.list[str]:
    """The shipped models' names."""
    return sorted({m.name for m in _entries()})


def find(name: str, version: int | str = "latest") -> PretrainedModel:
    """The shipped model ``name`` at ``version`` (``"latest"``: the highest).

    Raises:
        ConfigError: an unknown name (listing the names) or version (listing the versions).
    """
    models = _entries()
    same = [m for m in models if m.name == name]
    if not same:
        known = ", ".join(sorted({m.name for m in models})) or "none are installed"
        raise ConfigError(f"{PREFIX}{name}: no such pretrained model; allowed: {known}")
    if str(version) == "latest":
        return max(same, key=lambda m: m.version)
    try:
        wanted = int(version)
    except ValueError:
        wanted = -1
    for model in same:
        if model.version == wanted:
            return model
    versions = ", ".join(str(m.version) for m in same)
    raise ConfigError(f"{PREFIX}{name}@{version}: no such version; allowed: {versions} or latest")


def is_reference(value: str | os.PathLike) -> bool:
    """Whether ``value`` names a shipped model (``pretrained:NAME[@VERSION]``)."""
    return str(value).startswith(PREFIX)


def from_reference(reference: str | os.PathLike) -> PretrainedModel:
    """The model a ``pretrained:NAME[@VERSION]`` reference names.

    Raises:
        ConfigError: a reference without a name, or one :func:`find` refuses.
    """
    text = str(reference)[len(PREFIX) :]
    name, _, version = text.partition("@")
    if not name:
        raise ConfigError(
            f"{reference}: a pretrained reference is pretrained:NAME or pretrained:NAME@VERSION; "
            f"allowed names: {', '.join(names()) or 'none are installed'}"
        )
    return find(name, version or "latest")


def checkpoint_file(reference: str | os.PathLike) -> Path:
    """The shipped checkpoint file of a ``pretrained:`` reference."""
    return from_reference(reference).path


def load(
    name: str, version: int | str = "latest", map_location: str | torch.device = "cpu"
) -> PromethiumModel:
    """The shipped network ``name`` (in its amplitude contract), ready for inference.

    Args:
        name: a name from :func:`names`.
        version: a version number, or ``"latest"``.
        map_location: where the weights are loaded.
    """
    model, _ = load_trained_network(find(name, version).path, map_location)
    return model


def card(name: str, version: int | str = "latest") -> dict[str, Any]:
    """The model card of a shipped model (see :mod:`promethium.ml.model_card`)."""
    from promethium.ml.model_card import read_card

    return read_card(find(name, version).path)


__all__ = [
    "PREFIX",
    "WEIGHTS_DIR",
    "PretrainedModel",
    "card",
    "checkpoint_file",
    "find",
    "from_reference",
    "is_reference",
    "list",
    "load",
    "names",
]
