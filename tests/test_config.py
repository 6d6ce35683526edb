"""Every option of every config group composes and instantiates (no broken YAML ships)."""

import numpy as np
import pytest
from hydra.utils import get_method
from omegaconf import OmegaConf

from promethium.config import build_collection, build_model, build_node, check_config
from promethium.data import SyntheticGathers
from promethium.errors import ConfigError
from promethium.ml.builders import build_datamodule, build_module, build_trainer
from tests.helpers import CONF, ROOT, compose_config, write_prestack


def options(group):
    folder = ROOT / "experiments" if group == "experiment" else CONF / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


def test_every_group_has_options():
    for group in [
        "task",
        "model",
        "data",
        "augment",
        "trainer",
        "logger",
        "callbacks",
        "paths",
        "experiment",
    ]:
        assert options(group), group


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
    assert batch["input"].shape[2:] == tuple(cfg.data.patch_size)
    for aux in cfg.data.aux_arrays:
        assert batch[aux].shape[2:] == tuple(cfg.data.patch_size)[:-1]


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
    cfg = compose_config(tmp_path, [f"trainer={name}", "trainer.accelerator=cpu"])
    assert build_trainer(cfg) is not None


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
        assert callable(build_node(cfg, "task.optimizer"))
        assert build_module(cfg) is not None
    elif name == "infer":  # its own keys, all of them documented defaults
        assert cfg.infer.window == "cosine" and cfg.input is None and cfg.output is None
    else:
        assert name == "evaluate" and cfg.evaluate.n_gathers > 0


def recipe_groups(name):
    """The model and data options a recipe selects (``override /group: option`` lines)."""
    defaults = OmegaConf.load(ROOT / "experiments" / f"{name}.yaml").get("defaults", [])
    chosen = {
        k.split("/")[-1]: v
        for entry in defaults
        if not isinstance(entry, str)
        for k, v in entry.items()
    }
    return {"model": chosen.get("model", "unet"), "data": chosen.get("data", "synthetic")}


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_recipes(tmp_path, name):
    groups = recipe_groups(name)
    survey = [f"data.path={ROOT / 'tests' / 'data' / 'f3_cropped.sgy'}"]  # field recipes
    extra = survey if groups["data"] == "segy" else []
    cfg = compose_config(tmp_path, [f"experiment={name}", *extra], **groups)
    check_config(cfg)
    assert build_module(cfg) is not None
    assert build_datamodule(cfg) is not None


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
    assert not {"trainer", "callbacks", "logger"} & set(composed) or task == "train"
