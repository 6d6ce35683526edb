"""Task classes: the recipe states the kind, the checkpoint records it, inference follows."""

import pytest
import torch

from promethium.errors import ConfigError
from promethium.ml.checkpoints import task_kind
from promethium.ml.qc import QCFigures
from promethium.ml.tasks import DenoisingTask, InterpolationTask, PhysicsInformedTask
from promethium.tasks.builders import build_module
from promethium.tasks.common import keeps_observed
from tests.helpers import compose_config


@pytest.mark.parametrize(
    ("experiment", "task", "keeps"),
    [
        ("interp_unet", InterpolationTask, True),
        ("field_interp", InterpolationTask, True),
        ("denoise_dae", DenoisingTask, False),
        ("field_denoise", DenoisingTask, False),
        ("marmousi_ssl_denoise", DenoisingTask, False),
        ("pinn_wavefield", PhysicsInformedTask, True),
    ],
)
def test_each_recipe_states_its_task_kind(tmp_path, experiment, task, keeps):
    options = {"model": "pinn", "data": "marmousi_wavefield"} if task.kind == "physics" else {}
    cfg = compose_config(tmp_path, [f"experiment={experiment}"], tiny=False, **options)
    module = build_module(cfg)
    assert type(module) is task
    assert module.hparams["kind"] == task.kind == cfg.task.kind
    assert task.keeps_observed is keeps


def test_the_checkpoint_records_the_kind_and_inference_follows_it(tiny_checkpoint):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    assert ckpt["hyper_parameters"]["kind"] == "interpolation"
    config = ckpt["hyper_parameters"]["config"]
    assert task_kind(config) == "interpolation"
    assert keeps_observed(None, config) is True
    assert keeps_observed(False, config) is False
    denoiser = {**config, "task": {**config["task"], "kind": "denoising"}}
    assert keeps_observed(None, denoiser) is False


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({"model": {"name": "pinn"}, "data": {}}, "physics"),
        (
            {
                "model": {"name": "unet"},
                "data": {"corruption": [{"_target_": "promethium.data.transforms.MissingTraces"}]},
            },
            "interpolation",
        ),
        (
            {
                "model": {"name": "dae"},
                "data": {"corruption": [{"_target_": "promethium.data.transforms.AdditiveNoise"}]},
            },
            "denoising",
        ),
    ],
)
def test_checkpoints_written_before_task_kind_get_the_kind_their_recipe_implied(config, kind):
    assert task_kind(config) == kind


def test_the_training_corruption_is_read_from_the_group_and_from_older_data_corruption():
    from promethium.tasks.common import trained_densities

    redrop = {"_target_": "promethium.data.transforms.MissingTraces", "fraction": 0.5}
    group = {"corruption": {"_target_": "CorruptionChain", "transforms": [redrop]}}
    legacy = {"data": {"corruption": [redrop]}}
    for config in (group, legacy):
        assert trained_densities(config, 0.8) == pytest.approx({"trained": 0.4})
        assert task_kind(config) == "interpolation"
    noise = {"corruption": {"transforms": [{"_target_": "x.AdditiveNoise", "snr_db": 0}]}}
    assert trained_densities(noise, 0.8) == {} and task_kind(noise) == "denoising"


def test_a_kind_and_a_model_that_do_not_fit_are_refused_naming_task_kind(tmp_path):
    with pytest.raises(ConfigError, match=r"task\.kind: model=pinn .* task\.kind=physics"):
        build_module(compose_config(tmp_path, ["model.velocity=2000"], model="pinn"))
    with pytest.raises(ConfigError, match=r"task\.kind: physics trains model=pinn"):
        build_module(compose_config(tmp_path, ["task.kind=physics"]))
    with pytest.raises(ConfigError, match=r"task\.kind: got 'fill'; allowed: interpolation"):
        build_module(compose_config(tmp_path, ["task.kind=fill"]))


def test_qc_figures_show_the_prediction_the_task_makes_through_its_normalization(tmp_path):
    cfg = compose_config(tmp_path, ["normalize=rms"])
    module = build_module(cfg).eval()
    generator = torch.Generator().manual_seed(0)
    target = 300.0 * torch.randn(1, 16, 32, generator=generator)  # field-like amplitudes
    sample = {"input": target * (torch.rand(1, 16, 1, generator=generator) > 0.5), "target": target}
    panels = QCFigures(str(tmp_path)).panels(module, sample)
    with torch.inference_mode():
        scaled = module.predict(sample["input"][None])[0, 0].numpy()
        raw = module(sample["input"][None])[0, 0].numpy()
    assert panels["prediction"] == pytest.approx(scaled, abs=1e-4)
    assert abs(panels["prediction"] - raw).max() > 1.0  # the unscaled network is another thing
    assert panels["difference"] == pytest.approx(target[0].numpy() - scaled, abs=1e-3)


def test_overall_eta_extrapolates_the_steps_made() -> None:
    from promethium.ml.callbacks import overall_eta

    assert overall_eta(30.0, 10, 130) == "0:06:00"  # 3 s a step, 120 steps left
    assert overall_eta(5000.0, 1, 2) == "1:23:20"
    assert overall_eta(0.0, 0, 100) == "?"
    assert overall_eta(9.0, 100, 100) == "0:00:00"


def test_tta_null_takes_the_training_recipes_choice(tiny_checkpoint, tmp_path) -> None:
    from omegaconf import OmegaConf

    from promethium.inference.tta import TestTimeAugmentation
    from promethium.tasks.common import load_network

    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["hyper_parameters"]["config"]["task"]["tta"] = True  # as field_interp records it
    chose = tmp_path / "tta.ckpt"
    torch.save(ckpt, chose)
    for path, setting, expected in [
        (tiny_checkpoint, None, False),  # the default recipe: off
        (chose, None, True),
        (chose, False, False),  # infer.tta=false overrides the recipe
        (tiny_checkpoint, True, True),
    ]:
        cfg = OmegaConf.create({"ckpt_path": str(path), "task": {"name": "infer"}})
        net, _ = load_network(cfg, setting)
        assert isinstance(net, TestTimeAugmentation) is expected
