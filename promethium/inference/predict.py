"""In-memory tiled prediction: :func:`tiled_predict`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from promethium.inference.engine import plan, predict_regions, resolve_device
from promethium.inference.volumes import AmplifiedVolume, AxisView, MaskedVolume, axis_order
from promethium.models.amplitude import AmplitudeContract, TraceAmplitude, gather_sample
from promethium.tiling import Region, TileGrid, resolve_overlap, resolve_patch_size


@dataclass
class Layout:
    """How a volume is tiled: the engine's view of it and the global patch grid."""

    view: AxisView
    grid: TileGrid
    spatial_dims: int
    amplitude: AmplifiedVolume | None = None  # the contract's trace stage, if any

    def undo(
        self, values: np.ndarray | torch.Tensor, key: tuple[slice, ...]
    ) -> np.ndarray | torch.Tensor:
        """Output values of source block ``key`` back in the input's units."""
        return values if self.amplitude is None else self.amplitude.undo(values, key)

    @property
    def n_lead(self) -> int:
        """Number of iterated (leading) axes in the engine view."""
        return len(self.view.shape) - self.spatial_dims


def make_layout(
    volume: Any,
    spatial_dims: int,
    patch_size: int | Sequence[int],
    overlap: float | Sequence[int],
    window: str = "cosine",
    mask: np.ndarray | None = None,
    slice_axis: int | str | None = None,
    contract: AmplitudeContract | None = None,
    dt: float | None = None,
) -> Layout:
    """Check the settings against the volume and build its engine view and grid.

    ``contract``'s trace stage (``gain``, ``per: gather``; see
    :mod:`promethium.models.amplitude`) is applied on read, with ``dt`` the input's
    sample interval (s); :meth:`Layout.undo` takes it back off the output.

    Raises:
        ConfigError: for bad ``infer.*`` values; DataError for a volume with too few axes.
    """
    order = axis_order(len(volume.shape), spatial_dims, slice_axis)
    source = MaskedVolume(volume, mask) if mask is not None else volume
    amplitude = None
    if contract is not None and contract.trace_stage:
        masked = source
        stage = TraceAmplitude(
            contract,
            dt,
            lambda gather: gather_sample(masked, gather),
            by_first_axis=len(volume.shape) > spatial_dims,
        )
        source = amplitude = AmplifiedVolume(masked, stage)
    view = AxisView(source, order)
    patch = resolve_patch_size(patch_size, spatial_dims)
    grid = TileGrid(
        shape=tuple(view.shape[-spatial_dims:]),
        patch_size=patch,
        overlap=resolve_overlap(overlap, patch),
        window_kind=window,
    )
    grid.window  # noqa: B018 - validates the window kind before any work starts
    return Layout(view, grid, spatial_dims, amplitude)


