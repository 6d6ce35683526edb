"""The evaluation report: ``report.md`` with a metric table and seismic QC figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from promethium.plotting import fk_figure, plot_panels, trace_figure

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
    held_out: str = "",
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
        *(
            [f"The gathers are the training data's test split: held out {held_out}."]
            if held_out
            else []
        ),
        "",
        *_table(summary, best),
        "",
    ]
    for g in range(min(panels, clean.shape[0])):
        gathers = {"clean": clean[g], **{k: v[g] for k, v in outputs.items()}}
        fig = plot_panels(gathers, dt=dt, title=f"gather {g}: same clip on every panel")
        fig.savefig(figures / f"gather{g}_panels.png", dpi=80)
        diffs = {f"{k} - clean": v[g] - clean[g] for k, v in outputs.items()}
        scale = {"clean (for scale)": clean[g], **diffs}
        fig = plot_panels(scale, dt=dt, title=f"gather {g}: method - clean, shared clip")
        fig.savefig(figures / f"gather{g}_differences.png", dpi=80)
        fk_figure(gathers, dt, dx).savefig(figures / f"gather{g}_fk.png", dpi=90)
        dead = np.flatnonzero(masks[g] == 0) if masks is not None else []
        trace = int(dead[0]) if len(dead) else clean.shape[1] // 2
        trace_figure(gathers, trace, dt).savefig(figures / f"gather{g}_trace.png", dpi=90)
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
