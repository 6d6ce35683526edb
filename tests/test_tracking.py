"""Experiment tracking, reproducibility, resume and the Python API."""

import json
import os
import signal
import subprocess
import time

import pytest
import torch

from promethium import api
from promethium.tasks.common import execute as train
from tests.helpers import TINY, TINY_DATA, TINY_MODEL, cli_command, compose_config


def mlflow_overrides(tmp_path):
    return [
        "logger=many",
        f"logger.mlflow.tracking_uri=sqlite:///{tmp_path}/mlflow.db",
        f"logger.mlflow.artifact_location={tmp_path}/mlartifacts",
    ]


def test_mlflow_and_tensorboard_hold_the_metrics(tmp_path):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = compose_config(tmp_path, [*mlflow_overrides(tmp_path), "trainer.max_epochs=2"])
    metrics = train(cfg)
    run_dir = tmp_path / "run"
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run_id = (run_dir / "mlflow_run_id.txt").read_text().strip()
    run = client.get_run(run_id)
    history = client.get_metric_history(run_id, "val/snr")
    assert len(history) == 2 and history[-1].value == pytest.approx(metrics["val/snr"], rel=1e-5)
    assert run.data.params["config/model/name"] == "unet"
    assert "git_commit" in run.data.tags and "overrides" in run.data.tags
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    # the composed config, QC figures, and the best and last checkpoints
    assert {"config.yaml", "qc", "last"} <= artifacts and any(
        a.startswith("epoch_") for a in artifacts
    )
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    scalars = events.Scalars("val/snr")
    assert [s.value for s in scalars][-1] == pytest.approx(metrics["val/snr"], rel=1e-5)
    assert list((run_dir / "qc").glob("epoch_*.png"))
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["packages"]["torch"] and "git_commit" in info
    assert (run_dir / "config_tree.log").read_text().count("model") >= 1


def test_same_seed_gives_identical_metrics(tmp_path):
    results = []
    for i in range(2):
        cfg = compose_config(
            tmp_path / str(i), ["trainer.max_epochs=2", "trainer.deterministic=true", "logger=none"]
        )
        results.append(train(cfg))
    for key in ("val/snr", "val/loss", "test/snr"):
        assert results[0][key] == results[1][key], key


def cli(run_dir, *extra):
    return cli_command(
        *TINY,
        *TINY_DATA["synthetic"],
        *TINY_MODEL["unet"],
        f"hydra.run.dir={run_dir}",
        f"paths.cache_dir={run_dir.parent / 'cache'}",
        "data.samples_per_epoch=96",
        "trainer.max_epochs=4",
        "trainer.deterministic=true",
        "logger=none",
        *extra,
    )


@pytest.mark.cli
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    reference = subprocess.run(cli(tmp_path / "ref"), capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = json.loads((tmp_path / "ref" / "metrics.json").read_text())

    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(cli(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while (
        not (run_dir / "checkpoints" / "epoch_001.ckpt").exists()
        and not (run_dir / "checkpoints" / "epoch_002.ckpt").exists()
    ):
        assert proc.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "metrics.json").exists()
    resumed = subprocess.run(
        cli(run_dir, "ckpt_path=last"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = json.loads((run_dir / "metrics.json").read_text())
    for key in ("val/snr", "val/loss", "test/snr"):
        assert final[key] == pytest.approx(expected[key], rel=1e-6), key


def test_resume_without_checkpoint_names_the_key(tmp_path):
    from promethium.errors import ConfigError

    cfg = compose_config(tmp_path, ["ckpt_path=last"])
    with pytest.raises(ConfigError, match="ckpt_path"):
        train(cfg)


def test_python_api_compose_train_load(tmp_path):
    cfg = api.compose(
        [
            *TINY,
            *TINY_DATA["synthetic"],
            *TINY_MODEL["unet"],
            "logger=none",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
        output_dir=tmp_path / "run",
    )
    metrics = api.train(cfg)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["val/snr"] == pytest.approx(metrics["val/snr"]) and metrics["val/loss"] > 0
    net = api.load_model(tmp_path / "run" / "checkpoints" / "last.ckpt")
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert isinstance(ckpt["hyper_parameters"]["config"], dict)
    x = torch.randn(1, 1, 16, 32)
    reference = api.build_model(ckpt["hyper_parameters"]["config"]["model"])
    reference.load_state_dict(
        {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    )
    assert torch.equal(net(x), reference.eval()(x))


@pytest.mark.cli
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_training_non_zero_with_the_resume_command(tmp_path, signum):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        cli(run_dir, "trainer.max_epochs=40"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before the signal"
        time.sleep(0.05)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=300)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and f"stopped by {name} in epoch" in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr and not (run_dir / "metrics.json").exists()
    resume = errors[0].split("resume with: ", 1)[1]
    assert resume.startswith("python run.py ") and "ckpt_path=last" in resume
    assert f"hydra.run.dir={run_dir}" in resume
    assert (run_dir / "failed.txt").read_text().startswith(f"stopped by {name}")
