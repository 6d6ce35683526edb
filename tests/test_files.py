"""Files written whole or not at all, and outputs written by the writer of their suffix."""

import numpy as np
import pytest

from promethium.data.inputs import open_input
from promethium.data.store import store_attrs, write_store
from promethium.errors import ConfigError
from promethium.files import atomic_path, temporary_siblings
from promethium.inference import writers


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_atomic_path_replaces_only_when_the_block_succeeds(tmp_path, kind):
    target = tmp_path / "out"

    def write(path, text):
        if kind == "folder":
            path.mkdir()
            (path / "part").write_text(text)
        else:
            path.write_text(text)

    def read():
        return (target / "part" if kind == "folder" else target).read_text()

    with atomic_path(target) as tmp:
        write(tmp, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        write(tmp, "half")
        raise RuntimeError("killed while writing")
    assert read() == "old" and not temporary_siblings(target)
    with atomic_path(target) as tmp:
        write(tmp, "new")
    assert read() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_every_output_suffix_has_one_registered_writer(tmp_path):
    assert set(writers.WRITERS) == {".zarr", ".sgy", ".segy", ".npy", ".mdio"}
    with pytest.raises(ConfigError, match=r"^output: .*'\.txt'; allowed suffixes: \.zarr"):
        writers.check_output_kind(tmp_path / "out.txt")


def test_export_takes_the_writer_registered_for_the_suffix(tmp_path, monkeypatch):
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    attrs = store_attrs(
        dt=0.004, dx=[None, None], axis_names=["gather", "trace", "time"], provenance="test"
    )
    source = open_input(write_store(tmp_path / "in.zarr", values, attrs), tmp_path, [])
    seen = []
    monkeypatch.setitem(writers.WRITERS, ".raw", lambda *args: seen.append(args[1]))
    work = write_store(tmp_path / "work.zarr", values, attrs)
    writers.export(work, tmp_path / "out.raw", source, overwrite=False)
    assert seen == [tmp_path / "out.raw"] and not work.exists()  # the work store is gone
    work = write_store(tmp_path / "work.zarr", values, attrs)
    writers.export(work, tmp_path / "out.npy", source, overwrite=False)
    assert np.array_equal(np.load(tmp_path / "out.npy"), values)


def test_build_once_builds_once_and_a_lost_race_takes_the_winners_store(tmp_path):
    from promethium.data.cache import build_once
    from promethium.errors import DataError

    calls = []

    def build(path):
        calls.append(path)
        path.mkdir()

    target = tmp_path / "cache.zarr"
    assert build_once(target, build, "test") == target
    assert build_once(target, build, "test") == target and calls == [target]

    def lost_race(path):  # another process renamed its store into place first
        path.mkdir()
        raise DataError(f"{path}: output exists")

    assert build_once(tmp_path / "raced.zarr", lost_race, "test").is_dir()

    def broken(path):
        raise DataError(f"{path}: cannot build")

    with pytest.raises(DataError, match="cannot build"):
        build_once(tmp_path / "broken.zarr", broken, "test")
