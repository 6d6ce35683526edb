"""MLflow models: logged by task=train, registered, taken as models:/ URIs, served over REST."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from promethium import api
from promethium.errors import DataError
from promethium.tasks.common import execute
from tests.helpers import ROOT, compose_config


def mlflow_run(folder: Path, register_as: str | None, extra: list[str] = ()) -> Path:
    """A tiny training run tracked in ``folder/mlflow.db``; its run folder."""
    overrides = [
        "logger=mlflow",
        f"paths.mlflow_tracking_uri=sqlite:///{folder}/mlflow.db",
        f"logger.mlflow.artifact_location={folder}/mlartifacts",
        "normalize=rms",
        *([f"logger.mlflow.register_as={register_as}"] if register_as else []),
        *extra,
    ]
    execute(compose_config(folder, overrides))
    return folder / "run"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding ``tinynet`` version 1 (a tiny default run with normalize=rms)."""
    folder = tmp_path_factory.mktemp("registry")
    mlflow_run(folder, "tinynet")
    return folder


@pytest.fixture
def tracking(registry: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{registry}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("PROMETHIUM_ROOT", str(registry))  # the models:/ download cache
    return uri


def gathers() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(2, 24, 48)).astype(np.float32)


def best_checkpoint(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("epoch_*.ckpt"))[-1]


def test_registered_model_infers_as_the_checkpoint(registry: Path, tracking: str) -> None:
    import mlflow

    x = gathers()
    expected = api.infer(x, best_checkpoint(registry / "run"), device="cpu")
    np.testing.assert_array_equal(api.infer(x, "models:/tinynet/1", device="cpu"), expected)
    mlflow.set_tracking_uri(tracking)
    served = mlflow.pyfunc.load_model("models:/tinynet/1").predict(x)  # the pyfunc flavour
    np.testing.assert_array_equal(served, expected)
    card = (Path(mlflow.artifacts.download_artifacts("models:/tinynet/1")) / "artifacts").glob(
        "*.md"
    )
    assert "## Training data" in next(card).read_text()


def test_alias_and_load_model(registry: Path, tracking: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking).set_registered_model_alias("tinynet", "champion", "1")
    net = api.load_model("models:/tinynet@champion")
    reference = api.load_model(best_checkpoint(registry / "run"))
    for a, b in zip(net.state_dict().values(), reference.state_dict().values(), strict=True):
        assert (a == b).all()


def test_models_uri_in_infer_and_init_from(registry: Path, tracking: str, tmp_path: Path) -> None:
    from promethium.data.store import store_attrs, write_store

    survey = tmp_path / "survey.zarr"
    attrs = store_attrs(
        dt=0.004, dx=[None, 12.5], axis_names=["gather", "trace", "time"], provenance="test"
    )
    write_store(survey, gathers(), attrs)
    out = tmp_path / "out.zarr"
    execute(
        compose_config(
            tmp_path / "infer",
            [
                "task=infer",
                "ckpt_path=models:/tinynet/1",
                f"input={survey}",
                f"output={out}",
                f"paths.mlflow_tracking_uri={tracking}",
            ],
        )
    )
    assert out.is_dir()
    fine = [
        "init_from=models:/tinynet/1",
        "normalize=rms",
        "logger=none",
        f"paths.mlflow_tracking_uri={tracking}",
    ]
    execute(compose_config(tmp_path / "fine", fine))
    assert (tmp_path / "fine" / "run" / "checkpoints" / "last.ckpt").is_file()


def test_unknown_model_is_one_clear_error(tracking: str) -> None:
    with pytest.raises(DataError, match=r"models:/nosuch/1: no such registered model"):
        api.load_model("models:/nosuch/1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.cli
def test_mlflow_models_serve_answers_invocations(registry: Path, tracking: str) -> None:
    """``mlflow models serve`` on 127.0.0.1: a posted gather comes back processed."""
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "OMP_NUM_THREADS": "1"}
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow_cli), "models", "serve", "-m", "models:/tinynet/1", "--env-manager",
         "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=registry,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {server.stderr.read()}") from None
                time.sleep(0.5)
        x = gathers()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": x.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = np.asarray(json.loads(response.read())["predictions"], dtype=np.float32)
        expected = api.infer(x, "models:/tinynet/1", device="cpu")
        np.testing.assert_allclose(answer, expected, rtol=0, atol=1e-6)  # JSON floats
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serving_docs_match_the_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Serving a model" in readme
    assert "mlflow models serve -m models:/" in readme and "/invocations" in readme
