"""A name -> model-class registry, in the style of torchvision's ``models/_api.py``.

Names are normalised (case, ``-`` and ``_`` ignored) at registration and at lookup, so
``ModelRegistry.build("UNet")`` and ``ModelRegistry.build("unet")`` agree.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from promethium.errors import ConfigError

if TYPE_CHECKING:
    from promethium.models.base import PromethiumModel

M = TypeVar("M", bound=type)


def normalize_name(name: str) -> str:
    """Return the canonical form of a model name (lower case, no ``-``/``_``/spaces)."""
    return "".join(ch for ch in str(name).lower() if ch not in "-_ ")


class ModelRegistry:
    """Class-level registry of :class:`~promethium.models.base.PromethiumModel` builders.

    Example:
        >>> @ModelRegistry.register("my_net")
        ... class MyNet(PromethiumModel): ...
        >>> net = ModelRegistry.build("my_net", spatial_dims=2)

    """

    _models: dict[str, type[PromethiumModel]] = {}

    @classmethod
    def register(cls, name: str) -> Callable[[M], M]:
        """Class decorator registering a model class under ``name``.

        Raises:
            ValueError: if the normalised name is already taken.

        """
        key = normalize_name(name)
        if not key:
            raise ValueError(f"model name {name!r} is empty after normalisation")

        def decorator(model_cls: M) -> M:
            if key in cls._models and cls._models[key] is not model_cls:
                raise ValueError(
                    f"model name {name!r} is already registered "
                    f"(by {cls._models[key].__qualname__}); known names: {cls.names()}"
                )
            cls._models[key] = model_cls
            model_cls.registry_name = key  # type: ignore[attr-defined]  # set on registration
            return model_cls

        return decorator

    @classmethod
    def get(cls, name: str) -> type[PromethiumModel]:
        """Return the class registered under ``name``.

        Raises:
            ConfigError: naming ``name`` and the known names when it is not registered.

        """
        key = normalize_name(name)
        if key not in cls._models:
            raise ConfigError.about(
                "name", f"unknown model {name!r}; known names: {', '.join(cls.names())}"
            )
        return cls._models[key]

    @classmethod
    def build(cls, name: str, **kwargs: Any) -> PromethiumModel:
        """Instantiate the model registered under ``name`` with ``kwargs``."""
        return cls.get(name)(**kwargs)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PromethiumModel:
        """Build a network from a plain ``model`` mapping: ``name`` selects the entry.

        The mapping is what a run's ``model`` config node resolves to (and what a
        checkpoint stores), so networks are rebuilt without Hydra.

        Raises:
            ConfigError: naming ``model.name`` or the ``model.*`` option that is wrong.
        """
        params = dict(config)
        name = params.pop("name", None)
        if name is None:
            raise ConfigError(f"model.name: missing; known names: {', '.join(cls.names())}")
        model_cls = cls.get(name)
        accepted = inspect.signature(model_cls.__init__).parameters
        unknown = sorted(k for k in params if k not in accepted)
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
            allowed = ", ".join(k for k in accepted if k != "self")
            keys = ", ".join(f"model.{k}" for k in unknown)
            raise ConfigError(
                f"{keys}: not {'a setting' if len(unknown) == 1 else 'settings'} of "
                f"model={normalize_name(name)} (a recipe for another model may set "
                f"{'it' if len(unknown) == 1 else 'them'}: choose that recipe's model, or "
                f"remove with ~model.{unknown[0]}); allowed: {allowed}",
                param=f"model.{unknown[0]}",
            )
        try:
            return model_cls(**params)
        except ConfigError as err:
            raise err.at("model") from None
        except TypeError as err:  # a constructor's own type complaint: name the node
            raise ConfigError(f"model: {err}") from err

    @classmethod
    def names(cls) -> list[str]:
        """Sorted list of registered (normalised) model names."""
        return sorted(cls._models)

    @classmethod
    def unregister(cls, name: str) -> None:
        """Remove ``name`` from the registry (for tests and plugins)."""
        cls._models.pop(normalize_name(name), None)