def tiled_predict(
    model: nn.Module,
    array: np.ndarray | torch.Tensor,
    patch_size: int | Sequence[int],
    overlap: float | Sequence[int] = 0.25,
    batch_size: int = 8,
    window: str = "cosine",
    *,
    device: str | torch.device | None = None,
    precision: str = "32",
    mask: np.ndarray | None = None,
    slice_axis: int | str | None = None,
    num_workers: int = 0,
    spatial_dims: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    host_blending: bool | None = None,
    dt: float | None = None,
    contract: AmplitudeContract | None = None,
) -> np.ndarray | torch.Tensor:
    """Predict a whole in-memory array with overlapping, window-blended patches.

    A torch tensor gives a tensor on its own device. A CUDA tensor predicted on that GPU
    stays there throughout (patches are gathered from it and blended on the device), as
    with MONAI's ``sliding_window_inference``; NumPy arrays are read in blocks and copied
    to the device block by block.

    Args:
        model: a network on ``(B, 1, *patch)`` (a :class:`PromethiumModel` or any module;
            pass ``spatial_dims`` for modules without that attribute).
        array: ``(*lead, *spatial)`` with time last; leading axes are iterated. NumPy
            array or torch tensor (any device).
        patch_size: patch per model axis (scalar: the same on every axis). Axes shorter
            than the patch are predicted whole.
        overlap: fraction of the patch in ``[0, 1)``, or samples per axis.
        batch_size: patches per forward pass.
        window: ``cosine`` (default), ``gaussian`` or ``constant``.
        device: ``auto``/``None`` (CUDA if available), ``cpu``, ``cuda:N``.
        precision: ``32``, ``bf16-mixed`` or ``16-mixed``.
        mask: live-trace mask over ``array.shape[:-1]`` (0 = dead trace, zeroed on input).
        slice_axis: iterate this axis and tile the others (a 2D model over a cube).
        num_workers: background threads reading ahead.
        spatial_dims: model axes (default ``model.spatial_dims``).
        on_batch: progress callback, called with the patch count of each batch.
        host_blending: blend in NumPy (default on the CPU) or with torch on ``device``
            (default on accelerators: one gather and one scatter-add per batch).
        dt: sample interval (s) of ``array``, for a contract with a ``t^p`` gain.
        contract: the amplitude contract whose trace stage applies (default: the model's
            own, ``model.contract``, as :func:`promethium.api.load_model` gives it).

    Returns:
        float32 values with the shape of ``array``: a NumPy array, or a tensor on
        ``array.device`` for tensor input.
    """
    if isinstance(array, torch.Tensor):
        array = array.detach()
    else:
        array = np.asarray(array, dtype=np.float32)
    dims = int(spatial_dims or model.spatial_dims)
    contract = contract if contract is not None else getattr(model, "contract", None)
    layout = make_layout(
        array, dims, patch_size, overlap, window, mask, slice_axis, contract=contract, dt=dt
    )
    shape = layout.view.shape
    device = resolve_device(device)
    out: np.ndarray | torch.Tensor  # engine axis order
    if isinstance(array, torch.Tensor):
        out = torch.empty(shape, dtype=torch.float32, device=array.device)
    else:
        out = np.empty(shape, dtype=np.float32)

    def sink(region: Region, values: np.ndarray | torch.Tensor) -> None:
        if isinstance(out, torch.Tensor):
            values = torch.as_tensor(values).to(out.device, non_blocking=True)
        out[(*region.lead, *region.box)] = values

    predict_regions(
        model,
        layout.view,
        layout.grid,
        plan(layout.grid, lead_regions(shape, layout.n_lead)),
        sink=sink,
        batch_size=batch_size,
        device=device,
        precision=precision,
        num_workers=num_workers,
        on_batch=on_batch,
        host_blending=host_blending,
        # regions blended on the GPU a tensor output lives on stay there
        host_output=not (isinstance(out, torch.Tensor) and same_device(out.device, device)),
    )
    result = layout.undo(layout.view.to_source(out), tuple(slice(None) for _ in array.shape))
    if isinstance(result, torch.Tensor):
        return result.contiguous()
    return np.ascontiguousarray(result)


def same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are one (``cuda`` without an index is the current GPU)."""

    def index(d: torch.device) -> int:
        if d.index is not None:
            return d.index
        return torch.cuda.current_device() if d.type == "cuda" else 0

    return a.type == b.type and index(a) == index(b)


#: samples per in-memory region: big enough to fill batches, small enough that reading
#: the next region and writing the last one back overlap the forward passes
REGION_SAMPLES = 4 * 2**20


def lead_regions(shape: Sequence[int], n_lead: int) -> list[Region]:
    """Whole model-axes slices, grouped along the first iterated axis (~4 M samples each)."""
    full = tuple(slice(0, n) for n in shape)
    if n_lead == 0:
        return [Region((), full)]
    per_index = int(np.prod(shape[1:], dtype=np.int64))
    step = max(1, REGION_SAMPLES // max(per_index, 1))
    return [
        Region(
            (slice(start, min(start + step, shape[0])), *full[1:n_lead]), full[n_lead:], key=start
        )
        for start in range(0, shape[0], step)
    ]
