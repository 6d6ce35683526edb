"""Model cards: written by task=train, read without Lightning, migrated, checked against surveys."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import segyio
import torch

from promethium import api
from promethium.ml.checkpoints import network_from_checkpoint, read_checkpoint
from promethium.ml.model_card import (
    CARD_KEY,
    FORMAT_VERSION,
    amplitude_mismatch,
    read_card,
    resolved_model_config,
    store_fingerprint,
    survey_amplitudes,
)
from promethium.models import ModelRegistry
from promethium.models.amplitude import AmplitudeContract
from tests.helpers import DATA, ROOT, train_tiny

#: a checkpoint of Promethium 0.1.0, before cards (the default recipe, shrunk, normalize=rms)
RELEASE_CHECKPOINT = DATA / "checkpoint_0.1.0.ckpt"


@pytest.fixture(scope="module")
def rms_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("card_rms"), ["normalize=rms"])


@pytest.fixture(scope="module")
def raw_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained on unit-scale synthetics without an amplitude contract (normalize=none)."""
    return train_tiny(tmp_path_factory.mktemp("card_raw"), ["normalize=none"])


def f3_gathers() -> np.ndarray:
    """The raw F3 crop (2-byte integers of order 1e3) as 23 inlines of 18 traces."""
    with segyio.open(str(DATA / "f3_cropped.sgy")) as f:
        return np.asarray(f.trace.raw[:], dtype=np.float32).reshape(23, 18, 75)


def test_card_holds_every_field(rms_checkpoint: Path) -> None:
    card = read_card(rms_checkpoint)
    assert card["format_version"] == FORMAT_VERSION
    assert card["promethium"]["version"] == "0.1.0"
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert card["promethium"]["git_commit"] == (commit or None)
    assert card["task"] == {"kind": "interpolation", "monitor": "val/snr", "mode": "max"}
    assert card["contract"] == {"kind": "rms", "per": "patch", "gain": 0.0}
    model = card["model"]
    assert model["name"] == "unet" and model["stem_stride"] == 2 and model["spatial_dims"] == 2
    data = card["data"]
    assert data["fingerprint"] == store_fingerprint(data["store"])
    assert data["shape"] == [8, 24, 48] and data["dt"] == pytest.approx(0.004)
    assert data["axis_names"] == ["gather", "trace", "time"]
    assert data["corruption"][0]["_target_"].endswith("MissingTraces")
    assert "2 validation" in data["held_out"]
    # per-patch RMS scaling: the network's inputs have unit RMS over their live samples
    assert card["amplitude"]["rms"] == pytest.approx(1.0, rel=0.05)
    assert 0 < card["amplitude"]["p50"] < card["amplitude"]["p99"]
    assert set(card["metrics"]["best"]) == {"val/snr"}
    assert card["metrics"]["final"]["val/snr"] == pytest.approx(card["metrics"]["best"]["val/snr"])
    assert card["num_parameters"] > 0 and card["command"]
    json.dumps(card)  # plain JSON types only: weights-only loading keeps working


