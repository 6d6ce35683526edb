"""``api.infer`` on in-memory data: NumPy, torch and xarray in, the same kind out.

The task's settings apply as on the command line: the checkpoint's patch size and
amplitude contract, recorded traces passed through for interpolation models, dead
traces (all zero, or NaN at every sample as MDIO fills absent traces) never used as
input, and NaN anywhere else refused (:func:`promethium.data.inputs.absent_traces`). An
``xarray.DataArray`` (e.g. ``mdio.open_mdio(path)["amplitude"]``) keeps its dimensions,
coordinates and attributes; its time (or depth) dimension may sit anywhere, and its
sample interval for a gained contract comes from that coordinate (MDIO's time is in
ms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from promethium.data.inputs import absent_traces
from promethium.data.mdio import TIME_UNITS
from promethium.errors import DataError
from promethium.inference import tiled_predict
from promethium.tasks.common import keeps_observed, patch_size


def check_array(data: Any) -> None:
    """Refuse what cannot be seismic samples: complex, object or text, or an empty axis.

    Raises:
        DataError: naming ``api.infer input``, its dtype or shape, and what is allowed.
    """
    if isinstance(data, torch.Tensor):
        shape, kind = tuple(data.shape), "c" if data.is_complex() else "f"
    else:
        array = np.asarray(data)
        shape, kind = array.shape, array.dtype.kind
    if kind not in "fiub":
        raise DataError(
            f"api.infer input: dtype {getattr(data, 'dtype', type(data).__name__)}; allowed: "
            "real numbers (float or integer); complex input would lose its imaginary part: "
            "pass .real (or each part) instead"
        )
    if len(shape) < 1 or 0 in shape:
        raise DataError(
            f"api.infer input: shape {shape} has an empty axis; allowed: at least one trace "
            "of at least one sample, time last"
        )


def is_dataarray(data: Any) -> bool:
    """Whether ``data`` is an ``xarray.DataArray`` (without importing xarray)."""
    return type(data).__module__.startswith("xarray") and hasattr(data, "dims")


def _from_dataarray(data: Any) -> tuple[np.ndarray, float | None, Callable[[np.ndarray], Any]]:
    """Values with time last, the sample interval (s) if known, and how to wrap a result."""
    dims = list(data.dims)
    time = next((d for d in reversed(dims) if str(d) in TIME_UNITS), dims[-1])
    ordered = data.transpose(*[d for d in dims if d != time], time)
    dt = None
    if time in data.coords and data.sizes[time] > 1:
        step = float(np.median(np.diff(np.asarray(data.coords[time].values, dtype=np.float64))))
        units = str(data.coords[time].attrs.get("units", "")).lower()
        scale = 1.0 if units in ("s", "second", "seconds") else TIME_UNITS.get(str(time), 1e-3)
        dt = step * scale if step > 0 else None

    def wrap(values: np.ndarray) -> Any:
        return ordered.copy(data=values).transpose(*dims)

    return np.asarray(ordered.values, dtype=np.float32), dt, wrap


def predict_array(
    model: nn.Module,
    train_config: dict[str, Any],
    data: Any,
    *,
    patch: int | list[int] | None = None,
    overlap: float | list[int] = 0.25,
    batch_size: int = 8,
    window: str = "cosine",
    device: str | torch.device | None = None,
    keep_observed: bool | None = None,
    dt: float | None = None,
) -> Any:
    """Tile ``model`` over ``data`` (``(..., time)``) and return the result as ``data`` came.

    Args:
        model: the network in its amplitude contract (``api.load_checkpoint``).
        train_config: the training config saved with it.
        data: NumPy array, torch tensor (any device) or ``xarray.DataArray``.
        patch: tiling patch (default: the training patch).
        overlap: fraction of the patch, or samples per axis.
        batch_size: patches per forward pass.
        window: ``cosine``, ``gaussian`` or ``constant``.
        device: where the network runs (default: CUDA if available).
        keep_observed: recorded traces pass through (default: the trained task kind's).
        dt: sample interval (s), for a contract with a time gain (a DataArray gives its own).
    """
    wrap: Callable[[Any], Any] = lambda values: values  # noqa: E731 - identity
    if is_dataarray(data):
        data, coord_dt, wrap = _from_dataarray(data)
        dt = dt if dt is not None else coord_dt
    check_array(data)
    keep = keeps_observed(keep_observed, train_config)
    tiles = patch_size(patch, train_config, "patch")
    given_tensor = isinstance(data, torch.Tensor)
    # one path for both: a CPU tensor over NumPy memory costs no copy
    values = (
        data.detach().float() if given_tensor else torch.from_numpy(np.asarray(data, np.float32))
    )
    absent = torch.from_numpy(absent_traces(values.cpu().numpy(), "api.infer input"))
    absent = absent.to(values.device)
    values = torch.where(absent[..., None], torch.zeros_like(values), values)
    live = (values != 0).any(-1)  # dead: all zero, or absent (NaN at every sample)
    out = tiled_predict(
        model,
        values,
        tiles,
        overlap,
        batch_size,
        window,
        device=device,
        mask=live.cpu().numpy(),
        dt=dt,
    )
    if keep:
        out = torch.where(live[..., None], values, out)
    return out if given_tensor else wrap(out.cpu().numpy())
