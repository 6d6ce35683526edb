"""Inputs an adversarial user tries: each refused with one message, or handled as stated.

The README's NaN policy holds at every entry point: NaN or inf is allowed only in dead
traces and in absent traces NaN at every sample (MDIO's fill); anything else is refused
naming the input and the position.
"""

import numpy as np
import pytest
import torch

from promethium import api
from promethium.data.inputs import absent_traces
from promethium.errors import DataError


def gathers(seed=0, shape=(2, 24, 48)):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32)


def infer_cli(tmp_path, ckpt, source, output, folder="run"):
    """``python run.py task=infer`` from ``tmp_path``, its run folder and cache inside."""
    from tests.helpers import cli

    return cli(
        "task=infer",
        f"ckpt_path={ckpt}",
        f"input={source}",
        f"output={output}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        "infer.progress=false",
        f"hydra.run.dir={tmp_path / folder}",
        timeout=300,
        cwd=tmp_path,
    )


def test_absent_traces_are_all_nan_traces_and_any_other_nan_is_refused():
    x = gathers()
    x[0, 3] = np.nan  # absent, as MDIO fills it
    assert absent_traces(x, "x").sum() == 1 and absent_traces(x, "x")[0, 3]
    x[1, 5, 7] = np.nan  # one sample of a recorded trace
    with pytest.raises(DataError, match=r"^x: NaN or inf at index \(1, 5, 7\)"):
        absent_traces(x, "x")
    dead = np.zeros(x.shape[:-1], bool)
    dead[1, 5] = True  # marked dead: anything goes
    assert absent_traces(x, "x", dead)[0, 3]
    x[1, 5, 7] = np.inf
    with pytest.raises(DataError, match="trace \\(1, 5\\), sample 7"):
        absent_traces(x, "x")


def test_api_infer_refuses_one_nan_sample_and_fills_absent_traces(tiny_checkpoint):
    x = gathers()
    x[0, 3] = np.nan
    out = api.infer(x, tiny_checkpoint)  # interpolation: the absent trace is filled
    assert np.isfinite(out).all() and np.array_equal(out[0, 4], x[0, 4])
    x[1, 5, 7] = np.nan
    with pytest.raises(DataError, match=r"^api.infer input: NaN or inf at index \(1, 5, 7\)"):
        api.infer(x, tiny_checkpoint)
    with pytest.raises(DataError, match="NaN or inf"):
        api.infer(torch.from_numpy(x), tiny_checkpoint)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros((2, 0, 48), np.float32), r"shape \(2, 0, 48\) has an empty axis"),
        (np.zeros((2, 24, 0), np.float32), "has an empty axis"),
        (np.zeros((2, 24, 48), np.complex64), "dtype complex64; allowed: real numbers"),
        (np.array([[object()] * 3] * 2), "dtype object; allowed: real numbers"),
        (torch.zeros(2, 24, 48, dtype=torch.complex64), "complex input would lose"),
    ],
)
def test_api_infer_refuses_what_cannot_be_samples(tiny_checkpoint, data, message):
    with pytest.raises(DataError, match=message):
        api.infer(data, tiny_checkpoint)


def test_evaluate_treats_absent_traces_as_dead_and_refuses_other_nan():
    from promethium.tasks.references import recorded_only

    x = gathers()
    x[0, 3] = np.nan
    clean, live = recorded_only(x.copy(), None, "ref.zarr")
    assert not live[0, 3] and live.sum() == live.size - 1 and np.isfinite(clean).all()
    x[1, 2, 9] = np.nan
    with pytest.raises(DataError, match=r"^ref.zarr: NaN or inf at index \(1, 2, 9\)"):
        recorded_only(x, None, "ref.zarr")


