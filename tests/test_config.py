"""Every option of every config group composes and instantiates (no broken YAML ships)."""

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_method
from omegaconf import OmegaConf

from promethium.config import build_collection, build_model, build_node, check_config
from promethium.data import SyntheticGathers
from promethium.errors import ConfigError
from promethium.models import ModelRegistry
from promethium.tasks.builders import build_datamodule, build_module, build_trainer
from tests.helpers import CONF, ROOT, compose_config, write_prestack


def options(group):
    folder = ROOT / "experiments" if group == "experiment" else CONF / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


GROUPS = ["task", "model", "data", "corruption", "augment", "normalize", "trainer"]
GROUPS += ["logger", "callbacks", "experiment", "hparams_search", "debug"]


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_of_every_group_is_in_the_readme_table(group):
    # the README's config-group table is how users find options: none may go missing
    readme = (ROOT / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith(f"| `{group}` |")]
    missing = [name for name in options(group) if f"`{name}`" not in row]
    assert options(group) and not missing, f"{group}: {missing} not in the README table"


@pytest.mark.parametrize("name", options("model"))
def test_model_options(tmp_path, name):
    cfg = compose_config(tmp_path, model=name)
    net = build_model(cfg.model)
    assert net.spatial_dims == len(cfg.data.patch_size)
    if name == "unet_full":  # the U-Net with its level 0 at full resolution
        assert cfg.model.name == "unet" and net.stem_stride == 1


@pytest.mark.parametrize("name", options("data"))
def test_data_options(tmp_path, name):
    extra = []
    if name == "zarr":
        store = SyntheticGathers(n_gathers=6, n_traces=20, n_samples=40).prepare(tmp_path / "zs")
        extra = [f"data.path={store}"]
    if name == "segy":
        write_prestack(tmp_path / "shots.sgy")
        extra = [f"data.path={tmp_path / 'shots.sgy'}"]
    if name == "mdio":
        from promethium.data.mdio import segy_to_mdio

        pytest.importorskip("mdio", reason='the MDIO extra is not installed: pip install ".[mdio]"')
        segy_to_mdio(ROOT / "tests/data/f3_cropped.sgy", tmp_path / "f3.mdio", "PostStack3DTime")
        extra = [f"data.path={tmp_path / 'f3.mdio'}"]
    cfg = compose_config(tmp_path, extra, data=name)
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    # the configured patch, each axis at most the data's length (tiny marmousi: 13 traces)
    from promethium.data.store import open_store

    trailing = open_store(dm.path)[1].shape[-len(cfg.data.patch_size) :]
    assert dm.patch_size == [min(p, n) for p, n in zip(cfg.data.patch_size, trailing, strict=True)]
    assert batch["input"].shape[2:] == tuple(dm.patch_size)
    for aux in cfg.data.aux_arrays:
        assert batch[aux].shape[2:] == tuple(dm.patch_size)[:-1]


def test_zarr_data_without_path_names_the_key(tmp_path):
    from promethium.tasks.common import execute

    cfg = compose_config(tmp_path, ["data.path=''"], data="zarr")
    with pytest.raises(ConfigError, match="^path: no Zarr store"):  # the library: a parameter
        build_datamodule(cfg).prepare_data()
    with pytest.raises(ConfigError, match="^data.path: no Zarr store"):  # a task: the key
        execute(cfg)


@pytest.mark.parametrize("name", options("augment"))
def test_augment_options(tmp_path, name):
    cfg = compose_config(tmp_path, [f"augment={name}"])
    aug = build_node(cfg, "augment")
    x = np.ones((4, 8), dtype=np.float32)
    assert aug(x, np.random.default_rng(0)).shape == x.shape


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_options(tmp_path, name):
    from lightning.pytorch.accelerators import CPUAccelerator
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.strategies import DDPStrategy

    cfg = compose_config(tmp_path, [f"trainer={name}", "trainer.accelerator=cpu"], tiny=False)
    trainer = build_trainer(cfg)
    assert isinstance(trainer.accelerator, CPUAccelerator)
    assert isinstance(trainer.strategy, DDPStrategy) == (name == "ddp")
    assert trainer.fast_dev_run == (1 if name == "debug" else False)
    # fast_dev_run runs one epoch whatever max_epochs says
    assert trainer.max_epochs == (1 if name == "debug" else cfg.trainer.max_epochs)
    assert any(isinstance(c, ModelCheckpoint) for c in trainer.callbacks)


@pytest.mark.parametrize("group", ["logger", "callbacks"])
def test_logger_and_callback_options(tmp_path, group):
    for name in options(group):
        cfg = compose_config(tmp_path, [f"{group}={name}"], tiny=group != "callbacks")
        built = build_collection(cfg, group)
        node = OmegaConf.select(cfg, group) or {}
        assert len(built) == sum(1 for v in node.values() if "_target_" in v)


