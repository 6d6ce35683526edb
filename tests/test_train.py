import json

import pytest
import torch

from promethium.ml.train import run as train
from tests.conftest import compose_config


def test_fast_dev_run_end_to_end(tmp_path):
    cfg = compose_config(tmp_path, ["trainer=debug", "trainer.enable_progress_bar=false"])
    metrics = train(cfg)
    assert "val/snr" in metrics and torch.isfinite(torch.tensor(metrics["val/snr"]))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["val/snr"] == pytest.approx(metrics["val/snr"])
    assert "test/snr" in saved


def test_one_epoch_writes_checkpoints_and_tensorboard(tmp_path):
    cfg = compose_config(tmp_path, ["trainer.max_epochs=2"])
    metrics = train(cfg)
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert metrics["val/snr_best"] >= metrics["val/snr"] - 1e-6
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    config = ckpt["hyper_parameters"]["config"]
    assert isinstance(config, dict) and config["model"]["name"] == "unet"
