"""The block import (promethium.data.segy_blocks) against segyio's own reading, field by field.

The reference is what the import did through segyio before: the grid from
``attributes(sort key)``, samples from ``trace.raw``, every ``headers/<field>`` from
``attributes(field)``. Files are written by segyio in every sample format and both byte
orders, with shuffled, dead and absent traces, and the real F3 crops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import segyio

from promethium.data.segy import DEAD_TRACE_CODE, SEGY_FORMATS, segy_to_zarr
from promethium.data.segy_blocks import HEADER_FIELDS, SegyTraces, header_dtype
from promethium.data.store import DATA_ARRAY, open_store
from tests.helpers import DATA

CUBE_SORT = ["INLINE_3D", "CROSSLINE_3D"]


def reference(path: Path, sort: list[str], endian: str = "big") -> dict[str, np.ndarray]:
    """The store's arrays as segyio reads the file: ``data``, ``trace_mask``, headers."""
    with segyio.open(str(path), ignore_geometry=True, endian=endian) as f:
        raw = np.asarray(f.trace.raw[:], dtype=np.float32).reshape(f.tracecount, -1)
        fields = {
            n: np.asarray(f.attributes(b)[:], dtype=np.int64) for n, b in HEADER_FIELDS.items()
        }
    keys = [np.unique(fields[k], return_inverse=True) for k in sort]
    if len(sort) == 2:
        grid = np.full((len(keys[0][0]), len(keys[1][0])), -1)
        grid[keys[0][1], keys[1][1]] = np.arange(len(raw))
    else:
        rows = [np.flatnonzero(keys[0][1] == g) for g in range(len(keys[0][0]))]
        grid = np.full((len(rows), max(map(len, rows))), -1)
        for g, row in enumerate(rows):
            grid[g, : len(row)] = row
    present = grid >= 0
    data = np.zeros((*grid.shape, raw.shape[1]), np.float32)
    data[present] = raw[grid[present]]
    mask = present.copy()
    mask[present] = fields["TraceIdentificationCode"][grid[present]] != DEAD_TRACE_CODE
    data *= mask[..., None]
    mask &= np.any(data != 0, axis=-1)
    out = {"data": data, "trace_mask": mask, "trace_index": grid}
    for name, values in fields.items():
        out[f"headers/{name}"] = np.where(present, values[np.maximum(grid, 0)], 0)
    return out


def assert_store_matches(store: Path, expected: dict[str, np.ndarray]) -> None:
    group, data = open_store(store)
    for name, values in expected.items():
        got = data[...] if name == "data" else np.asarray(group[name][...])
        assert got.shape == values.shape, name
        if name == "data":  # bit for bit
            assert np.array_equal(got.view(np.uint32), values.view(np.uint32)), name
        else:
            assert np.array_equal(got, values), name


def write_shots(path: Path, fmt: int, endian: str, seed: int) -> None:
    """Shot gathers of unequal size in shuffled order, two traces flagged dead, one zero."""
    rng = np.random.default_rng(seed)
    records = [(g, t) for g, n in enumerate((9, 12, 5, 12)) for t in range(n)]
    records = [records[i] for i in rng.permutation(len(records))]
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount, spec.endian = (
        fmt,
        list(range(37)),
        len(records),
        endian,
    )
    name, width = SEGY_FORMATS[fmt]
    values = rng.normal(size=(len(records), 37)) * (30 if width == 1 else 300)
    if name.startswith("uint"):
        values = np.abs(values)
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=2000, hns=37, format=fmt)
        for i, (g, t) in enumerate(records):
            f.header[i] = {
                segyio.TraceField.TRACE_SEQUENCE_FILE: i + 1,
                segyio.TraceField.FieldRecord: 500 - 7 * g,
                segyio.TraceField.TraceNumber: t + 1,
                segyio.TraceField.offset: 25 * t - 150,
                segyio.TraceField.SourceX: 400000 + 37 * g,
                segyio.TraceField.SourceGroupScalar: -100,
                segyio.TraceField.TraceIdentificationCode: DEAD_TRACE_CODE if i in (3, 17) else 1,
                segyio.TraceField.CROSSLINE_3D: -(i * 1000),
            }
            f.trace[i] = (np.zeros(37) if i == 8 else values[i]).astype(f.dtype)


@pytest.mark.parametrize("endian", ["big", "little"])
@pytest.mark.parametrize("fmt", sorted(SEGY_FORMATS))
def test_every_format_and_byte_order_imports_as_segyio_reads_it(tmp_path, fmt, endian):
    src = tmp_path / "shots.sgy"
    write_shots(src, fmt, endian, seed=fmt)
    store = segy_to_zarr(src, tmp_path / "s.zarr", sort=["FieldRecord"], progress=False)
    assert_store_matches(store, reference(src, ["FieldRecord"], endian))


