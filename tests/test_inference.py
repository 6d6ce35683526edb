"""Tiled inference: exact identities, seams, streaming = in memory, resume, the CLI task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from promethium.api import load_model
from promethium.data.store import store_attrs, write_store
from promethium.errors import ConfigError, DataError
from promethium.inference import TileGrid, axis_starts, tiled_predict
from promethium.inference.predict import make_layout
from promethium.inference.streaming import parse_shard, stream_predict, work_path
from tests.helpers import compose_config, infer_command, run_together


class Identity(torch.nn.Module):
    """Returns its input; has one parameter so that ``.to(device)`` has something to move."""

    def __init__(self, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class PatchBias(Identity):
    """Adds the patch's mean, a bias that differs from patch to patch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)


CASES = [  # (model dims, array shape, patch)
    (1, (3, 101), 16),
    (1, (2, 3, 37), 10),
    (2, (37, 53), (8, 12)),
    (2, (2, 29, 31), 7),
    (3, (13, 11, 9), 5),
    (3, (2, 9, 10, 11), (4, 6, 5)),
]


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.75])
@pytest.mark.parametrize(("dims", "shape", "patch"), CASES)
@pytest.mark.parametrize("window", ["cosine", "gaussian", "constant"])
def test_identity_and_constant_field_are_exact(dims, shape, patch, overlap, window):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = tiled_predict(Identity(dims), x, patch, overlap, batch_size=5, window=window)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.abs(y - x).max() <= 1e-6 * np.abs(x).max()
    const = np.full(shape, 3.25, dtype=np.float32)
    y = tiled_predict(Identity(dims), const, patch, overlap, batch_size=5, window=window)
    assert np.abs(y - const).max() <= 1e-6 * 3.25


@pytest.mark.parametrize(("dims", "shape", "patch"), CASES)
def test_device_blending_path_matches_host_path(dims, shape, patch):
    """The gather / scatter-add path used on accelerators, run here on the CPU."""
    torch.manual_seed(0)
    net = PatchBias(dims)
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    host = tiled_predict(net, x, patch, 0.5, batch_size=6, host_blending=True)
    device = tiled_predict(net, x, patch, 0.5, batch_size=6, host_blending=False)
    np.testing.assert_allclose(device, host, rtol=0, atol=1e-6)
    same = tiled_predict(Identity(dims), x, patch, 0.75, batch_size=6, host_blending=False)
    assert np.abs(same - x).max() <= 1e-6 * np.abs(x).max()


@pytest.mark.parametrize("host_blending", [True, False])
@pytest.mark.parametrize(
    ("dims", "shape", "patch", "slice_axis"),
    [(2, (2, 29, 31), 7, None), (3, (13, 11, 9), 5, None), (2, (6, 7, 9), 4, "crossline")],
)
def test_tensor_input_gives_a_tensor_equal_to_the_array_path(
    dims, shape, patch, slice_axis, host_blending
):
    """Tensors (a GPU-resident volume's path) are read, blended and returned as tensors."""
    x = np.random.default_rng(8).standard_normal(shape).astype(np.float32)
    mask = np.random.default_rng(9).random(shape[:-1]) > 0.3
    kwargs = dict(batch_size=4, slice_axis=slice_axis, mask=mask, host_blending=host_blending)
    ref = tiled_predict(PatchBias(dims), x, patch, 0.5, **kwargs)
    # float64 and non-contiguous (transposed twice) input, as users hand them over
    tensor = torch.from_numpy(x).double().transpose(0, 1).contiguous().transpose(0, 1)
    assert not tensor.is_contiguous()
    # num_workers=1: the threaded pipeline (reader, forward, blender) that GPUs use
    y = tiled_predict(PatchBias(dims), tensor, patch, 0.5, num_workers=1, **kwargs)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.device == tensor.device
    assert y.is_contiguous() and y.shape == tensor.shape
    np.testing.assert_allclose(y.numpy(), ref, rtol=0, atol=1e-6)
    same = tiled_predict(Identity(dims), tensor, patch, 0.75, host_blending=host_blending)
    assert (same - tensor).abs().max() <= 1e-6 * tensor.abs().max()


