"""Surveys of any layout train with the same command: splits along the line when gathers are few."""

import json

import pytest

from promethium.data.dataset import make_regions
from promethium.data.splits import split_regions
from promethium.errors import ConfigError
from promethium.tasks.common import execute
from tests.helpers import TINY_MODEL, compose_config, write_f3_line

# what the test changes beyond the README's command: run length and network size only
SHORT = [
    "trainer.max_epochs=1",
    "data.samples_per_epoch=8",
    "data.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "logger=none",
    "~callbacks.qc_figures",
    *TINY_MODEL["unet"],
]


def _trace_span(region, start=None, length=None):
    lo = region.lo[0] if start is None else start[0]
    hi = region.hi[0] if length is None else min(start[0] + length, region.hi[0])
    return lo, hi


def test_a_single_line_is_split_along_its_traces_with_a_gap_of_half_a_patch():
    (line,) = make_regions((1, 225, 850), 2)
    split = split_regions([line], 0.15, 0.15, seed=0, patch_size=[64, 128])
    assert split.by == "blocks"
    (train,), (val,), (test,) = split.train, split.val, split.test
    assert _trace_span(train) == (0, 225 - 34 - 34 - 32)
    assert _trace_span(val) == (train.hi[0] + 32, train.hi[0] + 32 + 34)
    assert _trace_span(test) == (val.hi[0], 225)
    assert all(r.lead == (0,) and r.box[1] == slice(0, 850) for r in (train, val, test))
    assert "225 traces, 125 train, a gap of 32, then 34 validation and 34 test" in split.held_out


def test_enough_gathers_are_held_out_whole():
    regions = make_regions((20, 30, 40), 2)
    split = split_regions(regions, 0.15, 0.15, seed=0, patch_size=[16, 32])
    assert split.by == "regions"
    assert (len(split.train), len(split.val), len(split.test)) == (14, 3, 3)
    assert all(r.box == regions[0].box for r in split.train + split.val + split.test)


def test_a_small_cube_without_leading_axes_is_split_along_its_inlines():
    regions = make_regions((23, 18, 75), 3)  # blocks of one patch: 2, too few to split
    split = split_regions(regions, 0.15, 0.15, seed=0, patch_size=[16, 16, 64], axis_name="inline")
    assert split.by == "blocks"
    spans = [_trace_span(r) for r in split.train + split.val + split.test]
    assert spans == [(0, 9), (17, 20), (20, 23)]  # 9 train, a gap of 8, 3 and 3
    assert "23 inlines" in split.held_out


def test_a_line_too_short_for_the_split_names_the_fractions():
    (line,) = make_regions((1, 40, 64), 2)
    with pytest.raises(ConfigError, match=r"val_fraction: .* region of 40 traces cannot hold"):
        split_regions([line], 0.3, 0.3, seed=0, patch_size=[32, 64])


def test_a_2d_line_trains_and_evaluates_with_the_readme_commands(tmp_path):
    write_f3_line(tmp_path / "line.sgy")
    survey = [f"data.path={tmp_path / 'line.sgy'}", "experiment=field_interp"]
    cfg = compose_config(tmp_path, [*survey, *SHORT], tiny=False, data="segy")
    metrics = execute(cfg)
    assert metrics["val/snr_global_missing"] == metrics["val/snr_global_missing"]  # not NaN
    assert metrics["density/survey"] == 1.0 and metrics["density/trained"] == 0.5

    from promethium.tasks.builders import build_datamodule

    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    assert datamodule.split is not None and datamodule.split.by == "blocks"
    (train,) = datamodule.split.train
    patch = datamodule.patch_size[0]
    for name in ("val", "test"):
        windows = datamodule.datasets[name].windows
        assert windows
        for _, start in windows:  # no held-out window reaches a training window
            assert start[0] >= train.hi[0] + patch // 2

    evaluation_args = [
        "task=evaluate",
        *survey,
        f"ckpt_path={tmp_path / 'run/checkpoints/best.ckpt'}",  # the README's
    ]
    evaluation = compose_config(tmp_path, evaluation_args, tiny=False, data="segy")
    result = execute(evaluation)
    assert "62 validation and 62 test" in result["held_out"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "held out a stretch at the end of each of 1 region(s)" in report
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["held_out"] == result["held_out"]
    # a fully recorded line: the recipe's corruption, half of the traces hidden
    assert saved["densities"] == {"survey": 1.0, "evaluated": 0.5, "trained": 0.5}

    # the same line missing half of its traces: scored at its own density, every
    # recorded test trace once, from the pass that hid it
    import numpy as np
    import segyio

    decimated = tmp_path / "decimated.sgy"
    traces = write_f3_line(decimated)
    with segyio.open(str(decimated), "r+", ignore_geometry=True) as f:
        for i in range(1, len(traces), 2):
            f.header[i] = {segyio.TraceField.TraceIdentificationCode: 2}
    on_survey = [o.replace(str(tmp_path / "line.sgy"), str(decimated)) for o in evaluation_args]
    result = execute(compose_config(tmp_path, on_survey, tiny=False, data="segy"))
    densities = result["densities"]
    assert densities["survey"] == pytest.approx(0.5, abs=0.02)
    assert densities["evaluated"] == pytest.approx(0.8 * densities["survey"], abs=0.02)
    # the recipe's corruption on this survey: half of its recorded traces
    assert densities["trained"] == pytest.approx(0.5 * densities["survey"])
    scored = np.load(tmp_path / "run" / "evaluation.npz")
    live = np.abs(scored["clean"]).max(axis=-1) > 0
    assert live.sum() == pytest.approx(0.5 * live.size, abs=2)
    # every recorded trace is filled by each method (none is left as the zero input)
    assert (np.abs(scored["linear_interpolation"]).max(axis=-1)[live] > 0).all()
    # the input and mask saved (and shown) are the first pass's: 4 of 5 recorded traces
    kept = scored["masks"].astype(bool)
    assert not kept[~live].any() and kept.sum() == pytest.approx(0.8 * live.sum(), abs=3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.val_fraction=0"], r"^task\.monitor: val/snr needs validation data, .* "),
        (["task.monitor=val/snrr"], r"^task\.monitor: got 'val/snrr'; the task logs: train/loss"),
        (
            ["callbacks.early_stopping.monitor=val/psnr"],
            r"^callbacks\.early_stopping\.monitor: got 'val/psnr'; .*val/snr_global_missing",
        ),
    ],
)
def test_a_metric_that_will_never_be_logged_is_refused_before_training(
    tmp_path, overrides, message
):
    cfg = compose_config(tmp_path, overrides)
    with pytest.raises(ConfigError, match=message):
        execute(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing was trained


@pytest.mark.cli
def test_a_missing_monitor_is_one_line_and_exit_2(tmp_path):
    from tests.helpers import cli

    result = cli("data.val_fraction=0", f"hydra.run.dir={tmp_path / 'run'}", threads=1)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "task.monitor: val/snr needs validation data" in errors[0]
    assert "Traceback" not in result.stderr
