"""One clear line per mistake, naming a key that exists, on stderr (issue #19, items 5-7)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from omegaconf import OmegaConf

from promethium.data.store import store_attrs, write_store
from promethium.errors import ConfigError, DataError
from promethium.tasks.common import execute as train
from tests.helpers import ROOT, TINY, TINY_DATA, TINY_MODEL, compose_config
from tests.helpers import cli as run_cli


def cli(tmp_path, *args, timeout=300):
    """``python run.py ARGS`` from ``tmp_path``."""
    return run_cli(*args, cwd=tmp_path, timeout=timeout)


def named_key(message: str) -> str:
    return message.split(":", 1)[0].strip()


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("augment.transforms.0.p=1.5", "augment.transforms.0.p"),
        ("augment.transforms.1.db_range=[3,1]", "augment.transforms.1.db_range"),
        ("augment.transforms.2.max_shift=-4", "augment.transforms.2.max_shift"),
        ("trainer.max_epochs=-3", "trainer.max_epochs"),
    ],
)
def test_errors_name_keys_that_exist_in_the_composed_config(tmp_path, override, key):
    cfg = compose_config(tmp_path, [override])
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert named_key(str(err.value)) == key
    assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", key


@pytest.mark.cli
def test_segy_sort_errors_name_the_option_or_key(tmp_path):
    from tests.helpers import write_prestack

    write_prestack(tmp_path / "shots.sgy")
    shots, store = str(tmp_path / "shots.sgy"), str(tmp_path / "s.zarr")
    run = run_cli(shots, store, "--sort", "Nope", script="segy_to_zarr.py", timeout=120)
    assert run.returncode == 2 and run.stderr.startswith("error: --sort: unknown trace header")
    cfg = compose_config(
        tmp_path, [f"data.path={tmp_path / 'shots.sgy'}", "data.source.sort=[Nope]"], data="segy"
    )
    with pytest.raises(ConfigError) as err:
        train(cfg)
    assert named_key(str(err.value)) == "data.source.sort"
    assert OmegaConf.select(cfg, "data.source.sort") is not None


def test_training_on_nan_names_the_trace_and_sample(tmp_path):
    values = np.random.default_rng(0).standard_normal((8, 24, 48)).astype(np.float32)
    attrs = store_attrs(
        dt=0.004, dx=[None, 10.0], axis_names=["gather", "trace", "time"], provenance="t"
    )
    write_store(tmp_path / "s.zarr", values, attrs)
    bad = tmp_path / "bad.zarr"
    write_store(bad, values, attrs)
    import zarr

    data = zarr.open_group(str(bad), mode="r+")["amplitude"]
    data[:, 5, 17] = np.nan  # every gather: whichever patch is read first meets it
    cfg = compose_config(tmp_path, [f"data.path={bad}", "data.patch_size=[24,48]"], data="zarr")
    with pytest.raises(DataError, match=r"NaN or inf value at gather \d+, trace 5, sample 17"):
        train(cfg)


def test_a_patch_longer_than_the_data_is_fitted_and_recorded(tmp_path, caplog):
    import torch

    overrides = ["data.patch_size=[32,32]", "trainer.max_epochs=1", "logger=none"]
    cfg = compose_config(tmp_path, overrides)  # gathers of 24 traces
    with caplog.at_level(logging.INFO, logger="promethium.data.splits"):
        train(cfg)
    notes = [r.getMessage() for r in caplog.records if "longer than the data" in r.getMessage()]
    assert len(notes) == 1 and "trace 24" in notes[0] and "[24, 32] patches" in notes[0]
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["config"]["data"]["patch_size"] == [24, 32]  # for infer


@pytest.mark.cli
def test_refused_run_says_one_line_on_stderr_and_leaves_no_run_folder(tmp_path):
    run = cli(tmp_path, "model.name=nosuch", f"hydra.run.dir={tmp_path / 'run'}")
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "model.name: unknown model 'nosuch'" in errors[0]
    assert "unknown model" not in run.stdout and "Traceback" not in run.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.cli
def test_infer_refuses_an_unknown_output_kind(tmp_path):
    np.save(tmp_path / "in.npy", np.zeros((2, 16, 32), np.float32))
    ckpt = tmp_path / "missing.ckpt"  # refused before the checkpoint is even read
    run = cli(
        tmp_path,
        "task=infer",
        f"ckpt_path={ckpt}",
        f"input={tmp_path / 'in.npy'}",
        f"output={tmp_path / 'out.txt'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert run.returncode == 2 and "unknown output kind '.txt'" in run.stderr, run.stderr
    assert ".zarr, .sgy, .segy, .npy" in run.stderr
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.cli
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hydra.sweeper.direction=up", "hydra.sweeper.direction: got 'up'"),
        ("hydra.sweeper.params.model.depth=chose(1,2)", "hydra.sweeper.params.model.depth:"),
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials: got 0"),
    ],
)
def test_sweeper_config_errors_are_one_line(tmp_path, override, message):
    run = cli(tmp_path, "-m", "hydra/sweeper=optuna", override, f"hydra.sweep.dir={tmp_path}/s")
    assert run.returncode == 2, run.stderr[-2000:]
    assert message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.cli
def test_help_is_promethiums_and_lightning_tips_are_gone(tmp_path):
    run = cli(tmp_path, "--help")
    assert run.returncode == 0 and run.stdout.startswith("Promethium")
    assert "task=infer" in run.stdout and "powered by Hydra" not in run.stdout
    train_run = cli(
        tmp_path,
        *TINY,
        *TINY_DATA["synthetic"],
        *TINY_MODEL["unet"],
        "logger=none",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert train_run.returncode == 0, train_run.stderr[-2000:]
    assert "Tip:" not in train_run.stdout + train_run.stderr


def _messages_naming_keys() -> list[tuple[str, int, str, str]]:
    """``(file, line, kind, name)`` for each error in ``promethium/`` that names a key.

    ``kind`` is ``key`` for a message starting with a full config key (``model.depth: ...``)
    and ``param`` for a library parameter (``ConfigError.for_parameter("depth", ...)``).
    """
    import ast

    found = []
    for path in sorted((ROOT / "promethium").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func, first = node.func, node.args[0]
            name = getattr(func, "attr", getattr(func, "id", ""))
            where = (str(path.relative_to(ROOT)), node.lineno)
            if name in ("for_parameter", "about"):
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((*where, "param", first.value))
            elif name in ("ConfigError", "DataError"):
                if isinstance(first, ast.JoinedStr):
                    parts = first.values
                    first = parts[0] if parts and isinstance(parts[0], ast.Constant) else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    head = first.value.split(":", 1)[0]
                    if ":" in first.value and head.replace("_", "").replace(".", "").isalnum():
                        found.append((*where, "key", head))
    return found


def _composed_keys(tmp_path) -> set[str]:
    """Every key of the configs users compose: each task, model, data option and recipe."""

    def walk(node, prefix=""):
        keys = {prefix} if prefix else set()
        if isinstance(node, dict):
            for k, v in node.items():
                keys |= walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                keys |= walk(v, f"{prefix}.{i}")
        return keys

    combos = [
        [f"model={m}", f"data={d}"]
        for m in ("unet", "dae", "pinn")
        for d in ("synthetic", "marmousi", "zarr", "segy", "marmousi_wavefield")
    ]
    combos += [[f"experiment={e.stem}"] for e in (ROOT / "conf" / "experiment").glob("*.yaml")]
    combos += [["task=infer"], ["task=evaluate"], ["task=evaluate", "model=pinn"]]
    combos += [["logger=mlflow"]]  # logger.mlflow.register_as
    keys: set[str] = set()
    register = OmegaConf.to_container
    for overrides in combos:
        cfg = compose_config(tmp_path, overrides, tiny=False)
        keys |= walk(register(cfg, resolve=False))
    return keys


def test_every_key_and_parameter_named_in_an_error_exists_in_a_composed_config(tmp_path):
    """Library errors name parameters; those and the keys the config layer names exist."""
    from promethium.config import PARAMETER_NODES

    keys = _composed_keys(tmp_path)
    nodes = {node for task in PARAMETER_NODES.values() for node in task}
    nodes |= {"data.record", "task.optimizer", "task.scheduler", "logger.mlflow"}
    nodes |= {f"evaluate.baselines.{m}" for m in ("bandpass", "fx_decon", "pocs")}
    nodes |= {k.rsplit(".", 1)[0] for k in keys if k.startswith("augment.transforms.")}
    # constructor parameters that no shipped config sets (Python callers only)
    python_only = {"order", "reduction", "kind", "per", "window", "fraction", "mode", "radius"}
    python_only |= {"schedule", "band_hz", "format"}  # POCS schedule, band noise, --format
    missing = []
    for file, line, kind, name in _messages_naming_keys():
        if kind == "key":
            ok = name in keys or name.split(".")[0] in {"hydra", "ckpt_path", "init_from", "task"}
        else:
            ok = name in python_only or name in keys or any(f"{n}.{name}" in keys for n in nodes)
        if not ok:
            missing.append(f"{file}:{line} {kind} {name!r}")
    assert not missing, "errors name keys no composed config has:\n" + "\n".join(missing)


def test_failed_txt_holds_the_last_failure_of_a_resumed_run(tmp_path):
    import importlib.util
    import os

    from tests.helpers import ROOT

    spec = importlib.util.spec_from_file_location("promethium_run", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    ckpt = folder / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(b"earlier work")
    os.utime(ckpt, (entry.STARTED - 60, entry.STARTED - 60))  # written by an earlier run
    (folder / "failed.txt").write_text("an earlier failure\n")
    entry.discard_refused_run(folder, "data.path: no such file")
    assert (folder / "failed.txt").read_text() == "data.path: no such file\n"
    assert ckpt.read_bytes() == b"earlier work"
