"""Training resume that never loses or mixes results, and checkpoints read safely
(issue #19, items 3 and 5)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from promethium import api
from promethium.errors import ConfigError, DataError
from promethium.tasks.common import execute as train
from tests.helpers import cli, compose_config

DETERMINISTIC = ["trainer.deterministic=true", "logger=none"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 2-epoch tiny run: its folder and its metrics."""
    tmp = tmp_path_factory.mktemp("finished")
    metrics = train(compose_config(tmp, ["trainer.max_epochs=2", *DETERMINISTIC]))
    return tmp, metrics


def test_resuming_a_finished_run_keeps_every_metric(finished_run, tmp_path):
    source, metrics = finished_run
    shutil.copytree(source / "run", tmp_path / "run")
    again = train(
        compose_config(tmp_path, ["trainer.max_epochs=2", "ckpt_path=last", *DETERMINISTIC])
    )
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(saved) == set(metrics) and "val/snr_best" in saved
    for key, value in metrics.items():
        assert saved[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        assert again[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


def test_a_moved_run_folder_resumes_into_its_own_checkpoints(finished_run, tmp_path):
    source, _ = finished_run
    old = tmp_path / "old"
    shutil.copytree(source / "run", old / "run")
    new = tmp_path / "new"
    shutil.move(old / "run", new / "run")  # the old folder is gone
    metrics = train(compose_config(new, ["trainer.max_epochs=3", "ckpt_path=last", *DETERMINISTIC]))
    checkpoints = new / "run" / "checkpoints"
    assert not list(checkpoints.glob("last-v*.ckpt"))
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2  # the resumed third epoch, written to last.ckpt itself
    state = next(v for k, v in last["callbacks"].items() if "RunFolderCheckpoint" in k)
    assert state["dirpath"] == str(checkpoints)
    assert state["best_model_path"].startswith(str(checkpoints))
    assert "test/snr" in metrics and "val/snr_best" in metrics


def test_resuming_with_another_model_config_names_the_keys(finished_run, tmp_path):
    source, _ = finished_run
    shutil.copytree(source / "run", tmp_path / "run")
    cfg = compose_config(tmp_path, ["ckpt_path=last", "model.depth=3", *DETERMINISTIC])
    with pytest.raises(ConfigError, match=r"model\.depth: checkpoint 2, this run 3"):
        train(cfg)


def test_a_run_killed_in_its_first_epoch_says_what_resumes(tmp_path):
    (tmp_path / "run" / ".hydra").mkdir(parents=True)  # started, no epoch finished
    with pytest.raises(ConfigError, match="end of each epoch.*without ckpt_path"):
        train(compose_config(tmp_path, ["ckpt_path=last"]))


class Payload:
    """Unpickling this runs code: it creates the file ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_code_never_runs_even_when_torch_is_told_to_allow_it(
    finished_run, tmp_path, monkeypatch
):
    source, _ = finished_run
    shutil.copytree(source / "run", tmp_path / "run")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    marker = tmp_path / "pwned"
    ckpt["payload"] = Payload(str(marker))
    torch.save(ckpt, last)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    refused = r"refused \(ckpt_path\): the file pickles code \(io.open\) .* trust its source$"
    with pytest.raises(DataError, match=refused):
        train(compose_config(tmp_path, ["ckpt_path=last", *DETERMINISTIC]))
    with pytest.raises(DataError, match=refused):
        api.load_model(last)
    assert not marker.exists()


def bad_checkpoints(tmp_path, good):
    """(name, path) of files that are not usable Promethium checkpoints."""
    ckpt = torch.load(good, weights_only=True)
    files = {
        "text": b"just some text\n",
        "truncated": good.read_bytes()[: good.stat().st_size // 2],
    }
    for name, payload in files.items():
        (tmp_path / f"{name}.ckpt").write_bytes(payload)
    torch.save(torch.zeros(3), tmp_path / "tensor.ckpt")
    torch.save({k: v for k, v in ckpt.items() if k != "state_dict"}, tmp_path / "noweights.ckpt")
    shapes = {
        **ckpt,
        "state_dict": {k: v[..., :1] if v.ndim else v for k, v in ckpt["state_dict"].items()},
    }
    torch.save(shapes, tmp_path / "shapes.ckpt")
    return {n: tmp_path / f"{n}.ckpt" for n in [*files, "tensor", "noweights", "shapes"]}


EXPECTED = {
    "text": "not a readable checkpoint",
    "truncated": "not a readable checkpoint",
    "tensor": "holds a Tensor",
    "noweights": "holds no weights",
    "shapes": "weights do not fit",
}


@pytest.mark.cli
def test_bad_checkpoints_give_one_clear_error_everywhere(finished_run, tmp_path):
    source, _ = finished_run
    bad = bad_checkpoints(tmp_path, source / "run" / "checkpoints" / "last.ckpt")
    for name, path in bad.items():
        with pytest.raises(DataError, match=EXPECTED[name]):
            api.load_model(path)
    import numpy as np

    np.save(tmp_path / "in.npy", np.zeros((2, 16, 32), np.float32))
    for task, extra in (
        ("infer", [f"input={tmp_path / 'in.npy'}", f"output={tmp_path / 'out.npy'}"]),
        ("evaluate", ["evaluate.n_gathers=1"]),
    ):
        for name in ("truncated", "shapes"):
            run = cli(
                f"task={task}",
                f"ckpt_path={bad[name]}",
                f"hydra.run.dir={tmp_path / task / name}",
                *extra,
                timeout=300,
            )
            assert run.returncode == 2, (task, name, run.stderr[-2000:])
            assert EXPECTED[name] in run.stderr, (task, name, run.stderr[-2000:])
            assert "Traceback" not in run.stderr + run.stdout
