"""Hydra override grammar -> Optuna distributions, and trial parameters -> overrides.

``interval(a, b)`` is a float range, ``tag(int, interval(a, b))`` an integer one and
``tag(log, ...)`` samples on a log scale; ``range(a, b, step)`` is a stepped int or float
range with Python's exclusive stop; ``choice(...)`` is categorical. Anything that is
not a sweep is a fixed override passed to every trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import OverrideParseException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from promethium.errors import ConfigError


def flatten(params: Mapping[str, Any] | None, prefix: str = "") -> dict[str, str]:
    """``{model: {depth: "choice(2,3)"}}`` -> ``{"model.depth": "choice(2,3)"}``.

    (``hydra.sweeper.params.model.depth=...`` on the command line nests the key.)
    """
    flat: dict[str, str] = {}
    for key, value in (params or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override.

    Raises:
        ConfigError: naming the key for sweeps Optuna cannot sample (shuffled, empty).
    """
    key = override.get_key_element()
    value = override.value()
    if override.is_choice_sweep():
        assert isinstance(value, ChoiceSweep)
        choices = [c for c in override.sweep_iterator(transformer=Transformer.encode)]
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        start, stop, step = value.start, value.stop, value.step
        if any(isinstance(v, float) for v in (start, stop, step)):
            count = math.floor((stop - start) / step - 1e-9) + 1
            return FloatDistribution(start, start + (count - 1) * step, step=step)
        last = start + ((stop - start - 1) // step) * step
        return IntDistribution(int(start), int(last), step=int(step))
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        log = "log" in value.tags
        if "int" in value.tags:
            return IntDistribution(int(value.start), int(value.end), log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigError(
        f"hydra.sweeper.params.{key}: {override.input_line!r} is not a sweep Optuna can "
        "sample; allowed: choice(...), range(a, b[, step]), interval(a, b), tag(log|int, ...)"
    )


def parse(
    params: Mapping[str, Any] | None, arguments: Sequence[str]
) -> tuple[dict[str, BaseDistribution], list[str]]:
    """The search space (config ``params`` plus sweep arguments) and the fixed overrides.

    Returns:
        ``(distributions, fixed)``: distributions by override key (e.g. ``+model.x``
        keeps its ``+``), and the non-sweep overrides as written.
    """
    lines = [(f"hydra.sweeper.params.{k}", f"{k}={v}") for k, v in flatten(params).items()]
    lines += [(line.partition("=")[0], line) for line in arguments]
    space: dict[str, BaseDistribution] = {}
    fixed: list[str] = []
    for override in (_parse_one(key, line) for key, line in lines):
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed.append(override.input_line)
    return space, fixed


def _parse_one(key: str, line: str) -> Any:
    """One override line, or a ConfigError naming ``key`` and the grammar allowed."""
    try:
        return OverridesParser.create().parse_overrides([line])[0]
    except OverrideParseException as err:
        reason = next((s for s in str(err).splitlines() if "while evaluating" in s), str(err))
        raise ConfigError(
            f"{key}: {reason.strip()}; allowed: choice(a,b,...), range(start,stop[,step]), "
            "interval(low,high), tag(log, interval(...)), tag(int, ...), or a fixed value"
        ) from None


def to_override(key: str, value: Any) -> str:
    """An override line setting ``key`` to a sampled ``value``."""
    if isinstance(value, str):
        return f"{key}={value}"  # categorical values are already override-encoded
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={value!r}"


def grid(space: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """The grid of a search space of choices and stepped ranges.

    Raises:
        ConfigError: for continuous intervals (no grid).
    """
    points: dict[str, list[Any]] = {}
    for key, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            points[key] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            points[key] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            n = int(round((dist.high - dist.low) / dist.step)) + 1
            points[key] = [dist.low + i * dist.step for i in range(n)]
        else:
            raise ConfigError(
                f"hydra.sweeper.params.{key}: the grid sampler needs choice(...) or "
                "range(...); got a continuous interval"
            )
    return points
