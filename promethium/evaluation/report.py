"""The evaluation report: ``report.md`` with a metric table and seismic QC figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from promethium.ml.qc import plot_panels  # noqa: E402

LABELS = {
    "snr_db": "SNR (dB)",
    "snr_missing_db": "SNR missing (dB)",
    "psnr_db": "PSNR (dB)",
    "ssim": "SSIM",
    "fk_error_db": "FK error (dB, lower better)",
    "runtime_s": "runtime (s)",
}


def _table(summary: dict[str, dict[str, Any]], best: dict[str, str]) -> list[str]:
    metrics = [m for m in LABELS if m in next(iter(summary.values()))]
    lines = [
        "| method | " + " | ".join(LABELS[m] for m in metrics) + " |",
        "| --- |" + " --- |" * len(metrics),
    ]
    for name, row in summary.items():
        cells = []
        for m in metrics:
            value = row[m]
            if not isinstance(value, dict):
                text = f"{value:.3g}"
            elif value["mean"] is None:
                text = "undefined"
            else:
                text = f"{value['mean']:.3g} ± {value['std']:.2g}"
            cells.append(f"**{text}**" if best.get(m) == name else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _fk_figure(gathers: dict[str, np.ndarray], dt: float, dx: float, path: Path) -> None:
    """FK amplitude spectra (dB, shared colour scale) of one gather per method."""
    spectra = {
        k: 20 * np.log10(np.abs(np.fft.fftshift(np.fft.rfft(v, axis=-1), axes=0)) + 1e-12)
        for k, v in gathers.items()
    }
    top = max(float(s.max()) for s in spectra.values())
    n_traces, n_samples = next(iter(gathers.values())).shape
    k_max, f_max = 0.5 / dx, 0.5 / dt
    fig, axes = plt.subplots(1, len(spectra), figsize=(3.0 * len(spectra), 3.6), squeeze=False)
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
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _trace_figure(gathers: dict[str, np.ndarray], trace: int, dt: float, path: Path) -> None:
    """One trace of every method over the clean one (time down)."""
    fig, ax = plt.subplots(figsize=(3.4, 6))
    t = np.arange(next(iter(gathers.values())).shape[-1]) * dt
    for name, g in gathers.items():
        ax.plot(g[trace], t, lw=2.0 if name == "clean" else 1.0, label=name)
    ax.invert_yaxis()
    ax.set_xlabel("amplitude")
    ax.set_ylabel("time (s)")
    ax.set_title(f"trace {trace}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(
    out_dir: Path,
    clean: np.ndarray,
    outputs: dict[str, np.ndarray],
    masks: np.ndarray | None,
    summary: dict[str, dict[str, Any]],
    best: dict[str, str],
    dt: float,
    dx: float,
    panels: int = 3,
    domain: str = "the data's own units",
) -> Path:
    """Write ``report.md`` and its PNGs into ``out_dir/report``; returns the report path."""
    figures = out_dir / "report"
    figures.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Evaluation report",
        "",
        f"{clean.shape[0]} held-out gathers of {clean.shape[1]} traces x {clean.shape[2]} "
        f"samples (dt {dt * 1e3:g} ms). Mean ± standard deviation over gathers; best method "
        "per column in bold (the corrupted input is the baseline to beat, not a candidate).",
        f"Amplitudes and scores in {domain}.",
        "",
        *_table(summary, best),
        "",
    ]
    for g in range(min(panels, clean.shape[0])):
        gathers = {"clean": clean[g], **{k: v[g] for k, v in outputs.items()}}
        fig = plot_panels(gathers, dt=dt, title=f"gather {g}: same clip on every panel")
        fig.savefig(figures / f"gather{g}_panels.png", dpi=80)
        plt.close(fig)
        diffs = {f"{k} - clean": v[g] - clean[g] for k, v in outputs.items()}
        scale = {"clean (for scale)": clean[g], **diffs}
        fig = plot_panels(scale, dt=dt, title=f"gather {g}: method - clean, shared clip")
        fig.savefig(figures / f"gather{g}_differences.png", dpi=80)
        plt.close(fig)
        _fk_figure(gathers, dt, dx, figures / f"gather{g}_fk.png")
        dead = np.flatnonzero(masks[g] == 0) if masks is not None else []
        trace = int(dead[0]) if len(dead) else clean.shape[1] // 2
        _trace_figure(gathers, trace, dt, figures / f"gather{g}_trace.png")
        lines += [
            f"## Gather {g}",
            "",
            f"![panels](report/gather{g}_panels.png)",
            "",
            f"![differences](report/gather{g}_differences.png)",
            "",
            f"![FK spectra](report/gather{g}_fk.png) ![trace {trace}](report/gather{g}_trace.png)",
            "",
        ]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