def test_the_f3_crops_import_as_segyio_reads_them(tmp_path):
    for name in ("f3_cropped.sgy", "f3_withdead.sgy"):  # the second: absent grid positions
        store = segy_to_zarr(DATA / name, tmp_path / f"{name}.zarr", sort=CUBE_SORT, progress=False)
        expected = reference(DATA / name, CUBE_SORT)
        assert_store_matches(store, expected)
        if name == "f3_withdead.sgy":
            assert (expected["trace_index"] == -1).sum() == 175


def test_headers_are_chunked_by_whole_gathers_and_blocks_cover_the_file(tmp_path, monkeypatch):
    import promethium.data.segy as segy

    src = tmp_path / "shots.sgy"
    write_shots(src, 5, "big", seed=1)
    monkeypatch.setattr(segy, "HEADER_CHUNK_TRACES", 24)  # two gathers of 12 per chunk
    store = segy_to_zarr(src, tmp_path / "s.zarr", sort=["FieldRecord"], progress=False)
    group, _ = open_store(store)
    assert group["headers/offset"].chunks == (2, 12)
    assert_store_matches(store, reference(src, ["FieldRecord"]))
    with segyio.open(str(src), ignore_geometry=True) as f:
        traces = SegyTraces.of(f, src)
        five = 5 * traces.record.itemsize
        small = traces.header_fields(["FieldRecord", "offset"], five)  # blocks of 5 traces
        assert np.array_equal(small["offset"], f.attributes(segyio.TraceField.offset)[:])
        assert np.array_equal(small["FieldRecord"], f.attributes(segyio.TraceField.FieldRecord)[:])


def test_the_header_layout_is_the_standard_one():
    dtype = header_dtype("big")
    assert dtype.itemsize == 240 and len(dtype.names) == len(HEADER_FIELDS) == 91
    widths = {name: dtype.fields[name][0].itemsize for name in dtype.names}
    assert widths["TRACE_SEQUENCE_LINE"] == 4 and widths["TRACE_SAMPLE_COUNT"] == 2
    assert widths["INLINE_3D"] == 4 and widths["CROSSLINE_3D"] == 4
    assert dtype.fields["INLINE_3D"][1] == 188  # bytes 189-192


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_any_number_of_workers_writes_the_same_bytes(tmp_path, monkeypatch):
    import promethium.data.segy as segy

    src = tmp_path / "shots.sgy"
    write_shots(src, 1, "big", seed=2)
    monkeypatch.setattr(segy, "HEADER_CHUNK_TRACES", 24)  # several header blocks
    one = segy_to_zarr(src, tmp_path / "one.zarr", sort=["FieldRecord"], progress=False, workers=1)
    three = segy_to_zarr(
        src, tmp_path / "three.zarr", sort=["FieldRecord"], progress=False, workers=3
    )
    assert tree_bytes(one) == tree_bytes(three)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_workers_must_be_a_positive_integer(tmp_path, workers):
    from promethium.errors import ConfigError

    src = tmp_path / "shots.sgy"
    write_shots(src, 5, "big", seed=0)
    with pytest.raises(ConfigError, match=r"workers: got .*; allowed: a positive integer"):
        segy_to_zarr(src, tmp_path / "s.zarr", workers=workers, progress=False)
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.cli
def test_a_killed_import_leaves_no_store_and_a_rerun_completes(tmp_path):
    import signal
    import subprocess
    import time

    from tests.helpers import cli, cli_command

    src = tmp_path / "big.sgy"
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(1500)), 20000
    trace = np.random.default_rng(0).normal(size=1500).astype(np.float32)
    with segyio.create(str(src), spec) as f:  # 120 MB: long enough to be killed halfway
        f.bin.update(hdt=2000, hns=1500, format=5)
        for i in range(spec.tracecount):
            f.header[i] = {segyio.TraceField.FieldRecord: 1 + i // 100}
            f.trace[i] = trace
    target = tmp_path / "big.zarr"
    proc = subprocess.Popen(
        cli_command(str(src), str(target), "--workers", "1", script="segy_to_zarr.py"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    started = f".big.zarr.tmp-*/{DATA_ARRAY}/c/1*"  # gathers beyond the first written
    while not list(tmp_path.glob(started)) and time.monotonic() < deadline:
        assert proc.poll() is None, "the import ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists()
    done = cli(str(src), str(target), script="segy_to_zarr.py", threads=1)
    assert done.returncode == 0, done.stderr
    _, data = open_store(target)
    assert data.shape == (200, 100, 1500) and np.array_equal(data[199, 99], trace)