@pytest.mark.parametrize("name", options("task"))
def test_task_options(tmp_path, name):
    cfg = compose_config(tmp_path, [f"task={name}"])
    assert callable(get_method(cfg.task.fn))
    if name == "train":
        from promethium.ml.tasks import InterpolationTask

        module = build_module(cfg)
        optimizers = module.configure_optimizers()
        optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
        assert type(module) is InterpolationTask and module.net.spatial_dims == 2
        assert optimizer.param_groups[0]["lr"] == pytest.approx(cfg.task.optimizer.lr)
    elif name == "infer":  # its own keys, all of them documented defaults
        assert cfg.infer.window == "cosine" and cfg.input is None and cfg.output is None
    else:
        assert name == "evaluate" and cfg.evaluate.n_gathers > 0


def recipe_groups(name):
    """The model and data options a recipe selects (its own or its bases' overrides)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", [f"experiment={name}"], return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    return {"model": choices["model"], "data": choices["data"]}


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_recipes(tmp_path, name):
    groups = recipe_groups(name)
    survey = [f"data.path={ROOT / 'tests' / 'data' / 'f3_cropped.sgy'}"]  # field recipes
    extra = survey if groups["data"] == "segy" else []
    cfg = compose_config(tmp_path, [f"experiment={name}", *extra], **groups)
    assert OmegaConf.to_container(cfg, resolve=True)["task"]["name"] == "train"  # resolves
    check_config(cfg)
    module, data = build_module(cfg), build_datamodule(cfg)
    # the task kind the recipe states, its network, inputs and corruption, as composed
    assert module.kind == cfg.task.kind and module.net.spatial_dims == len(cfg.data.patch_size)
    assert type(module.net) is ModelRegistry.get(cfg.model.name)
    assert list(getattr(module.net, "inputs", ["data"])) == list(cfg.model.get("inputs", ["data"]))
    steps = [type(c).__name__ for c in getattr(data.corruption, "corruptions", [])]
    assert steps == [t._target_.rsplit(".", 1)[1] for t in cfg.corruption.transforms]
    assert data.patch_size == list(cfg.data.patch_size)


@pytest.mark.parametrize("task", ["evaluate", "infer"])
@pytest.mark.parametrize("name", options("experiment"))
def test_every_recipe_composes_for_evaluation_and_inference(name, task):
    # the README's `task=evaluate experiment=marmousi_interp ckpt_path=...`: a recipe's
    # group overrides (callbacks=full_length) must compose where the task drops the group
    survey = ["data.path=x.sgy"] if recipe_groups(name)["data"] == "segy" else []
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", [f"task={task}", f"experiment={name}", "ckpt_path=x", *survey])
    assert cfg.task.name == task


def test_recipes_compose_their_shared_bases():
    # the blocks several recipes share come from experiments/base/, once
    assert recipe_groups("field_interp") == {"model": "unet_full", "data": "segy"}
    assert recipe_groups("marmousi_ssl_denoise") == {"model": "unet_full", "data": "marmousi"}
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        denoise = compose("config", ["experiment=field_denoise", "data.path=x.sgy"])
        ssl = compose("config", ["experiment=marmousi_ssl_denoise"])
    for cfg in (denoise, ssl):  # Noise2Void: blind spots, loss at them only, no augmentation
        assert cfg.corruption.transforms[0]._target_.endswith("BlindSpot")
        assert cfg.task.loss.observed_weight == 0.0 and cfg.task.kind == "denoising"
        assert cfg.augment.transforms == []
    assert "early_stopping" not in ssl.callbacks and ssl.trainer.max_epochs == 40
    assert "early_stopping" in denoise.callbacks
    assert denoise.callbacks.model_checkpoint.filename == "best"


def test_the_default_run_is_the_default_recipe():
    # experiment: null, and the groups' defaults compose what interp_unet names
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        default = OmegaConf.to_container(compose("config", ["paths.output_dir=o"]))
        recipe = OmegaConf.to_container(
            compose("config", ["paths.output_dir=o", "experiment=interp_unet"])
        )
    assert default.pop("tags") == [] and recipe.pop("tags") == ["interpolation"]
    assert default == recipe


@pytest.mark.parametrize("name", options("corruption"))
def test_corruption_options(tmp_path, name):
    from promethium.data.transforms import make_corruption

    cfg = compose_config(tmp_path, [f"corruption={name}"])
    corruption = make_corruption(build_node(cfg, "corruption"))
    clean = SyntheticGathers(n_gathers=1, n_traces=24, n_samples=64).generate()[0]
    if name == "none":  # the clean patch is the input
        assert corruption is None
        return
    bind = getattr(corruption, "bind_sampling", None)
    if bind:
        bind(0.004, 12.5)
    noisy, mask = corruption(clean.copy(), np.random.default_rng(0))
    assert noisy.shape == clean.shape
    hidden = np.broadcast_to(mask, clean.shape) == 0
    if name.startswith("missing"):  # whole traces hidden and zeroed, about half of them
        assert np.all(noisy[hidden] == 0) and 0.3 < hidden[:, 0].mean() < 0.7
        assert np.array_equal(noisy[~hidden], clean[~hidden])
    elif name.startswith("blind_spot"):  # a few positions replaced by neighbours
        assert 0 < hidden.mean() < 0.1 and not np.array_equal(noisy[hidden], clean[hidden])
    else:  # noise everywhere, nothing hidden
        assert not hidden.any() and np.abs(noisy - clean).mean() > 0.1 * np.abs(clean).mean()


@pytest.mark.parametrize("name", options("debug"))
def test_debug_options(tmp_path, name):
    cfg = compose_config(tmp_path, [f"debug={name}"], tiny=False)
    trainer = build_trainer(cfg)
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.detect_anomaly
    assert not build_collection(cfg, "logger") and cfg.data.num_workers == 0
    expected = {
        "default": trainer.max_epochs == 1,
        "fdr": trainer.fast_dev_run == 1,
        "limit": trainer.max_epochs == 3 and trainer.limit_train_batches == 4,
        "overfit": trainer.overfit_batches == 2 and not build_collection(cfg, "callbacks"),
        "profiler": type(trainer.profiler).__name__ == "SimpleProfiler",
    }
    assert expected[name]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        folders = compose("config", [f"debug={name}"], return_hydra_config=True).hydra
    assert "/outputs/debug/runs/" in folders.run.dir and folders.verbose == ["promethium"]


@pytest.mark.parametrize("name", options("hparams_search"))
def test_hparams_search_options(name):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", [f"hparams_search={name}"], return_hydra_config=True)
        on_recipe = compose(
            "config",
            [f"hparams_search={name}", "experiment=marmousi_interp"],
            return_hydra_config=True,
        )
    for composed in (cfg, on_recipe):
        assert composed.hydra.sweeper._target_.endswith("OptunaSweeper")
        assert composed.hydra.sweeper.n_trials > 0 and composed.hydra.sweeper.params
    assert on_recipe.hydra.runtime.choices["data"] == "marmousi"


def test_model_spatial_dims_follow_patch_size(tmp_path):
    cfg = compose_config(tmp_path, ["data.patch_size=[8,8,16]"])
    assert cfg.model.spatial_dims == 3


@pytest.mark.parametrize(
    "override,key",
    [
        ("trainer.max_epochs=-3", "trainer.max_epochs"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("task.optimizer.lr=-1", "task.optimizer.lr"),
        ("data.batch_size=0", "data.batch_size"),
        ("trainer.max_epochs=-1", "task.scheduler.T_max"),
    ],
)
def test_check_config_names_the_key(tmp_path, override, key):
    cfg = compose_config(tmp_path, [override])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_config(cfg)


def test_build_node_names_key_of_library_errors(tmp_path):
    cfg = compose_config(tmp_path, ["+task.loss.nonsense=1"])
    with pytest.raises(ConfigError, match="task.loss.*nonsense"):
        build_node(cfg, "task.loss")


@pytest.mark.cli
@pytest.mark.parametrize(
    ("task", "extra"),
    [
        ("train", []),
        ("infer", ["ckpt_path=x.ckpt", "input=in.zarr", "output=out.zarr"]),
        ("evaluate", ["ckpt_path=x.ckpt"]),
    ],
)
def test_every_task_resolves_and_composes_only_what_it_uses(tmp_path, task, extra):
    import yaml

    from tests.helpers import cli

    run = cli(f"task={task}", *extra, "--cfg", "job", "--resolve", timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    composed = yaml.safe_load(run.stdout)
    assert composed["task"]["name"] == task
    assert ({"trainer", "callbacks", "logger"} <= set(composed)) == (task == "train")
    # infer and evaluate run no trainer: at most an empty `callbacks` (callbacks=none), so
    # that a recipe's `override /callbacks` composes there too
    used = {k for k in ("trainer", "callbacks", "logger") if composed.get(k) not in (None, {})}
    assert not used or task == "train"
    # the network comes from the checkpoint; infer takes its data from input=
    unused = {"train": set(), "infer": {"model", "data", "corruption", "augment", "normalize"}}
    unused["evaluate"] = {"model", "augment"}
    assert not unused[task] & set(composed)
    assert task == "infer" or {"data", "corruption"} <= set(composed)
