import json

import pytest
import torch

from promethium.tasks.common import execute as train
from tests.helpers import compose_config


def assert_trained(metrics, tmp_path):
    """Finite validation and test figures, the same in the run's metrics.json."""
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("val/loss", "val/snr", "val/snr_input", "test/snr"):
        assert torch.isfinite(torch.tensor(metrics[key])), key
        assert saved[key] == pytest.approx(metrics[key]), key
    assert metrics["val/loss"] > 0


def test_fast_dev_run_end_to_end(tmp_path):
    cfg = compose_config(tmp_path, ["trainer=debug", "trainer.enable_progress_bar=false"])
    metrics = train(cfg)
    assert "val/snr" in metrics and torch.isfinite(torch.tensor(metrics["val/snr"]))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["val/snr"] == pytest.approx(metrics["val/snr"])
    assert "test/snr" in saved


def test_one_epoch_writes_checkpoints_and_tensorboard(tmp_path, caplog):
    cfg = compose_config(tmp_path, ["trainer.max_epochs=2"])
    with caplog.at_level("INFO", logger="promethium"):
        metrics = train(cfg)
    run = tmp_path / "run"
    # the run ends with the monitored figure and where the checkpoints are
    outcome = [r.getMessage() for r in caplog.records if r.getMessage().startswith("trained")]
    (best,) = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert outcome == [
        f"trained 2 epochs: val/snr {metrics['val/snr']:.4g} (best {metrics['val/snr_best']:.4g})"
        f"; checkpoints: best {best}, last {run / 'checkpoints' / 'last.ckpt'}"
    ]
    assert (run / "checkpoints" / "last.ckpt").exists()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert metrics["val/snr_best"] >= metrics["val/snr"] - 1e-6
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    config = ckpt["hyper_parameters"]["config"]
    assert isinstance(config, dict) and config["model"]["name"] == "unet"


def test_pinn_trains_on_wavefields_and_logs_both_terms(tmp_path):
    cfg = compose_config(
        tmp_path,
        ["experiment=pinn_wavefield", "trainer.max_epochs=1"],
        data="marmousi_wavefield",
        model="pinn",
    )
    metrics = train(cfg)
    assert metrics["val/physics_loss"] > 0 and metrics["val/data_loss"] > 0
    total = metrics["val/data_loss"] + cfg.model.physics_weight * metrics["val/physics_loss"]
    assert metrics["val/loss"] == pytest.approx(total, rel=1e-4)


def test_pinn_refuses_gathers_unless_allowed(tmp_path):
    from promethium.errors import ConfigError

    physics = ["task.kind=physics", "model.velocity=2000"]
    cfg = compose_config(tmp_path, physics, model="pinn")
    with pytest.raises(ConfigError, match="allow_gathers"):
        train(cfg)
    cfg = compose_config(tmp_path, [*physics, "model.allow_gathers=true"], model="pinn")
    metrics = train(cfg)
    assert 0 < metrics["val/physics_loss"] < float("inf") and metrics["val/data_loss"] > 0


def test_trains_straight_from_segy(tmp_path):
    from tests.helpers import write_prestack

    write_prestack(tmp_path / "shots.sgy")
    cfg = compose_config(
        tmp_path,
        [
            f"data.path={tmp_path / 'shots.sgy'}",
            "trainer=debug",
            "trainer.enable_progress_bar=false",
        ],
        data="segy",
    )
    assert_trained(train(cfg), tmp_path)


@pytest.mark.parametrize("model", ["unet", "dae"])
def test_trains_on_marmousi_gathers(tmp_path, model):
    cfg = compose_config(
        tmp_path,
        ["trainer=debug", "trainer.enable_progress_bar=false"],
        data="marmousi",
        model=model,
    )
    assert_trained(train(cfg), tmp_path)


def test_an_unseeded_run_trains_and_keeps_the_seed_0_split(tmp_path):
    from promethium.tasks.builders import build_datamodule

    cfg = compose_config(
        tmp_path, ["seed=null", "trainer=debug", "trainer.enable_progress_bar=false"]
    )
    assert cfg.data.seed is None
    assert torch.isfinite(torch.tensor(train(cfg)["val/snr"]))
    unseeded, seeded = build_datamodule(cfg), build_datamodule(compose_config(tmp_path, ["seed=0"]))
    for module in (unseeded, seeded):
        module.setup("fit")
    assert unseeded.seed == 0
    assert unseeded.datasets["val"][0]["input"].equal(seeded.datasets["val"][0]["input"])


def test_last_ckpt_holds_the_last_epoch_when_the_metric_did_not_improve(tmp_path):
    # the corrupted input's SNR does not change with the network: only epoch 0 is the best
    cfg = compose_config(tmp_path, ["trainer.max_epochs=3", "task.monitor=val/snr_global_input"])
    train(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    (best,) = [p for p in checkpoints.glob("*.ckpt") if p.name != "last.ckpt"]
    assert last["epoch"] == 2 and torch.load(best, weights_only=True)["epoch"] == 0