@pytest.mark.parametrize("host_blending", [True, False])
def test_many_small_regions_give_the_one_region_result(monkeypatch, host_blending):
    from promethium.inference import predict

    x = np.random.default_rng(6).standard_normal((7, 3, 19, 23)).astype(np.float32)
    whole = tiled_predict(PatchBias(2), x, 8, 0.5, batch_size=5, host_blending=host_blending)
    monkeypatch.setattr(predict, "REGION_SAMPLES", 2 * 3 * 19 * 23)  # two leads per region
    split = tiled_predict(PatchBias(2), x, 8, 0.5, batch_size=5, host_blending=host_blending)
    np.testing.assert_allclose(split, whole, rtol=0, atol=1e-6)


def test_grid_ends_flush_and_covers_every_sample():
    for n, p, o in [(100, 16, 4), (37, 8, 0), (8, 8, 3), (129, 128, 64), (5, 3, 2)]:
        starts = axis_starts(n, p, o)
        assert starts[0] == 0 and starts[-1] == n - p
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s : s + p] = True
        assert covered.all()
        assert np.all(np.diff(starts) <= p - o) and np.all(np.diff(starts) > 0)
    # a patch longer than the axis shrinks to it: one patch, the whole axis
    grid = TileGrid(shape=(5, 40), patch_size=(16, 16), overlap=(4, 4))
    assert grid.patch == (5, 16) and len(grid.starts[0]) == 1


def test_cosine_blending_leaves_no_seam():
    """A per-patch bias steps at patch borders with plain averaging, not with cosine."""
    ramp = np.add.outer(np.linspace(0, 4, 96), np.linspace(0, 4, 80)).astype(np.float32)
    jumps = {}
    for window in ("cosine", "constant"):
        bias = tiled_predict(PatchBias(2), ramp, 32, 0.5, window=window) - ramp
        jumps[window] = max(np.abs(np.diff(bias, axis=a)).max() for a in (0, 1))
    # neighbouring patches' biases differ by the ramp's rise over one stride (16 samples)
    step = 16 * 4 / 95 * 1
    assert jumps["constant"] > 0.4 * step
    assert jumps["cosine"] < 0.15 * step


def test_mask_zeroes_dead_traces_like_training():
    x = np.random.default_rng(1).standard_normal((4, 20, 30)).astype(np.float32)
    mask = np.ones((4, 20), bool)
    mask[1, 3] = mask[2, 7] = False
    y = tiled_predict(Identity(2), x, (8, 16), 0.25, mask=mask)
    assert np.all(y[~mask] == 0) and np.allclose(y[mask], x[mask], atol=1e-6)


@pytest.mark.parametrize(("axis", "name"), [(0, "inline"), (1, "crossline"), (2, "time")])
def test_slice_axis_applies_a_2d_model_slice_by_slice(axis, name):
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    net.spatial_dims = 2
    cube = np.random.default_rng(2).standard_normal((6, 7, 9)).astype(np.float32)
    y = tiled_predict(net, cube, 4, 0.5, slice_axis=name)
    for i in range(cube.shape[axis]):
        ref = tiled_predict(net, np.take(cube, i, axis=axis), 4, 0.5)
        np.testing.assert_allclose(np.take(y, i, axis=axis), ref, atol=1e-6)


def test_bad_settings_name_the_parameter():
    x = np.zeros((10, 12), np.float32)
    with pytest.raises(ConfigError, match="^overlap: "):
        tiled_predict(Identity(2), x, 4, 1.0)
    with pytest.raises(ConfigError, match="^window: "):
        tiled_predict(Identity(2), x, 4, 0.25, window="hann")
    with pytest.raises(ConfigError, match="^patch_size: "):
        tiled_predict(Identity(2), x, [4, 4, 4], 0.25)
    with pytest.raises(DataError, match="3D"):
        tiled_predict(Identity(3), x, 4, 0.25)
    with_nan = np.zeros((4, 4), np.float32)
    with_nan[1, 2] = np.nan  # a recorded trace (absent ones are NaN at every sample)
    with pytest.raises(DataError, match="NaN"):
        tiled_predict(Identity(2), with_nan, 4, 0.25)


