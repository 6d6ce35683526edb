"""MDIO v1 datasets as Promethium stores: read in place, written back with their metadata.

MDIO (TGS, ``multidimio``) keeps a survey in a Zarr v3 group: a variable (default
``amplitude``) over named dimensions with time (or depth) last, a boolean ``trace_mask``,
structured trace ``headers``, dimension coordinates (``inline``, ``crossline``, ``time``
in ms, ...) and coordinates such as ``cdp_x``/``cdp_y``. Reading needs only zarr: an
MDIO group is presented through :class:`MdioGroup` with the attributes the Promethium
convention asks for (``dt`` from the time coordinate, ``axis_names`` from the dimension
names, ``dx`` from the CDP coordinates), so training and inference read its chunks
lazily exactly as they read a Promethium store. Writing goes through ``mdio`` itself
(the optional extra ``pip install -e ".[mdio]"``): :func:`write_like` copies the
input's dataset (dimensions, coordinates, headers, trace mask, attributes) with new
amplitudes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from promethium.errors import DataError
from promethium.files import atomic_path

#: MDIO's sample dimensions and their unit: the time coordinate in ms (to s), depth in m
TIME_UNITS = {"time": 1e-3, "depth": 1.0}
INSTALL_HINT = 'MDIO support needs the optional extra: pip install -e ".[mdio]"'


def is_mdio(group: zarr.Group) -> bool:
    """Whether a Zarr group is an MDIO v1 dataset (its ``apiVersion`` and variable name)."""
    attrs = dict(group.attrs)
    return "apiVersion" in attrs and "defaultVariableName" in (attrs.get("attributes") or {})


def import_mdio() -> Any:
    """The ``mdio`` package, or a :class:`DataError` saying how to install it."""
    try:
        import mdio
    except ImportError as err:
        raise DataError(f"{INSTALL_HINT} ({err})") from err
    return mdio


class MdioGroup:
    """An MDIO dataset seen as a Promethium store group (read-only).

    ``group["amplitude"]`` is the dataset's default variable (``amplitude`` unless the
    template names another); ``trace_mask`` and everything else are its own arrays;
    :attr:`attrs` are the convention's attributes derived from the dataset (see the
    module docstring).
    """

    def __init__(self, group: zarr.Group, path: str | os.PathLike) -> None:
        self.group, self.path = group, str(path)
        self.variable = str(group.attrs["attributes"]["defaultVariableName"])
        if self.variable not in group:
            raise DataError(f"{path}: MDIO variable {self.variable!r} is missing")
        self.array = group[self.variable]
        self.attrs = self._attributes()

    def _name(self, name: str) -> str:
        return self.variable if name == "amplitude" else name

    def __contains__(self, name: str) -> bool:
        if name.startswith("headers/"):  # one field of MDIO's structured trace headers
            return name in self.group or name.split("/", 1)[1] in self._header_fields()
        return self._name(name) in self.group

    def __getitem__(self, name: str) -> Any:
        if name == "headers" and "headers" in self.group:
            return HeaderFields(self.group["headers"])
        if name.startswith("headers/") and name not in self.group:
            return HeaderFields(self.group["headers"])[name.split("/", 1)[1]]
        return self.group[self._name(name)]

    def _header_fields(self) -> tuple[str, ...]:
        return HeaderFields(self.group["headers"]).array_keys() if "headers" in self.group else ()

    def arrays(self) -> Iterator[tuple[str, Any]]:
        """The dataset's arrays under their Promethium names."""
        for name, array in self.group.arrays():
            yield ("amplitude" if name == self.variable else name), array

    def _attributes(self) -> dict[str, Any]:
        dims = list(self.array.metadata.dimension_names or [])
        if len(dims) != self.array.ndim or self.array.ndim < 2:
            raise DataError(f"{self.path}: MDIO variable {self.variable!r} has no dimension names")
        domain = dims[-1]
        samples = (
            np.asarray(self.group[domain][...], dtype=np.float64) if domain in self.group else []
        )
        if len(samples) < 2 or not np.all(np.diff(samples) > 0):
            raise DataError(f"{self.path}: MDIO coordinate {domain!r} gives no sample interval")
        step = float(np.median(np.diff(samples))) * TIME_UNITS.get(domain, 1e-3)
        return {
            "dt": step,
            "dx": self._spacings(dims[:-1]),
            "axis_names": [*dims[:-1], "time"],
            "units": {"data": "as recorded", "dt": "s" if domain == "time" else "m", "dx": "m"},
            "provenance": {"mdio": self.path, "template": self.group.attrs.get("name")},
            "format_version": 1,
        }

    def _spacings(self, dims: list[str]) -> list[float | None]:
        """Trace spacing (m) along each non-time dimension from ``cdp_x``/``cdp_y``."""
        spacing: list[float | None] = [None] * len(dims)
        if "cdp_x" not in self.group or "cdp_y" not in self.group:
            return spacing
        x, y = (np.asarray(self.group[c][...], dtype=np.float64) for c in ("cdp_x", "cdp_y"))
        if x.shape != tuple(self.array.shape[:-1]):
            return spacing
        valid = (x != 0) | (y != 0)
        for axis in range(len(dims)):
            step = np.hypot(np.diff(x, axis=axis), np.diff(y, axis=axis))
            both = np.logical_and(
                np.take(valid, range(1, x.shape[axis]), axis),
                np.take(valid, range(x.shape[axis] - 1), axis),
            )
            good = step[both & np.isfinite(step) & (step > 0)]
            spacing[axis] = round(float(np.median(good)), 3) if good.size else None
        return spacing


