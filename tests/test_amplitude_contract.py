"""The amplitude contract's trace stage: t^p gain and per-gather scale (issue #20, item 2).

Training applies it to patches as they are read, inference to blocks of the input; both
must give the same numbers, and inference must take it back off exactly.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from promethium.api import load_checkpoint
from promethium.data.store import store_attrs, write_store
from promethium.errors import ConfigError, DataError
from promethium.inference import tiled_predict
from promethium.models.amplitude import AmplitudeContract, NormalizedNetwork, TraceAmplitude
from promethium.tasks.builders import build_datamodule
from promethium.tasks.common import execute
from tests.helpers import compose_config, infer_command

DT = 0.004
AXES = ["shot", "trace", "time"]


def gathers(seed: int = 0, shape=(4, 12, 50)) -> np.ndarray:
    """Shot-like gathers whose amplitude decays as 1/t^2 and differs by 100x per gather."""
    rng = np.random.default_rng(seed)
    t = np.maximum(np.arange(shape[-1]) * DT, DT / 2)
    x = rng.standard_normal(shape) / t**2 * np.logspace(0, 2, shape[0])[:, None, None]
    x[1, 3] = 0.0  # a dead trace
    return x.astype(np.float32)


class Identity(nn.Module):
    spatial_dims = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Square(nn.Module):  # not scale-equivariant: shows any scaling left on the output
    spatial_dims = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x.abs()


def test_gain_and_gather_scale_against_the_formula():
    x = gathers()
    contract = AmplitudeContract("rms", per="gather", gain=2.0)
    stage = TraceAmplitude(contract, DT, lambda g: x[g], by_first_axis=True)
    t = np.maximum(np.arange(x.shape[-1]) * DT, DT / 2)
    for g in range(len(x)):
        gained = x[g] * t**2
        live = gained[np.abs(gained).max(axis=1) > 0]
        expected_scale = np.sqrt(np.mean(live.astype(np.float64) ** 2))
        assert stage.gather_scale(g) == pytest.approx(expected_scale, rel=1e-6)
        patch = x[g, 2:10, 7:39]
        expected = patch * t[7:39] ** 2 / expected_scale
        np.testing.assert_allclose(stage.on_patch(patch, g, 7), expected, rtol=1e-5)
    # gained gathers are balanced: one unit RMS each, whatever the 100x between them
    scales = [stage.gather_scale(g) for g in range(len(x))]
    assert max(scales) / min(scales) > 50


def test_training_patches_and_inference_blocks_agree(tmp_path):
    """The data module's patches equal the inference view's blocks of the same store."""
    x = gathers(1)
    attrs = store_attrs(
        dt=DT, dx=[None, 10.0], axis_names=["shot", "trace", "time"], provenance="t"
    )
    write_store(tmp_path / "s.zarr", x, attrs)
    cfg = compose_config(
        tmp_path,
        ["normalize=gained", "data.patch_size=[12,50]", "corruption=none"],
        data="zarr",
    )
    cfg.data.path = str(tmp_path / "s.zarr")
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    item = dm.datasets["val"][0]  # a whole gather (grid mode)
    region = dm.datasets["val"].windows[0][0]
    g = region.lead[0]
    stage = TraceAmplitude(AmplitudeContract("rms", "gather", gain=2.0), DT, lambda i: x[i], True)
    expected = x[g] * stage.factors([g], 0, x.shape[-1])[0]
    np.testing.assert_allclose(item["target"][0].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert np.sqrt(np.mean(expected[np.abs(expected).max(axis=1) > 0] ** 2)) == pytest.approx(1)


@pytest.mark.parametrize("per", ["gather", "patch"])
def test_inference_undoes_the_trace_stage_exactly(per):
    x = gathers(2)
    contract = AmplitudeContract("rms", per=per, gain=2.0)
    identity = tiled_predict(NormalizedNetwork(Identity(), contract), x, (8, 16), 0.25, dt=DT)
    np.testing.assert_allclose(identity, x, rtol=1e-5, atol=1e-6 * np.abs(x).max())
    # a network that is not scale-equivariant, inside the contract, is
    net = NormalizedNetwork(Square(), contract)
    reference = tiled_predict(net, x, (8, 16), 0.25, dt=DT)
    for k in (1e-3, 1e3):
        scaled = tiled_predict(net, k * x, (8, 16), 0.25, dt=DT)
        np.testing.assert_allclose(
            scaled, k * reference, rtol=1e-4, atol=1e-6 * k * np.abs(x).max()
        )
    # the output is the network's in gained, balanced units, brought back to the input's
    t = np.maximum(np.arange(x.shape[-1]) * DT, DT / 2) ** 2
    if per == "gather":
        stage = TraceAmplitude(contract, DT, lambda g: x[g], by_first_axis=True)
        f = np.stack([stage.factors([g], 0, x.shape[-1])[0] for g in range(len(x))])[:, None]
        np.testing.assert_allclose(reference, (x * f) ** 2 * np.sign(x) / f, rtol=1e-4, atol=1e-6)
    assert not np.allclose(reference, x * np.abs(x) * t)  # not the raw square


def test_gain_without_a_sample_interval_and_bad_settings_are_refused():
    x = gathers()
    net = NormalizedNetwork(Identity(), AmplitudeContract("rms", per="gather", gain=2.0))
    with pytest.raises(DataError, match="sample interval"):
        tiled_predict(net, x, (8, 16), 0.25)  # no dt
    with pytest.raises(ConfigError, match="^gain: got -1"):
        AmplitudeContract("rms", gain=-1)
    with pytest.raises(ConfigError, match="^per: got 'gather'"):
        AmplitudeContract("agc", per="gather", window=5)


@pytest.mark.cli
def test_gained_recipe_trains_records_the_contract_and_infers_in_raw_units(tmp_path):
    """normalize=gained end to end: train, checkpoint, task=infer on a store in raw units."""
    x = gathers(3, shape=(8, 24, 64))
    attrs = store_attrs(
        dt=DT, dx=[None, 10.0], axis_names=["shot", "trace", "time"], provenance="t"
    )
    write_store(tmp_path / "raw.zarr", x, attrs)
    overrides = ["normalize=gained", f"data.path={tmp_path / 'raw.zarr'}", "logger=none"]
    cfg = compose_config(tmp_path / "train", overrides, data="zarr")
    metrics = execute(cfg)
    assert np.isfinite(metrics["val/loss"])
    ckpt = tmp_path / "train" / "run" / "checkpoints" / "last.ckpt"
    net, config = load_checkpoint(ckpt)
    assert config["normalize"]["gain"] == 2.0 and config["normalize"]["per"] == "gather"
    expected = tiled_predict(net, x, (16, 32), 0.25, dt=DT)
    command = infer_command(
        f"ckpt_path={ckpt}",
        f"input={tmp_path / 'raw.zarr'}",
        f"output={tmp_path / 'out.npy'}",
        f"hydra.run.dir={tmp_path / 'infer'}",
    )
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    # raw units: the output follows the input's 100x spread between gathers
    assert np.abs(out[-1]).mean() / np.abs(out[0]).mean() > 20
    # evaluate scores where the network works: gained, one unit RMS per gather
    evaluate = ["task=evaluate", f"ckpt_path={ckpt}", f"data.path={tmp_path / 'raw.zarr'}"]
    ev = compose_config(tmp_path / "eval", evaluate, data="zarr")
    scores = execute(ev)
    assert scores["domain"] == "the model's: t^2 gain, rms per gather"
    saved = np.load(tmp_path / "eval" / "run" / "evaluation.npz")
    for given in saved["input"]:  # each input gather at unit RMS over its recorded traces,
        live = given[np.abs(given).max(axis=1) > 0]  # as task=infer scales a survey
        assert np.sqrt(np.mean(np.square(live, dtype=np.float64))) == pytest.approx(1, rel=1e-4)
    assert np.isfinite(scores["network/snr_db"]) and np.isfinite(scores["pocs/snr_db"])


def test_a_recording_is_corrupted_where_training_corruptions_act(tmp_path):
    """data.record noise at 0 dB is 0 dB in the contract's domain, as training noise is."""
    from promethium.data.sources import CorruptedRecord, ZarrSource
    from promethium.data.store import open_store
    from promethium.data.transforms import AdditiveNoise
    from promethium.ml.datamodule import ContractDomain
    from promethium.quality import snr_db

    x = gathers(4)
    write_store(
        tmp_path / "clean.zarr",
        x,
        store_attrs(dt=DT, dx=[None, 10.0], axis_names=AXES, provenance="test"),
    )
    contract = AmplitudeContract("rms", "gather", gain=2.0)
    stage = TraceAmplitude(contract, DT, lambda g: x[g], by_first_axis=True)
    f = stage.block_factors((slice(None),) * 3, x.shape)
    noisy = {}
    for name, domain in (("contract", ContractDomain(contract, 2)), ("raw", None)):
        source = CorruptedRecord(
            ZarrSource(str(tmp_path / "clean.zarr")), [AdditiveNoise(0.0)], 0, domain
        )
        noisy[name] = open_store(source.prepare(tmp_path / name))[1][...]
    in_contract = snr_db(noisy["contract"] * f, x * f)  # noise on every sample, per gather
    np.testing.assert_allclose(in_contract, 0.0, atol=1e-3)
    assert snr_db(noisy["raw"] * f, x * f).mean() < -3  # raw-unit noise swamps late times