# --- Zarr streaming and the CLI task, with a real (tiny) trained checkpoint ---


@pytest.fixture
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


def gathers_store(path: Path, shape=(6, 40, 72), chunks=(1, 40, 72)) -> np.ndarray:
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    attrs = store_attrs(
        dt=0.004, dx=[None, 12.5], axis_names=["gather", "trace", "time"], provenance="test"
    )
    write_store(path, x, attrs, chunks=chunks)
    return x


def test_streaming_matches_in_memory_with_small_chunks(tmp_path, checkpoint):
    model = load_model(checkpoint)
    x = gathers_store(tmp_path / "in.zarr")
    source = zarr.open_group(str(tmp_path / "in.zarr"), mode="r")["amplitude"]
    layout = make_layout(source, 2, (16, 32), 0.5)
    summary = stream_predict(
        model, layout, tmp_path / "out.zarr", {}, {"test": 1}, chunks=[2, 17, 30], batch_size=3
    )
    assert summary["recompute_ratio"] > 1  # chunks narrower than the patch grid
    streamed = zarr.open_group(summary["work_store"], mode="r")["amplitude"][...]
    in_memory = tiled_predict(model, x, (16, 32), 0.5, batch_size=7)
    np.testing.assert_allclose(streamed, in_memory, rtol=0, atol=1e-5 * np.abs(in_memory).max())


cli = infer_command