def test_card_reads_without_lightning(rms_checkpoint: Path) -> None:
    """In a fresh interpreter where importing Lightning fails."""
    code = (
        "import sys; sys.modules['lightning'] = None; sys.modules['pytorch_lightning'] = None\n"
        "from promethium.ml.model_card import read_card, card_markdown\n"
        f"card = read_card({str(rms_checkpoint)!r})\n"
        "print(card['model']['stem_stride'], card['contract']['kind'])\n"
        "print(card_markdown(card))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.splitlines()[0] == "2 rms"
    assert "## Training data" in out and "`fingerprint`" in out


def test_fingerprint_follows_the_content(tmp_path: Path) -> None:
    from promethium.data.store import store_attrs, write_store

    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    data = np.random.default_rng(0).normal(size=(2, 8, 16)).astype(np.float32)
    attrs = store_attrs(
        dt=0.004, dx=[None, 10.0], axis_names=["gather", "trace", "time"], provenance="test"
    )
    write_store(a, data, attrs)
    write_store(b, data, attrs)
    assert store_fingerprint(a) == store_fingerprint(b)
    data[0, 0, 0] += 1
    write_store(b, data, attrs, overwrite=True)
    assert store_fingerprint(a) != store_fingerprint(b)


def test_resolved_arguments_are_every_default() -> None:
    resolved = resolved_model_config({"name": "unet", "spatial_dims": 2, "depth": 2})
    assert resolved["stem_stride"] == 2 and resolved["depth"] == 2 and resolved["norm"] == "batch"
    pinn = resolved_model_config(
        {"name": "pinn", "spatial_dims": 2, "physics_weight": 0, "backbone": {"name": "unet"}}
    )
    unet_depth = inspect.signature(ModelRegistry.get("unet")).parameters["depth"].default
    assert pinn["backbone"]["depth"] == unet_depth and "spatial_dims" not in pinn["backbone"]


def test_network_is_built_from_the_card_not_todays_defaults(rms_checkpoint: Path) -> None:
    """A default changed after training (here: dropout) cannot alter the trained network."""
    ckpt = dict(read_checkpoint(rms_checkpoint))
    ckpt[CARD_KEY] = {**ckpt[CARD_KEY], "model": {**ckpt[CARD_KEY]["model"], "dropout": 0.25}}
    net = network_from_checkpoint(ckpt, rms_checkpoint)
    rates = {m.p for m in net.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)}
    assert rates == {0.25}


def test_release_checkpoint_loads_through_the_migration() -> None:
    card = read_card(RELEASE_CHECKPOINT)
    assert card["format_version"] == FORMAT_VERSION and card["migrated_from"] == 0
    assert card["task"]["kind"] == "interpolation" and card["contract"]["kind"] == "rms"
    assert card["model"]["stem_stride"] == 2 and card["model"]["depth"] == 2
    assert card["metrics"]["best"]["val/snr"] == pytest.approx(-0.8015, abs=1e-3)
    gathers = np.random.default_rng(1).normal(size=(2, 24, 48)).astype(np.float32)
    out = api.infer(gathers, RELEASE_CHECKPOINT, device="cpu")
    assert out.shape == gathers.shape and np.isfinite(out).all()


def test_amplitude_warning_fires_on_raw_f3_without_a_contract(
    raw_checkpoint: Path, rms_checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f3 = f3_gathers()
    with caplog.at_level(logging.WARNING, logger="promethium"):
        api.infer(f3, raw_checkpoint, device="cpu")
    warned = [r.getMessage() for r in caplog.records if "RMS amplitude" in r.getMessage()]
    assert len(warned) == 1 and "normalize: none" in warned[0] and "normalize=rms" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="promethium"):
        api.infer(f3, rms_checkpoint, device="cpu")
    assert not [r for r in caplog.records if "RMS amplitude" in r.getMessage()]


def test_mismatch_compares_after_the_contract() -> None:
    x = np.random.default_rng(2).normal(scale=1000.0, size=(3, 18, 75))
    raw = survey_amplitudes(x, None, spatial_dims=2)
    scaled = survey_amplitudes(x, AmplitudeContract("rms"), spatial_dims=2)
    assert raw["rms"] == pytest.approx(1000.0, rel=0.05)
    assert scaled["rms"] == pytest.approx(1.0, rel=0.05)
    card = {"amplitude": {"rms": 1.0}, "contract": {"kind": "none"}}
    assert amplitude_mismatch(card, scaled) is None
    assert "1e+03x" in (amplitude_mismatch(card, raw) or "")
    assert amplitude_mismatch({"amplitude": {}}, raw) is None  # a migrated card: unknown


def test_model_card_script_prints_markdown(
    rms_checkpoint: Path, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import model_card as script
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert script.main([str(rms_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Model card: last.ckpt") and "| `stem_stride` | 2 |" in out
    assert script.main([str(rms_checkpoint), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format_version"] == FORMAT_VERSION
    assert script.main([str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt: no such checkpoint" in capsys.readouterr().err