@pytest.mark.cli
def test_task_evaluate_refuses_nan_in_a_reference_with_one_line(tmp_path, tiny_checkpoint):
    x = gathers()
    x[1, 2, 9] = np.nan
    np.save(tmp_path / "ref.npy", x)  # stores refuse NaN on write; a bare array does not
    from tests.helpers import cli

    run = cli(
        "task=evaluate",
        f"ckpt_path={tiny_checkpoint}",
        f"evaluate.input={tmp_path / 'ref.npy'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'eval'}",
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 2 and "NaN or inf at index (1, 2, 9)" in run.stderr
    assert "Traceback" not in run.stderr


def test_evaluate_refuses_interpolating_one_trace_gathers_instead_of_meaningless_figures():
    from promethium.data.transforms import AdditiveNoise, MissingTraces
    from promethium.tasks.references import References, scorable

    one_trace = References(gathers(shape=(4, 1, 48)), {"dt": 0.004}, MissingTraces(0.5))
    with pytest.raises(DataError, match=r"hold 1 trace each .*PSNR in the hundreds of dB"):
        scorable(one_trace)
    noisy = References(gathers(shape=(4, 1, 48)), {"dt": 0.004}, AdditiveNoise(3.0))
    assert len(scorable(noisy).clean) == 4  # denoising trace by trace needs no neighbours
    assert scorable(References(gathers(), {"dt": 0.004}, MissingTraces(0.5))).clean.shape[1] == 24


@pytest.mark.cli
def test_task_infer_fills_absent_traces_and_refuses_other_nan(tmp_path, tiny_checkpoint):
    x = gathers()
    x[0, 3] = np.nan  # absent: filled like a dead trace
    np.save(tmp_path / "absent.npy", x)
    run = infer_cli(tmp_path, tiny_checkpoint, tmp_path / "absent.npy", tmp_path / "out.npy", "a")
    assert run.returncode == 0, run.stderr[-2000:]
    out = np.load(tmp_path / "out.npy")
    assert np.isfinite(out).all() and np.array_equal(out[0, 4], x[0, 4])  # recorded: kept
    x[1, 5, 7] = np.inf
    np.save(tmp_path / "bad.npy", x)
    run = infer_cli(tmp_path, tiny_checkpoint, tmp_path / "bad.npy", tmp_path / "bad_out.npy", "b")
    assert run.returncode == 2 and "NaN or inf values in the input block" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "bad_out.npy").exists()


def test_a_lost_chunk_of_a_segy_import_is_refused_naming_the_gathers(tmp_path):
    from promethium.data.segy import segy_to_zarr
    from promethium.data.store import CHUNKS_WRITTEN, open_store
    from tests.helpers import write_prestack

    write_prestack(tmp_path / "shots.sgy")
    store = segy_to_zarr(tmp_path / "shots.sgy", tmp_path / "shots.zarr", progress=False)
    group, data = open_store(store)  # whole: every chunk, all-zero ones too, is on disk
    assert group.attrs[CHUNKS_WRITTEN] == data.nchunks == data.nchunks_initialized
    (store / "amplitude" / "c" / "1" / "0" / "0").unlink()
    with pytest.raises(DataError, match=r"1 of the \d+ amplitude chunks .* amplitude/c/1/0/0 "):
        open_store(store)


def test_a_truncated_array_metadata_file_is_one_message(tmp_path):
    from promethium.data.store import open_store, store_attrs, write_store

    attrs = store_attrs(
        dt=0.004, dx=[None, 12.5], axis_names=["g", "trace", "time"], provenance="t"
    )
    store = write_store(tmp_path / "s.zarr", gathers(), attrs)
    meta = store / "amplitude" / "zarr.json"
    meta.write_text(meta.read_text()[:40])
    with pytest.raises(DataError, match=r"s.zarr: the amplitudes' metadata is unreadable"):
        open_store(store)


