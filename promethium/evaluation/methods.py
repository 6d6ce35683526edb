"""The classical methods an evaluation runs beside the network, chosen by the corruption."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from promethium import baselines


def methods_for(
    params: Mapping[str, Mapping[str, Any]],
    inputs: np.ndarray,
    masks: np.ndarray,
    clean: np.ndarray,
    dt: float,
    dx: float,
    missing: bool,
) -> dict[str, Callable[[], np.ndarray]]:
    """The classical methods that apply to this corruption, with their parameters.

    ``params``: keyword arguments by method (``evaluate.baselines``). ``missing``: traces
    were removed (interpolation methods); denoising methods apply when live traces
    differ from the clean ones.
    """
    live = masks[..., None].astype(bool)
    noisy = bool(np.any(np.abs(inputs - clean)[np.broadcast_to(live, clean.shape)] > 1e-6))
    chosen: dict[str, Callable[[], np.ndarray]] = {}
    if missing:
        chosen["linear_interpolation"] = lambda: baselines.linear_interpolation(inputs, masks)
        chosen["pocs"] = lambda: baselines.pocs(inputs, masks, **params.get("pocs", {}))
    if noisy:
        chosen["bandpass"] = lambda: baselines.bandpass(inputs, dt, **params.get("bandpass", {}))
        chosen["fx_decon"] = lambda: baselines.fx_decon(inputs, dt, **params.get("fx_decon", {}))
        fk = dict(params.get("fk_dip_filter", {}))
        chosen["fk_dip_filter"] = lambda: baselines.fk_dip_filter(inputs, dt, dx=dx, **fk)
        fx = dict(params.get("fx_decon", {}))
        chosen["fk_fx_decon"] = lambda: baselines.fk_fx_decon(inputs, dt, dx, fk, fx)
    return chosen
