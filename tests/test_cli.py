"""The command line, as users run it: a subprocess from another working directory."""

import json

import pytest

from tests.helpers import TINY, cli

pytestmark = pytest.mark.cli


def run_cli(tmp_path, *overrides):
    """The tiny default training from ``tmp_path``, its run folder and cache inside."""
    paths = [f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    return cli(*TINY, *paths, *overrides, cwd=tmp_path, timeout=300)


def test_cli_trains_and_leaves_run_folder(tmp_path):
    result = run_cli(tmp_path, "trainer.max_epochs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / ".hydra" / "config.yaml").exists()
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"val/snr", "val/snr_input", "test/snr"} <= set(metrics)


def test_cli_unknown_model_names_it_and_known_names(tmp_path):
    result = run_cli(tmp_path, "model.name=nosuch")
    assert result.returncode != 0
    err = result.stdout + result.stderr
    assert "nosuch" in err and "unet" in err
    assert "Traceback" not in err


def test_cli_bad_value_names_the_key(tmp_path):
    result = run_cli(tmp_path, "trainer.max_epochs=-3")
    assert result.returncode != 0
    err = result.stdout + result.stderr
    assert "trainer.max_epochs" in err and "-3" in err
    assert "Traceback" not in err


def test_cli_prints_composed_config(tmp_path):
    result = cli("--cfg", "job", cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and "model:" in result.stdout and "name: unet" in result.stdout
