"""Seismic figures as ``matplotlib.figure.Figure`` objects: panels, FK spectra, traces.

Figures are built without ``pyplot``, so importing this module neither picks a backend
nor keeps figures alive in pyplot's registry; ``fig.savefig`` writes PNGs anywhere (also
with no display) and a figure is freed like any other object.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure


def as_section(x: np.ndarray) -> np.ndarray:
    """A 2D ``(trace, time)`` section of a patch.

    1D traces become one row; for 3D patches the middle slice of the first axis is taken.
    """
    x = np.asarray(x)
    while x.ndim > 2:
        x = x[x.shape[0] // 2]
    return x[None] if x.ndim == 1 else x


def plot_panels(
    panels: Mapping[str, np.ndarray],
    dt: float | None = None,
    clip_percentile: float = 99.0,
    cmap: str = "gray",
    title: str = "",
) -> Figure:
    """Side-by-side seismic panels, time down and traces across, with one shared clip.

    The clip is the ``clip_percentile`` of ``|values|`` over all panels, so that every
    panel is directly comparable.

    Args:
        panels: name -> ``(trace, time)`` array (or anything :func:`as_section` reduces).
        dt: time sampling (s) for a time axis in seconds; sample numbers if ``None``.
        clip_percentile: symmetric colour clip percentile.
        cmap: ``gray``, ``seismic`` or any matplotlib colormap.
        title: figure title.
    """
    sections = {k: as_section(v) for k, v in panels.items()}
    values = np.concatenate([np.abs(v).ravel() for v in sections.values()])
    clip = float(np.percentile(values, clip_percentile)) or 1.0
    fig = Figure(figsize=(3.2 * len(sections), 4.2))
    axes = fig.subplots(1, len(sections), squeeze=False)
    for ax, (name, section) in zip(axes[0], sections.items(), strict=True):
        n_traces, n_samples = section.shape
        ax.imshow(
            section.T,
            cmap=cmap,
            vmin=-clip,
            vmax=clip,
            aspect="auto",
            extent=(0, n_traces, n_samples * (dt or 1), 0),
            interpolation="nearest",
        )
        ax.set_title(name)
        ax.set_xlabel("trace")
    axes[0][0].set_ylabel("time (s)" if dt else "sample")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def fk_figure(gathers: Mapping[str, np.ndarray], dt: float, dx: float) -> Figure:
    """FK amplitude spectra (dB, one colour scale, 60 dB range) of ``(trace, time)`` gathers."""
    spectra = {
        k: 20 * np.log10(np.abs(np.fft.fftshift(np.fft.rfft(v, axis=-1), axes=0)) + 1e-12)
        for k, v in gathers.items()
    }
    top = max(float(s.max()) for s in spectra.values())
    k_max, f_max = 0.5 / dx, 0.5 / dt
    fig = Figure(figsize=(3.0 * len(spectra), 3.6))
    axes = fig.subplots(1, len(spectra), squeeze=False)
    for ax, (name, s) in zip(axes[0], spectra.items(), strict=True):
        ax.imshow(
            s.T,
            aspect="auto",
            cmap="viridis",
            vmin=top - 60,
            vmax=top,
            origin="lower",
            extent=(-k_max, k_max, 0, f_max),
        )
        ax.set_title(name)
        ax.set_xlabel("wavenumber (1/m)")
    axes[0][0].set_ylabel("frequency (Hz)")
    fig.tight_layout()
    return fig


def trace_figure(gathers: Mapping[str, np.ndarray], trace: int, dt: float) -> Figure:
    """Trace ``trace`` of every ``(trace, time)`` gather, time down; ``clean`` drawn thicker."""
    fig = Figure(figsize=(3.4, 6))
    ax = fig.subplots()
    t = np.arange(next(iter(gathers.values())).shape[-1]) * dt
    for name, g in gathers.items():
        ax.plot(g[trace], t, lw=2.0 if name == "clean" else 1.0, label=name)
    ax.invert_yaxis()
    ax.set_xlabel("amplitude")
    ax.set_ylabel("time (s)")
    ax.set_title(f"trace {trace}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