@pytest.mark.cli
def test_task_infer_on_a_store_that_lost_a_chunk_exits_2(tmp_path, tiny_checkpoint):
    from promethium.data.segy import segy_to_zarr
    from tests.helpers import write_prestack

    write_prestack(tmp_path / "shots.sgy")
    store = segy_to_zarr(tmp_path / "shots.sgy", tmp_path / "shots.zarr", progress=False)
    (store / "amplitude" / "c" / "1" / "0" / "0").unlink()
    run = infer_cli(tmp_path, tiny_checkpoint, store, tmp_path / "out.zarr")
    assert run.returncode == 2 and "amplitude/c/1/0/0" in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and not (tmp_path / "out.zarr").exists()


def test_a_refused_write_is_one_message_naming_the_file():
    import errno

    from promethium.errors import storage_error

    refused = storage_error(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out.zarr"))
    assert str(refused).startswith("/mnt/ro/out.zarr: Read-only file system (EROFS)")
    assert "nothing was replaced" in str(refused)
    assert storage_error(OSError(errno.ENOENT, "No such file")) is None  # a bug: traceback


@pytest.mark.cli
def test_segy_import_past_the_file_size_limit_exits_2_and_leaves_nothing(tmp_path):
    import resource
    import signal
    import subprocess

    from tests.helpers import cli_command, write_prestack

    write_prestack(tmp_path / "big.sgy", n_samples=2000)

    def limited() -> None:  # writes past 16 kB fail with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_000, 16_000))

    run = subprocess.run(
        cli_command(
            str(tmp_path / "big.sgy"), str(tmp_path / "big.zarr"), script="segy_to_zarr.py"
        ),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.startswith("error: ") and "(EFBIG); nothing was replaced" in run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.sgy"]  # no half store


def test_resuming_a_weights_only_or_reshaped_checkpoint_is_one_message(tmp_path, tiny_checkpoint):
    from promethium.errors import ConfigError
    from promethium.ml.checkpoints import check_resumable

    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    model = ckpt["hyper_parameters"]["config"]["model"]
    check_resumable(ckpt, tiny_checkpoint, model)  # a whole checkpoint resumes
    weights_only = {k: v for k, v in ckpt.items() if k not in ("optimizer_states", "loops")}
    with pytest.raises(ConfigError, match=r"^ckpt_path: .* no training state .* init_from="):
        check_resumable(weights_only, tiny_checkpoint, model)
    reshaped = dict(ckpt, state_dict=dict(ckpt["state_dict"]))
    name = next(k for k, v in reshaped["state_dict"].items() if v.ndim == 4)
    reshaped["state_dict"][name] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(DataError, match=r"weights do not fit its model config \(ckpt_path\)"):
        check_resumable(reshaped, tiny_checkpoint, model)


@pytest.mark.cli
def test_a_segy_output_seg_y_cannot_hold_is_refused_before_any_work(tmp_path, tiny_checkpoint):
    from promethium.data.store import store_attrs, write_store

    attrs = store_attrs(dt=0.04, dx=[None, 12.5], axis_names=["g", "trace", "time"], provenance="t")
    store = write_store(tmp_path / "slow.zarr", gathers(), attrs)  # 40 ms: over 32.767 ms
    run = infer_cli(tmp_path, tiny_checkpoint, store, tmp_path / "out.sgy")
    assert run.returncode == 2 and "allowed 1..32767 us" in run.stderr, run.stderr[-2000:]
    # no .inprogress work store, and no run folder for a run refused before it did work
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.zarr"]


def test_evaluate_of_a_blind_spot_denoiser_needs_known_noise():
    from promethium.data.transforms import AdditiveNoise, BlindSpot, CorruptionChain
    from promethium.errors import ConfigError
    from promethium.tasks.references import refuse_blind_spots

    with pytest.raises(ConfigError, match=r"^evaluate.corruption: .* blind spots .* snr_db: 0"):
        refuse_blind_spots(CorruptionChain([BlindSpot()]))
    refuse_blind_spots(CorruptionChain([AdditiveNoise(0.0)]))  # known noise: scored
