"""Field data (issue #20): SEG-Y as the industry writes it, the amplitude contract, recorded
traces passing through, and training without clean labels, on the real F3 crops."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import segyio
import torch
import zarr

from promethium.api import load_checkpoint
from promethium.data.segy import SEGY_FORMATS, segy_to_zarr
from promethium.data.segy_export import zarr_to_segy
from promethium.data.sources import CorruptedRecord, ZarrSource
from promethium.data.store import store_attrs, write_store
from promethium.data.transforms import BlindSpot, MissingTraces
from promethium.errors import ConfigError
from promethium.inference import tiled_predict
from promethium.ml.loss import DataLoss
from promethium.models.amplitude import AmplitudeContract, NormalizedNetwork
from promethium.tasks.common import execute
from tests.helpers import cli as run_cli
from tests.helpers import compose_config

DATA = Path(__file__).parent / "data"
CUBE = ["INLINE_3D", "CROSSLINE_3D"]


def write_segy(path: Path, fmt: int, endian: str, values: np.ndarray) -> None:
    """A two-gather pre-stack file in sample format ``fmt`` and byte order ``endian``."""
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = fmt, list(range(values.shape[1])), len(values)
    spec.endian = endian
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=2000, hns=values.shape[1], format=fmt)
        for i, trace in enumerate(values):
            f.header[i] = {
                segyio.TraceField.TRACE_SEQUENCE_FILE: i + 1,
                segyio.TraceField.FieldRecord: 10 + i // 3,
                segyio.TraceField.TraceNumber: i % 3 + 1,
                segyio.TraceField.TRACE_SAMPLE_INTERVAL: 2000,
            }
            f.trace[i] = trace


@pytest.mark.parametrize("endian", ["big", "little"])
@pytest.mark.parametrize("fmt", sorted(SEGY_FORMATS))
def test_every_sample_format_and_byte_order_round_trips(tmp_path, fmt, endian):
    dtype = {1: "f4", 5: "f4", 6: "f8"}.get(fmt, SEGY_FORMATS[fmt][0])
    rng = np.random.default_rng(fmt)
    values = rng.integers(0, 100, size=(6, 20)).astype(dtype)
    src = tmp_path / "in.sgy"
    write_segy(src, fmt, endian, values)
    store = segy_to_zarr(src, tmp_path / "s.zarr", progress=False)  # byte order detected
    group = zarr.open_group(str(store), mode="r")
    assert group.attrs["segy"]["endian"] == endian and group.attrs["segy"]["format"] == fmt
    np.testing.assert_array_equal(group["amplitude"][...].reshape(6, 20), values.astype(np.float32))
    out = zarr_to_segy(store, tmp_path / "out.sgy", progress=False)
    assert out.read_bytes() == src.read_bytes()  # same format: every byte as it was


def test_export_to_another_format_rounds_and_clips(tmp_path):
    src = tmp_path / "in.sgy"
    write_segy(src, 5, "big", np.array([[0.4, 1.6, -2.5, 4e4, -4e4, 7.0]] * 3, np.float32))
    store = segy_to_zarr(src, tmp_path / "s.zarr", progress=False)
    zarr_to_segy(store, tmp_path / "out.sgy", progress=False, fmt=3)
    with segyio.open(str(tmp_path / "out.sgy"), ignore_geometry=True) as f:
        assert int(f.format) == 3
        np.testing.assert_array_equal(f.trace[0], [0, 2, -2, 32767, -32768, 7])
    with pytest.raises(ConfigError, match="format: got 4"):
        zarr_to_segy(store, tmp_path / "bad.sgy", progress=False, fmt=4)


def test_f3_crops_convert_with_their_absent_traces_marked(tmp_path):
    full = segy_to_zarr(DATA / "f3_cropped.sgy", tmp_path / "full.zarr", CUBE, progress=False)
    dead = segy_to_zarr(DATA / "f3_withdead.sgy", tmp_path / "dead.zarr", CUBE, progress=False)
    full_group, dead_group = zarr.open_group(str(full)), zarr.open_group(str(dead))
    assert full_group["amplitude"].shape == dead_group["amplitude"].shape == (23, 18, 75)
    assert full_group["trace_mask"][...].sum() == 414 and dead_group["trace_mask"][...].sum() == 239
    live = dead_group["trace_mask"][...]
    assert not dead_group["amplitude"][...][~live].any()  # absent traces are zero
    assert dead_group.attrs["provenance"]["format"] == "IBM float32"
    assert full_group.attrs["provenance"]["format"] == "int16"
    for store, src in ((full, "f3_cropped.sgy"), (dead, "f3_withdead.sgy")):
        out = zarr_to_segy(store, tmp_path / f"out_{src}", progress=False)
        assert out.read_bytes() == (DATA / src).read_bytes()


def test_absent_traces_never_count_in_a_loss(tmp_path):
    """Poison the record's absent traces with huge values: the training loss is unchanged."""
    rng = np.random.default_rng(0)
    values = rng.standard_normal((4, 16, 32)).astype(np.float32)
    live = rng.random((4, 16)) > 0.3
    attrs = store_attrs(dt=0.004, dx=[None, 10.0], axis_names=["g", "t", "time"], provenance="t")
    losses = []
    for poison in (0.0, 1e6):
        record = np.where(live[..., None], values, poison).astype(np.float32)
        path = tmp_path / f"p{poison}.zarr"
        write_store(path, record, attrs, extra_arrays={"trace_mask": live})
        cfg = compose_config(
            tmp_path / f"run{poison}",
            [
                f"data.path={path}",
                "data.patch_size=[16,32]",
                "trainer.max_epochs=1",
                "logger=none",
                "task.loss.observed_weight=0.0",
                "~callbacks.qc_figures",
            ],
            data="zarr",
        )
        losses.append(execute(cfg)["val/loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6) and np.isfinite(losses[0])
    huge = torch.full((1, 1, 4, 8), 1e30)
    weight_zero = torch.zeros((1, 1, 4, 1))
    assert DataLoss()(huge, torch.zeros_like(huge), None, weight_zero) == 0


def test_self_supervised_decimation_drops_only_recorded_traces():
    rng = np.random.default_rng(1)
    patch = rng.standard_normal((20, 16)).astype(np.float32)
    patch[::2] = 0  # half of the traces absent from the record
    out, mask = MissingTraces(0.5, of_live=True)(patch, rng)
    dropped = np.flatnonzero(mask[:, 0] == 0)
    assert len(dropped) == 5 and all(d % 2 == 1 for d in dropped)
    assert not out[dropped].any()


def test_blind_spots_hide_samples_behind_their_neighbours():
    rng = np.random.default_rng(2)
    patch = np.arange(32 * 40, dtype=np.float32).reshape(32, 40)
    out, mask = BlindSpot(fraction=0.05, radius=2)(patch, rng)
    hidden = mask == 0
    assert hidden.sum() == round(0.05 * patch.size) and mask.shape == patch.shape
    assert np.array_equal(out[~hidden], patch[~hidden])
    for t, s in zip(*np.nonzero(hidden), strict=True):  # each came from a near neighbour
        source = np.argwhere(patch == out[t, s])[0]
        assert 0 < np.abs(source - (t, s)).max() <= 2
    traces, trace_mask = BlindSpot(fraction=0.1, mode="traces")(patch, rng)
    assert trace_mask.shape == (32, 1) and (trace_mask == 0).sum() == 3


def test_corrupted_record_bakes_a_recording_into_a_store(tmp_path):
    values = np.random.default_rng(3).standard_normal((3, 10, 16)).astype(np.float32)
    attrs = store_attrs(dt=0.004, dx=[None, 10.0], axis_names=["g", "t", "time"], provenance="t")
    write_store(tmp_path / "full.zarr", values, attrs)
    source = CorruptedRecord(ZarrSource(str(tmp_path / "full.zarr")), [MissingTraces(0.5)], 0)
    path = source.prepare(tmp_path)
    assert path == source.prepare(tmp_path)  # cached
    group = zarr.open_group(str(path))
    live = group["trace_mask"][...]
    assert live.sum() == 15 and not group["amplitude"][...][~live].any()
    np.testing.assert_array_equal(group["amplitude"][...][live], values[live])


#: the field_interp recipe on the F3 cube with holes, shrunk to seconds
FIELD_TINY = [
    "experiment=field_interp",
    f"data.path={DATA / 'f3_withdead.sgy'}",
    "data.source.sort=[INLINE_3D,CROSSLINE_3D]",
    "data.patch_size=[16,64]",
    "model.depth=2",
    "model.base_channels=4",
    "logger=none",
]


@pytest.fixture(scope="module")
def field_checkpoint(tmp_path_factory):
    """A tiny field_interp run (self-supervised, normalize=rms) on the F3 cube with holes."""
    tmp = tmp_path_factory.mktemp("field")
    cfg = compose_config(tmp, [*FIELD_TINY, "trainer.max_epochs=2"], data="segy")
    metrics = execute(cfg)
    return tmp / "run" / "checkpoints" / "last.ckpt", metrics


def test_field_recipe_trains_and_records_its_amplitude_contract(field_checkpoint):
    ckpt, metrics = field_checkpoint
    assert np.isfinite(metrics["val/snr_global_missing"])
    net, config = load_checkpoint(ckpt)
    assert isinstance(net, NormalizedNetwork) and config["normalize"]["kind"] == "rms"


def test_inference_is_scale_equivariant_on_raw_integer_amplitudes(field_checkpoint, tmp_path):
    net, _ = load_checkpoint(field_checkpoint[0])
    store = segy_to_zarr(DATA / "f3_cropped.sgy", tmp_path / "f3.zarr", CUBE, progress=False)
    x = zarr.open_group(str(store))["amplitude"][...]  # int16 counts, std ~2000
    reference = tiled_predict(net, x, (16, 64), 0.25)
    for k in (1e-3, 1.0, 1e3):
        scaled = tiled_predict(net, k * x, (16, 64), 0.25)
        expected = k * reference  # to 1e-5 of the output's scale, sample by sample
        np.testing.assert_allclose(scaled, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_contract_kinds_are_equivariant_and_ignore_dead_traces():
    x = torch.randn(2, 1, 8, 40)
    x[:, :, 3] = 0
    for kind in ("rms", "std", "peak", "agc"):
        contract = AmplitudeContract(kind, window=9 if kind == "agc" else None)
        torch.testing.assert_close(
            contract.scale(1e3 * x), 1e3 * contract.scale(x), rtol=1e-5, atol=0
        )
    rms = AmplitudeContract("rms").scale(x)
    live = torch.cat([x[:, :, :3], x[:, :, 4:]], dim=2)
    torch.testing.assert_close(rms.flatten(), live.square().mean(dim=(1, 2, 3)).sqrt())
    with pytest.raises(ConfigError, match="kind: got 'loud'"):
        AmplitudeContract("loud")


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("task=infer", "infer.progress=false", *args, timeout=300)


@pytest.mark.cli
def test_infer_fills_absent_traces_keeps_recorded_ones_and_writes_segy(field_checkpoint, tmp_path):
    ckpt = field_checkpoint[0]
    out = tmp_path / "filled.sgy"
    run = cli(
        f"ckpt_path={ckpt}",
        f"input={DATA / 'f3_withdead.sgy'}",
        f"output={out}",
        "infer.segy_sort=[INLINE_3D,CROSSLINE_3D]",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    with segyio.open(str(out)) as filled, segyio.open(str(DATA / "f3_cropped.sgy")) as full:
        assert filled.tracecount == 414  # the whole cube, in geometry order
        assert list(filled.ilines) == list(full.ilines)
        assert list(filled.xlines) == list(full.xlines)
        assert int(filled.format) == 1  # the input's format
        position = {
            (h[segyio.TraceField.INLINE_3D], h[segyio.TraceField.CROSSLINE_3D]): i
            for i, h in enumerate(filled.header)
        }
        with segyio.open(str(DATA / "f3_withdead.sgy"), ignore_geometry=True) as dead:
            for i in range(dead.tracecount):  # recorded traces pass through exactly
                key = (
                    dead.header[i][segyio.TraceField.INLINE_3D],
                    dead.header[i][segyio.TraceField.CROSSLINE_3D],
                )
                np.testing.assert_array_equal(filled.trace[position[key]], dead.trace[i])
        # absent positions get the grid's own coordinates, at its edges too
        for field in (segyio.TraceField.CDP_X, segyio.TraceField.CDP_Y):
            for h in full.header:
                key = (h[segyio.TraceField.INLINE_3D], h[segyio.TraceField.CROSSLINE_3D])
                assert abs(filled.header[position[key]][field] - h[field]) <= 10, (key, field)
    complete = tmp_path / "complete.sgy"
    run = cli(
        f"ckpt_path={ckpt}",
        f"input={DATA / 'f3_cropped.sgy'}",
        f"output={complete}",
        "infer.segy_sort=[INLINE_3D,CROSSLINE_3D]",
        f"hydra.run.dir={tmp_path / 'run2'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    # nothing missing: an interpolation model returns the survey itself, in format 3
    assert complete.read_bytes() == (DATA / "f3_cropped.sgy").read_bytes()


def test_fine_tuning_starts_from_a_checkpoint_with_the_same_contract(field_checkpoint, tmp_path):
    ckpt = field_checkpoint[0]
    base = [*FIELD_TINY, f"init_from={ckpt}"]
    cfg = compose_config(tmp_path / "a", [*base, "trainer.max_epochs=1"], data="segy")
    from promethium.tasks.builders import build_module

    module = build_module(cfg)
    trained, _ = load_checkpoint(ckpt)
    for name, value in module.net.state_dict().items():
        torch.testing.assert_close(value, trained.net.state_dict()[name])
    other = compose_config(tmp_path / "b", [*base, "normalize=peak"], data="segy")
    with pytest.raises(
        ConfigError, match="init_from: .*normalize.kind: checkpoint 'rms', this run 'peak'"
    ):
        build_module(other)