class HeaderFields:
    """MDIO's structured ``headers`` array as a group of one array per field.

    Promethium stores keep each trace header as ``headers/<name>``; MDIO keeps them as one
    structured array (fields such as ``trace_id_code``, ``cdp_x``, ``inline``).
    """

    def __init__(self, headers: Any) -> None:
        self.headers = headers

    def array_keys(self) -> tuple[str, ...]:
        return tuple(np.dtype(self.headers.dtype).names or ())

    def __getitem__(self, field: str) -> np.ndarray:
        return np.asarray(self.headers[...])[field]


def write_like(
    source: str | os.PathLike, values: Any, target: Path, chunks: tuple[int, ...]
) -> None:
    """Write ``values`` as a copy of MDIO dataset ``source`` with new amplitudes, atomically.

    Args:
        source: the input MDIO dataset (dimensions, coordinates, headers, trace mask and
            attributes are carried over).
        values: array-like of the variable's shape (e.g. a Zarr array, read by chunks).
        target: the output path; a temporary sibling is renamed into place.
        chunks: the output variable's chunks (the inference tiles' chunks).
    """
    mdio = import_mdio()
    import dask.array as da

    dataset = mdio.open_mdio(str(source))
    variable = str(dataset.attrs["attributes"]["defaultVariableName"])
    old = dataset[variable]
    if tuple(old.shape) != tuple(values.shape):
        raise DataError(f"{target}: output shape {values.shape} differs from {source} {old.shape}")
    out = dataset.copy()
    out[variable] = old.copy(data=da.from_array(values, chunks=chunks).astype(old.dtype))
    out[variable].attrs = {k: v for k, v in old.attrs.items() if k != "statsV1"}
    out[variable].encoding = {**old.encoding, "chunks": tuple(chunks)}
    out[variable].encoding.pop("preferred_chunks", None)
    with atomic_path(target) as tmp:
        mdio.to_mdio(out, str(tmp), mode="w")


def segy_to_mdio(
    segy_path: str | os.PathLike,
    mdio_path: str | os.PathLike,
    template: str = "PostStack3DTime",
    overwrite: bool = False,
) -> Path:
    """Import a SEG-Y file into an MDIO v1 dataset with ``mdio`` (SEG-Y rev 1 headers).

    Args:
        segy_path: the SEG-Y file.
        mdio_path: the dataset to write.
        template: an MDIO template name (``PostStack3DTime``, ``PostStack2DTime``,
            ``CdpOffsetGathers3DTime``, ...; ``mdio.builder.template_registry.list_templates()``).
        overwrite: replace an existing dataset.

    Raises:
        DataError: missing input, existing output, unknown template, or a file ``mdio``
            cannot index with the template.
    """
    mdio = import_mdio()
    from mdio.builder.template_registry import get_template, list_templates
    from segy.standards import get_segy_standard

    source, target = Path(segy_path), Path(mdio_path)
    if not source.is_file():
        raise DataError(f"{source}: no such SEG-Y file")
    if target.exists() and not overwrite:
        raise DataError(f"{target}: exists; pass --overwrite to replace it")
    if template not in list_templates():
        raise DataError(
            f"{template}: unknown MDIO template; allowed: {', '.join(list_templates())}"
        )
    try:
        with atomic_path(target) as tmp:
            mdio.segy_to_mdio(get_segy_standard(1.0), get_template(template), source, tmp)
    except (ValueError, KeyError) as err:
        raise DataError(f"{source}: mdio cannot import it as {template} ({err})") from err
    return target
