"""Inference resume under adversity: stale markers, inputs rewritten in place, two runs on
one output, refused inputs (issue #19, item 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from promethium.api import load_model
from promethium.inference import tiled_predict
from promethium.inference.ownership import Owner, OwnerLock, publish_once
from promethium.inference.streaming import work_path
from tests.test_inference import (  # noqa: F401 - checkpoint is a fixture
    checkpoint,
    cli,
    gathers_store,
    start_and_kill_after,
)

SLOW = ["infer.batch_size=1", "infer.overlap=0.75", "infer.device=cpu"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant_marker(path: Path, pid: int, started: float | None = None) -> None:
    owner = Owner.me()
    fields = {**owner.__dict__, "pid": pid, "started": started or owner.started}
    path.write_text(json.dumps({**fields, "process_start": None}))


def test_owner_lock_refuses_a_live_owner_and_takes_over_a_dead_or_expired_one(tmp_path):
    marker = tmp_path / "m.lock"
    first = OwnerLock(marker)
    assert first.acquire() is None
    holder = OwnerLock(marker).acquire()
    assert holder is not None and holder.pid == os.getpid()
    first.release()
    plant_marker(marker, dead_pid())
    assert OwnerLock(marker).acquire() is None  # dead owner: taken over
    plant_marker(marker, os.getpid(), started=time.time() - 7200)
    assert OwnerLock(marker, stale_after=3600).acquire() is None  # expired: taken over
    marker.write_text("")  # a marker from before owners were recorded, long ago
    os.utime(marker, (time.time() - 60, time.time() - 60))
    assert OwnerLock(marker).acquire() is None


def test_publish_takes_over_a_killed_publishers_marker(tmp_path):
    work = tmp_path / ".out.zarr.inprogress"
    work.mkdir()
    plant_marker(work.with_name(f"{work.name}.publishing"), dead_pid())
    published = []
    assert publish_once(work, published.append)
    assert published == [work] and not work.with_name(f"{work.name}.publishing").exists()


def run_infer(tmp_path: Path, ckpt: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    args = [f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / name}", *extra]
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=600, env=ENV)


@pytest.mark.cli
def test_cli_publishes_despite_a_stale_publishing_marker(tmp_path, checkpoint):  # noqa: F811
    x = gathers_store(tmp_path / "in.zarr")
    out = tmp_path / "out.zarr"
    work = work_path(out)
    # a SIGKILL while publishing left the (then empty) marker behind, long ago
    marker = work.with_name(f"{work.name}.publishing")
    marker.write_text("")
    os.utime(marker, (time.time() - 3600, time.time() - 3600))
    run = run_infer(tmp_path, checkpoint, "a", f"input={tmp_path / 'in.zarr'}", f"output={out}")
    assert run.returncode == 0, run.stderr[-2000:]
    expected = tiled_predict(load_model(checkpoint), x, (16, 32), 0.25)
    np.testing.assert_allclose(zarr.open_group(str(out))["amplitude"][...], expected, atol=1e-5)
    assert not marker.exists() and not work.exists()


@pytest.mark.cli
def test_input_rewritten_in_place_after_a_kill_is_predicted_afresh(tmp_path, checkpoint):  # noqa: F811
    gathers_store(tmp_path / "in.zarr", shape=(40, 48, 96), chunks=(1, 48, 96))
    out = tmp_path / "out.zarr"
    args = [f"ckpt_path={checkpoint}", f"input={tmp_path / 'in.zarr'}", f"output={out}", *SLOW]
    start_and_kill_after([*args, f"hydra.run.dir={tmp_path / 'a'}"], out, 3, ENV)
    fixed = np.asarray(zarr.open_group(str(tmp_path / "in.zarr"))["amplitude"][...]) * 2 + 1
    zarr.open_group(str(tmp_path / "in.zarr"), mode="r+")["amplitude"][...] = fixed  # same shape
    run = run_infer(tmp_path, checkpoint, "b", *args[1:])
    assert run.returncode == 0, run.stderr[-2000:]
    assert not json.loads((tmp_path / "b" / "metrics.json").read_text())["resumed"]
    expected = tiled_predict(load_model(checkpoint), fixed, (16, 32), 0.75, batch_size=1)
    np.testing.assert_allclose(zarr.open_group(str(out))["amplitude"][...], expected, atol=1e-5)


@pytest.mark.cli
def test_second_run_on_the_same_output_is_refused_and_names_the_first(tmp_path, checkpoint):  # noqa: F811
    gathers_store(tmp_path / "in.zarr", shape=(40, 48, 96), chunks=(1, 48, 96))
    out = tmp_path / "out.zarr"
    args = [f"ckpt_path={checkpoint}", f"input={tmp_path / 'in.zarr'}", f"output={out}", *SLOW]
    first = subprocess.Popen(
        cli(*args, f"hydra.run.dir={tmp_path / 'a'}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    lock = work_path(out).with_name(f"{work_path(out).name}.lock")
    deadline = time.time() + 240
    while not lock.exists():
        assert first.poll() is None and time.time() < deadline, "first run ended too soon"
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)  # holds the output, however fast it would end
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        second = run_infer(tmp_path, checkpoint, "b", *args[1:])
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2
    assert f"process {first.pid}" in second.stderr and "another inference" in second.stderr
    # the refused run wrote nothing but its own log folder; the killed first run's work
    # (and whatever it left half-built) is taken over by the next run
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "b") == before
    run = run_infer(tmp_path, checkpoint, "c", *args[1:])
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.exists() and not lock.exists() and not work_path(out).exists()
    assert not list(tmp_path.glob(".out.zarr.inprogress*"))


@pytest.mark.cli
@pytest.mark.parametrize("suffix", ["npy", "zarr"])
def test_refused_input_leaves_nothing_behind(tmp_path, checkpoint, suffix):  # noqa: F811
    x = np.zeros((2, 20, 40), np.float32)
    x[1, 3, 7] = np.nan
    if suffix == "npy":
        np.save(tmp_path / "in.npy", x)
    else:
        gathers_store(tmp_path / "in.zarr", shape=(2, 20, 40), chunks=(1, 20, 40))
        # every chunk stays on disk (the store records them all written): all-zero ones too
        with zarr.config.set({"array.write_empty_chunks": True}):
            zarr.open_array(str(tmp_path / "in.zarr" / "amplitude"), mode="r+")[...] = x
    out = tmp_path / "out.zarr"
    run = run_infer(
        tmp_path, checkpoint, "a", f"input={tmp_path / f'in.{suffix}'}", f"output={out}"
    )
    assert run.returncode == 2 and "NaN" in run.stderr, run.stderr[-2000:]
    # no work store, no marker, and no run folder (a refused run's is removed)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"in.{suffix}"]
