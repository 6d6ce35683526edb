"""Config helpers: OmegaConf resolvers, value checks, and builders from composed configs.

Hydra composes the config; these functions turn its nodes into library objects and
reject bad values with a message that names the key and the allowed values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from promethium.errors import ConfigError
from promethium.models import ModelRegistry, PromethiumModel


def register_resolvers() -> None:
    """Register Promethium's OmegaConf resolvers (idempotent).

    ``${len:${data.patch_size}}`` gives the patch dimensionality, so ``model.spatial_dims``
    follows the data.
    """
    if not OmegaConf.has_resolver("len"):
        OmegaConf.register_new_resolver("len", lambda seq: len(seq))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# (key, test, allowed values) checked before anything is built; the libraries check the
# rest, and their errors are re-raised with the config key by the builders below.
_RULES: list[tuple[str, Callable[[Any], bool], str]] = [
    ("seed", lambda v: v is None or _is_int(v), "an integer or null"),
    (
        "trainer.max_epochs",
        lambda v: v is None or (_is_int(v) and (v == -1 or v >= 1)),
        "a positive integer, or -1 for no limit",
    ),
    (
        "trainer.max_steps",
        lambda v: v is None or (_is_int(v) and (v == -1 or v >= 1)),
        "a positive integer, or -1 for no limit",
    ),
    (
        "trainer.accumulate_grad_batches",
        lambda v: v is None or (_is_int(v) and v >= 1),
        "a positive integer",
    ),
    (
        "task.optimizer.lr",
        lambda v: v is None or (isinstance(v, int | float) and v > 0),
        "a positive number",
    ),
    ("data.batch_size", lambda v: v is None or (_is_int(v) and v >= 1), "a positive integer"),
    (
        "task.scheduler.T_max",
        lambda v: v is None or (_is_int(v) and v >= 1),
        "a positive number of epochs (set trainer.max_epochs, or use another scheduler)",
    ),
]
_MISSING = object()


def check_config(cfg: DictConfig) -> None:
    """Validate the values that commonly go wrong on the command line.

    Raises:
        ConfigError: naming the first invalid key, its value and the allowed values.

    """
    for key, test, allowed in _RULES:
        value = OmegaConf.select(cfg, key, default=_MISSING)
        if value is not _MISSING and not test(value):
            raise ConfigError(f"{key}: got {value!r}; allowed: {allowed}")


def build_model(model_cfg: DictConfig | dict) -> PromethiumModel:
    """Build a network from a ``model`` node (see :meth:`ModelRegistry.from_config`)."""
    if isinstance(model_cfg, DictConfig):
        return ModelRegistry.from_config(OmegaConf.to_container(model_cfg, resolve=True))
    return ModelRegistry.from_config(model_cfg)


# Where each task's parameters live, most specific first: an error raised while a task
# runs names its parameter; the first of these nodes that has it gives the config key.
PARAMETER_NODES = {
    "train": (
        "model",
        "model.backbone",
        "data",
        "data.source",
        "corruption",
        "task",
        "task.loss",
        "normalize",
        "trainer",
    ),
    "infer": ("infer", "infer.mask", "model", "model.backbone", "normalize"),
    "evaluate": (
        "evaluate",
        "evaluate.corruption",
        "infer",
        "infer.mask",
        "data",
        "data.source",
        "corruption",
        "model",
        "model.backbone",
        "normalize",
    ),
}


def locate_parameter(cfg: DictConfig, err: ConfigError) -> ConfigError:
    """``err`` named by the config key of its parameter, if one of the task's nodes has it.

    Library code names a parameter (``ConfigError.param``), not where a config put it;
    this searches the nodes of :data:`PARAMETER_NODES` for the running task, so the
    message names a key that exists in ``cfg``. An error already naming a key of ``cfg``,
    or whose parameter no node has, is returned unchanged.
    """
    if err.param is None or OmegaConf.select(cfg, err.param, default=_MISSING) is not _MISSING:
        return err
    task = str(OmegaConf.select(cfg, "task.name", default=""))
    head = err.param.split(".")[0]
    for node in PARAMETER_NODES.get(task, ()):
        parent = OmegaConf.select(cfg, node, default=None)
        if isinstance(parent, DictConfig) and head in parent:
            return err.at(node)
    return err


def build_node(cfg: DictConfig, key: str, **kwargs: Any) -> Any:
    """``instantiate`` the node at ``key``; library errors are re-raised naming the key."""
    node = OmegaConf.select(cfg, key)
    if node is None:
        return None
    try:
        return instantiate(node, _convert_="all", **kwargs)
    except ConfigError as err:
        raise err.at(key) from None
    except Exception as err:  # hydra wraps constructor errors in InstantiationException
        cause = err.__cause__ or err
        if isinstance(cause, ConfigError):
            raise cause.at(_failing_node(cfg, err, key)) from None
        raise ConfigError(f"{key}: {cause}") from err


def _failing_node(cfg: DictConfig, err: Exception, key: str) -> str:
    """The config key of the node whose constructor failed, from Hydra's ``full_key``.

    Hydra writes list items without a separator (``augment.transforms0``); the result
    is the dotted path that selects the node, ``augment.transforms.0``.
    """
    match = re.search(r"full_key: (\S+)", str(err))
    if not match:
        return key
    parts: list[str] = []
    for part in match.group(1).split("."):
        item = re.fullmatch(r"(.*\D)(\d+)", part)
        prefix = ".".join([*parts, item.group(1)]) if item else ""
        if item and isinstance(OmegaConf.select(cfg, prefix), ListConfig):
            parts += [item.group(1), item.group(2)]
        else:
            parts.append(part)
    return ".".join(parts)


def build_collection(cfg: DictConfig, key: str) -> list[Any]:
    """Instantiate each entry with a ``_target_`` in the mapping at ``key`` (callbacks, loggers)."""
    node = OmegaConf.select(cfg, key)
    if not node:
        return []
    return [
        build_node(cfg, f"{key}.{name}")
        for name, item in node.items()
        if isinstance(item, DictConfig) and "_target_" in item
    ]