@pytest.mark.cli
def test_cli_infer_npy_zarr_and_segy(tmp_path, checkpoint):
    from tests.helpers import write_prestack

    model = load_model(checkpoint)
    x = np.random.default_rng(4).standard_normal((3, 20, 50)).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    expected = tiled_predict(model, x, (16, 32), 0.25)
    for out in ("out.npy", "out.zarr"):
        run = subprocess.run(
            cli(
                f"ckpt_path={checkpoint}",
                f"input={tmp_path / 'in.npy'}",
                f"output={tmp_path / out}",
                f"hydra.run.dir={tmp_path / out}.run",
            ),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        got = (
            np.load(tmp_path / out)
            if out.endswith(".npy")
            else zarr.open_group(str(tmp_path / out), mode="r")["amplitude"][...]
        )
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert json.loads((tmp_path / "out.zarr.run" / "metrics.json").read_text())["patches"] > 0
    # SEG-Y in and out; the first trace of every gather (offset -50 m) declared dead by
    # its header, so it is zeroed on input and predicted from its neighbours
    write_prestack(tmp_path / "in.sgy")
    run = subprocess.run(
        cli(
            f"ckpt_path={checkpoint}",
            f"input={tmp_path / 'in.sgy'}",
            f"output={tmp_path / 'out.sgy'}",
            f"hydra.run.dir={tmp_path / 'sgy.run'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            "infer.mask.header=offset",
            "infer.mask.dead_values=[-50]",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    import segyio

    from promethium.data.segy import segy_to_zarr

    store = zarr.open_group(str(segy_to_zarr(tmp_path / "in.sgy", tmp_path / "in.zarr")))
    grid, offsets = store["trace_index"][...], store["headers/offset"][...]
    live = (offsets != -50) | (grid < 0)
    expected = tiled_predict(model, store["amplitude"][...], (16, 32), 0.25, mask=live)
    with segyio.open(tmp_path / "in.sgy", ignore_geometry=True) as f_in:
        with segyio.open(tmp_path / "out.sgy", ignore_geometry=True) as f_out:
            assert f_out.tracecount == f_in.tracecount
            assert f_out.header[0] == f_in.header[0]
            for g, t in zip(*np.nonzero(grid >= 0), strict=True):
                np.testing.assert_allclose(
                    f_out.trace[grid[g, t]],
                    expected[g, t],
                    rtol=1e-5,
                    atol=1e-6 * np.abs(expected).max(),
                )
    assert (~live).sum() == 4  # one dead trace per gather


def start_and_kill_after(args: list[str], out: Path, chunks_done: int, env: dict[str, str]) -> None:
    """Start an inference and SIGKILL it once ``chunks_done`` output chunks are written."""
    proc = subprocess.Popen(
        cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    done = work_path(out) / "done"
    deadline = time.time() + 240
    while True:
        assert proc.poll() is None and time.time() < deadline, "inference ended before the kill"
        try:
            if done.exists() and zarr.open_array(str(done), mode="r")[...].sum() >= chunks_done:
                break
        except Exception:  # noqa: BLE001 - the array is being created
            pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.cli
def test_killed_inference_resumes_to_the_same_result(tmp_path, checkpoint):
    x = gathers_store(tmp_path / "in.zarr", shape=(40, 48, 96), chunks=(1, 48, 96))
    out = tmp_path / "out.zarr"
    args = [
        f"ckpt_path={checkpoint}",
        f"input={tmp_path / 'in.zarr'}",
        f"output={out}",
        "infer.batch_size=1",
        "infer.overlap=0.75",
        "infer.device=cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start_and_kill_after([*args, f"hydra.run.dir={tmp_path / 'a'}"], out, 3, env)
    work = work_path(out)
    assert not out.exists() and work.exists()
    (work / "data" / "c" / "orphan.partial").parent.mkdir(parents=True, exist_ok=True)
    (work / "data" / "c" / "orphan.partial").write_bytes(b"half a chunk")
    run = subprocess.run(
        cli(*args, f"hydra.run.dir={tmp_path / 'b'}"),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert metrics["resumed"] and 3 <= metrics["chunks_done_before"] < 40
    group = zarr.open_group(str(out), mode="r")
    assert group.attrs["inference"]["complete"] and not work.exists()
    assert not list(out.rglob("*.partial"))
    expected = tiled_predict(load_model(checkpoint), x, (16, 32), 0.75, batch_size=1)
    np.testing.assert_allclose(group["amplitude"][...], expected, atol=1e-5)


@pytest.mark.cli
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("infer.overlap=1.0", "infer.overlap"),
        ("input=/nonexistent/in.zarr", "no such input"),
        ("infer.window=hann", "infer.window"),
        ("ckpt_path=/nonexistent.ckpt", "no such checkpoint"),
    ],
)
def test_cli_bad_inputs_are_clear_and_write_nothing(tmp_path, checkpoint, override, message):
    np.save(tmp_path / "in.npy", np.zeros((2, 20, 40), np.float32))
    out = tmp_path / "out.zarr"
    run = subprocess.run(
        cli(
            f"ckpt_path={checkpoint}",
            f"input={tmp_path / 'in.npy'}",
            f"output={out}",
            f"hydra.run.dir={tmp_path / 'run'}",
            override,
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    assert message in run.stderr + run.stdout
    assert not out.exists() and not work_path(out).exists()


@pytest.mark.cli
def test_cli_refuses_existing_output_and_other_dimensionality(tmp_path, checkpoint):
    np.save(tmp_path / "trace.npy", np.zeros(64, np.float32))  # 1D input, 2D checkpoint
    out = tmp_path / "out.npy"
    base = [f"ckpt_path={checkpoint}", f"output={out}", f"hydra.run.dir={tmp_path / 'run'}"]
    run = subprocess.run(
        cli(*base, f"input={tmp_path / 'trace.npy'}"), capture_output=True, text=True
    )
    assert run.returncode == 2 and "2D" in run.stderr + run.stdout and not out.exists()
    np.save(out, np.ones(3, np.float32))
    np.save(tmp_path / "in.npy", np.zeros((2, 8, 8), np.float32))  # smaller than the patch
    run = subprocess.run(cli(*base, f"input={tmp_path / 'in.npy'}"), capture_output=True, text=True)
    assert run.returncode == 2 and "infer.overwrite" in run.stderr + run.stdout
    assert np.array_equal(np.load(out), np.ones(3))  # the old output is untouched
    run = subprocess.run(
        cli(*base, f"input={tmp_path / 'in.npy'}", "infer.overwrite=true"),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert np.load(out).shape == (2, 8, 8)  # patch larger than the volume: whole axes


def test_shard_setting_from_config_or_launcher():
    assert parse_shard(None, {}) == (0, 1)
    assert parse_shard("1/4", {}) == (1, 4)
    assert parse_shard(None, {"RANK": "1", "WORLD_SIZE": "2"}) == (1, 2)  # torchrun
    slurm = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10"}
    assert parse_shard(None, {**slurm, "SLURM_ARRAY_TASK_COUNT": "3"}) == (2, 3)
    for bad in ("4/4", "1", "a/b", "-1/2"):
        with pytest.raises(ConfigError, match="^shard: "):
            parse_shard(bad, {})


@pytest.mark.cli
def test_two_shards_write_one_store_equal_to_one_process(tmp_path, checkpoint):
    gathers_store(tmp_path / "in.zarr", shape=(8, 40, 72), chunks=(1, 40, 72))
    args = [
        f"ckpt_path={checkpoint}",
        f"input={tmp_path / 'in.zarr'}",
        "infer.device=cpu",
        "infer.batch_size=4",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        cli(*args, f"output={tmp_path / 'one.zarr'}", f"hydra.run.dir={tmp_path / 'one'}"),
        capture_output=True,
        text=True,
        env=env,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    shards = [  # one run folder for both, as torchrun-started shards compose
        cli(
            *args,
            f"output={tmp_path / 'two.zarr'}",
            f"infer.shard={i}/2",
            f"hydra.run.dir={tmp_path / 'shards'}",
        )
        for i in range(2)
    ]
    run_together(shards, timeout=300, env=env)
    runs = [
        json.loads((tmp_path / "shards" / f"metrics_shard{i}of2.json").read_text())
        for i in range(2)
    ]
    assert sorted(r["published"] for r in runs) == [False, True]  # the last one publishes
    assert [r["chunks_predicted"] for r in runs] == [4, 4]  # disjoint halves of 8 chunks
    assert (
        sum(r["patches"] for r in runs)
        == json.loads((tmp_path / "one" / "metrics.json").read_text())["patches"]
    )  # every chunk predicted once, by one shard
    two = zarr.open_group(str(tmp_path / "two.zarr"), mode="r")
    assert two.attrs["inference"]["complete"]
    assert not work_path(tmp_path / "two.zarr").exists()
    assert not list(tmp_path.glob(".two.zarr*"))  # no work store, no publishing marker
    expected = zarr.open_group(str(tmp_path / "one.zarr"), mode="r")["amplitude"][...]
    np.testing.assert_allclose(two["amplitude"][...], expected, rtol=0, atol=1e-6)


def test_a_shard_finishing_after_another_published_leaves_no_stray_work_store(
    tmp_path, monkeypatch
):
    """Shard 1 writes its last chunk; shard 0, finishing at that moment, publishes the store
    before shard 1 summarises. Shard 1 must not write into the moved store's old path."""
    import promethium.inference.streaming as streaming
    from promethium.inference.ownership import publish_once

    x = np.random.default_rng(3).standard_normal((4, 24, 40)).astype(np.float32)
    out = tmp_path / "out.zarr"
    layout = make_layout(x, 2, (8, 16), 0.25)
    chunks = [1, 24, 40]
    stream_predict(Identity(2), layout, out, {}, {}, chunks=chunks, shard=(0, 2))
    original = streaming.predict_regions

    def predict_then_other_shard_publishes(*args, **kwargs):
        original(*args, **kwargs)
        work = work_path(out)
        assert publish_once(
            work, lambda w: (streaming.seal_work_store(w), streaming.publish(w, out, False))
        )

    monkeypatch.setattr(streaming, "predict_regions", predict_then_other_shard_publishes)
    summary = stream_predict(Identity(2), layout, out, {}, {}, chunks=chunks, shard=(1, 2))
    assert summary["complete"]
    assert not work_path(out).exists()  # not recreated by a late attribute write
    assert zarr.open_group(str(out), mode="r").attrs["inference"]["complete"]
    np.testing.assert_allclose(zarr.open_group(str(out), mode="r")["amplitude"][...], x, atol=1e-6)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_test_time_augmentation_is_exact_for_an_equivariant_model_and_averages(dims):
    from promethium.inference.tta import TestTimeAugmentation

    x = torch.randn(2, 1, *[6 + d for d in range(dims)])
    identity = TestTimeAugmentation(Identity(dims))
    torch.testing.assert_close(identity(x), x)  # every variant maps back to x
    n_variants = 2 ** (dims - 1) * 2
    assert len(identity.variants) == n_variants and identity.spatial_dims == dims

    class Biased(Identity):
        def forward(self, x):
            return x + 1.0  # not odd: the polarity pair cancels the bias

    torch.testing.assert_close(TestTimeAugmentation(Biased(dims))(x), x)
    if dims > 1:  # a trace-dependent gain is averaged with its mirror image
        ramp = torch.arange(x.shape[2], dtype=x.dtype).view(1, 1, -1, *[1] * (dims - 1))

        class Ramp(Identity):
            def forward(self, x):
                return x * ramp

        tta = TestTimeAugmentation(Ramp(dims), polarity=False)
        torch.testing.assert_close(tta(x), x * (ramp + ramp.flip(2)) / 2)


def test_infer_writes_an_object_store_output_through_a_local_staging_store(tmp_path, checkpoint):
    from promethium.tasks.common import execute as infer

    x = gathers_store(tmp_path / "in.zarr", shape=(3, 40, 72))
    url = f"memory://promethium-test-{tmp_path.name}/pred.zarr"
    overrides = [
        "task=infer",
        f"ckpt_path={checkpoint}",
        f"input={tmp_path / 'in.zarr'}",
        f"output={url}",
        "infer.device=cpu",
        "infer.progress=false",
        "infer.keep_observed=false",
    ]
    infer(compose_config(tmp_path, overrides))
    group = zarr.open_group(url, mode="r")
    assert group.attrs["inference"]["complete"]
    expected = tiled_predict(load_model(checkpoint), x, (16, 32), 0.25)
    np.testing.assert_allclose(group["amplitude"][...], expected, atol=1e-5)
    assert not list((tmp_path / "cache" / "infer_staging").rglob("*.zarr*"))  # staging gone
    with pytest.raises(DataError, match="output exists"):
        infer(compose_config(tmp_path, overrides))
    with pytest.raises(DataError, match="URL outputs must be Zarr"):
        infer(compose_config(tmp_path, [*overrides[:3], "output=memory://b/out.sgy"]))


@pytest.mark.parametrize(
    ("task", "override", "key"),
    [
        ("infer", "infer.overlap=1.0", "infer.overlap"),
        ("infer", "infer.window=hann", "infer.window"),
        ("infer", "infer.batch_size=0", "infer.batch_size"),
        ("infer", "infer.shard=4/4", "infer.shard"),
        ("infer", "infer.mask.traces=[999]", "infer.mask.traces"),
        ("evaluate", "evaluate.overlap=1.0", "evaluate.overlap"),
        ("evaluate", "evaluate.batch_size=0", "evaluate.batch_size"),
    ],
)
def test_task_errors_name_the_key_of_the_library_parameter(
    tmp_path, checkpoint, task, override, key
):
    from omegaconf import OmegaConf

    from promethium.tasks.common import execute

    np.save(tmp_path / "in.npy", np.zeros((2, 20, 50), np.float32))
    io = [f"input={tmp_path / 'in.npy'}", f"output={tmp_path / 'out.npy'}"]
    cfg = compose_config(
        tmp_path,
        [f"task={task}", f"ckpt_path={checkpoint}", *(io if task == "infer" else []), override],
    )
    with pytest.raises(ConfigError) as err:
        execute(cfg)
    assert str(err.value).startswith(f"{key}: "), str(err.value)
    assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>"
    assert not (tmp_path / "out.npy").exists()
