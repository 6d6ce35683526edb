"""Figures are built without pyplot: importing them picks no backend and loads no Lightning."""

import os
import subprocess
import sys

import numpy as np

from promethium.plotting import as_section, fk_figure, plot_panels, trace_figure


def test_importing_the_figures_changes_no_backend_and_loads_no_lightning():
    code = "import matplotlib, promethium.evaluation.report, promethium.ml.qc; "
    code += "print(matplotlib.get_backend())"
    env = {**os.environ, "MPLBACKEND": "svg"}  # the user's choice, e.g. a notebook's
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split()[0] == "svg"
    report_only = "import sys, promethium.evaluation.report; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", report_only], capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_panels_share_one_clip_and_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    quiet, loud = rng.normal(size=(8, 32)), 10 * rng.normal(size=(8, 32))
    fig = plot_panels({"quiet": quiet, "loud": loud}, dt=0.004, clip_percentile=99.0)
    clips = {im.get_clim() for ax in fig.axes for im in ax.get_images()}
    expected = np.percentile(np.abs(np.concatenate([quiet.ravel(), loud.ravel()])), 99.0)
    assert len(clips) == 1 and next(iter(clips))[1] == expected
    for name, figure in {
        "panels": fig,
        "fk": fk_figure({"a": quiet}, dt=0.004, dx=12.5),
        "trace": trace_figure({"clean": quiet, "b": loud}, trace=3, dt=0.004),
    }.items():
        figure.savefig(tmp_path / f"{name}.png", dpi=40)
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_as_section_reduces_traces_and_cubes_to_one_section():
    assert as_section(np.arange(5.0)).shape == (1, 5)
    cube = np.arange(3 * 4 * 5.0).reshape(3, 4, 5)
    assert (as_section(cube) == cube[1]).all()
