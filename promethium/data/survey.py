"""What a converted SEG-Y survey holds, and which sort suits its layout.

:func:`summarise` reads a store written by :func:`promethium.data.segy.segy_to_zarr`
(attributes, ``trace_mask`` and the trace headers) and :func:`describe` turns the
summary into the lines ``scripts/segy_to_zarr.py`` prints: format and byte order, sort
keys and the gathers they make, live and dead traces, sampling, and a suggestion when
the layout looks like another one (a cube sorted as shots, one-trace gathers).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from promethium.data.store import TRACE_MASK, open_store

CUBE_SORT = ["INLINE_3D", "CROSSLINE_3D"]


def _distinct(group: Any, name: str, valid: np.ndarray) -> int:
    key = f"headers/{name}"
    return int(np.unique(np.asarray(group[key][...])[valid]).size) if key in group else 0


def summarise(store: str | os.PathLike) -> dict[str, Any]:
    """The layout of a store made from SEG-Y: counts, sampling, and a suggested sort.

    Returns:
        ``format``, ``endian``, ``sort``, ``gathers``, ``traces_per_gather`` (min, median,
        max of recorded traces), ``live``, ``dead`` (flagged dead or zero everywhere),
        ``absent`` (grid positions with no trace), ``samples``, ``dt_ms`` and
        ``suggestion`` (a sentence, or ``None`` when the sort suits the layout).
    """
    group, data = open_store(store)
    attrs = dict(group.attrs)
    provenance = attrs.get("provenance", {})
    present = np.asarray(group["trace_index"][...]) >= 0
    live = np.asarray(group[TRACE_MASK][...]) if TRACE_MASK in group else present
    per_gather = present.sum(axis=1)
    sort = list(provenance.get("sort") or attrs.get("segy", {}).get("sort") or [])
    summary: dict[str, Any] = {
        "format": provenance.get("format"),
        "endian": provenance.get("endian"),
        "sort": sort,
        "gathers": int(data.shape[0]),
        "traces_per_gather": [
            int(per_gather.min()),
            int(np.median(per_gather)),
            int(per_gather.max()),
        ],
        "live": int(live.sum()),
        "dead": int((present & ~live).sum()),
        "absent": int((~present).sum()),
        "samples": int(data.shape[-1]),
        "dt_ms": float(attrs["dt"]) * 1e3,
    }
    summary["suggestion"] = suggest_sort(summary, group, present)
    return summary


def suggest_sort(summary: dict[str, Any], group: Any, present: np.ndarray) -> str | None:
    """A sentence on the sort for the layout found, or ``None`` when it suits it."""
    inlines = _distinct(group, "INLINE_3D", present)
    crosslines = _distinct(group, "CROSSLINE_3D", present)
    if summary["sort"] != CUBE_SORT and inlines > 1 and crosslines > 1:
        return (
            f"the inline/crossline headers span {inlines} x {crosslines} positions: a "
            "post-stack cube reads best as one with --sort INLINE_3D CROSSLINE_3D "
            "(data.source.sort=[INLINE_3D,CROSSLINE_3D], infer.segy_sort=[INLINE_3D,CROSSLINE_3D])"
        )
    if summary["gathers"] == 1:
        return (
            "one gather (a single shot or a 2D line): the recipes split it along the line "
            "into training, validation and test blocks; the commands stay as they are"
        )
    if summary["traces_per_gather"][2] == 1:
        return (
            "every gather holds one trace: this sort does not gather the survey; for a 2D "
            "line use --sort FieldRecord (one record) or no sort (--sort with no key)"
        )
    return None


def describe(summary: dict[str, Any]) -> list[str]:
    """The summary as the lines the conversion script prints."""
    low, median, high = summary["traces_per_gather"]
    lines = [
        f"format {summary['format']}, {summary['endian']}-endian; "
        f"{summary['samples']} samples at {summary['dt_ms']:g} ms",
        f"sort {', '.join(summary['sort']) or '(file order)'}: {summary['gathers']} gathers of "
        f"{low}-{high} traces (median {median})",
        f"traces: {summary['live']} live, {summary['dead']} dead (flagged or zero), "
        f"{summary['absent']} absent grid positions",
    ]
    if summary["suggestion"]:
        lines.append(f"suggestion: {summary['suggestion']}")
    return lines


__all__ = ["describe", "suggest_sort", "summarise"]
