"""SEG-Y import/export round trips with files written by segyio itself."""

import numpy as np
import pytest
import segyio
import zarr

from promethium.data.segy import SegyFile, segy_to_zarr
from promethium.data.segy_export import zarr_to_segy
from promethium.data.store import open_store
from promethium.errors import DataError
from tests.helpers import write_f3_line, write_prestack


@pytest.mark.parametrize("fmt", [1, 5])
@pytest.mark.parametrize("shuffle", [False, True])
def test_prestack_roundtrip_is_bit_identical(tmp_path, fmt, shuffle):
    src = tmp_path / "in.sgy"
    traces, records = write_prestack(src, fmt=fmt, shuffle=shuffle)
    store = segy_to_zarr(src, tmp_path / "s.zarr", sort=["FieldRecord"], progress=False)
    group, data = open_store(store)
    assert data.shape == (4, 7, 50)
    assert group.attrs["dt"] == pytest.approx(0.002)
    assert group.attrs["gather_keys"] == [100, 101, 102, 103]
    # every trace sits in its gather, in file order, padded with zeros
    for i, (g, _t) in enumerate(records):
        row = list(np.asarray(group["trace_index"][g]))
        assert np.array_equal(data[g, row.index(i)], traces[i])
    assert (np.asarray(group["trace_index"][0, 5:]) == -1).all() and not data[0, 5:].any()
    out = zarr_to_segy(store, tmp_path / "out.sgy", progress=False)
    assert out.read_bytes() == src.read_bytes()
    with (
        segyio.open(str(src), ignore_geometry=True) as a,
        segyio.open(str(out), ignore_geometry=True) as b,
    ):
        assert all(dict(a.header[i]) == dict(b.header[i]) for i in range(a.tracecount))


def test_poststack_cube_by_inline_crossline(tmp_path):
    path = tmp_path / "cube.sgy"
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, list(range(20)), 12
    cube = np.arange(12 * 20, dtype=np.float32).reshape(3, 4, 20)
    with segyio.create(str(path), spec) as f:
        f.bin.update(hdt=4000, hns=20, format=5)
        for i in range(12):
            il, xl = divmod(i, 4)
            f.header[i] = {
                segyio.TraceField.INLINE_3D: 10 + il,
                segyio.TraceField.CROSSLINE_3D: 50 + xl,
            }
            f.trace[i] = cube[il, xl]
    store = segy_to_zarr(
        path, tmp_path / "c.zarr", sort=["INLINE_3D", "CROSSLINE_3D"], progress=False
    )
    group, data = open_store(store)
    assert group.attrs["axis_names"] == ["inline", "crossline", "time"]
    np.testing.assert_array_equal(data[...], cube)


def test_not_segy_and_truncated_files_are_clear_and_leave_nothing(tmp_path):
    bogus = tmp_path / "notes.sgy"
    bogus.write_text("this is not seismic data\n" * 10)
    with pytest.raises(DataError, match="notes.sgy"):
        segy_to_zarr(bogus, tmp_path / "a.zarr", progress=False)
    good = tmp_path / "good.sgy"
    write_prestack(good)
    truncated = tmp_path / "cut.sgy"
    truncated.write_bytes(good.read_bytes()[:-500])
    with pytest.raises(DataError, match="truncated"):
        segy_to_zarr(truncated, tmp_path / "b.zarr", progress=False)
    with pytest.raises(DataError, match="no such"):
        segy_to_zarr(tmp_path / "absent.sgy", tmp_path / "c.zarr", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.sgy", "good.sgy", "notes.sgy"]


def test_export_refuses_to_overwrite_and_keeps_old_file(tmp_path):
    src = tmp_path / "in.sgy"
    write_prestack(src)
    store = segy_to_zarr(src, tmp_path / "s.zarr", progress=False)
    with pytest.raises(DataError, match="exists"):
        zarr_to_segy(store, src, progress=False)


def test_segy_source_caches_conversion(tmp_path):
    src = tmp_path / "in.sgy"
    write_prestack(src)
    source = SegyFile(str(src), sort=["FieldRecord"])
    first = source.prepare(tmp_path / "cache")
    assert first == source.prepare(tmp_path / "cache")
    assert open_store(first)[1].shape == (4, 7, 50)


@pytest.mark.cli
def test_conversion_script_round_trip_and_error_exit(tmp_path):
    from tests.helpers import cli

    src = tmp_path / "in.sgy"
    write_prestack(src)

    def run(*a):
        return cli(*map(str, a), script="segy_to_zarr.py", timeout=120)

    assert run(src, tmp_path / "s.zarr").returncode == 0
    assert run(tmp_path / "s.zarr", tmp_path / "out.sgy").returncode == 0
    assert (tmp_path / "out.sgy").read_bytes() == src.read_bytes()
    bad = run(tmp_path / "missing.sgy", tmp_path / "x.zarr")
    assert bad.returncode == 2 and "missing.sgy" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("dt", [0.04, 0.1, 1e-7, 0.0000125])
def test_export_refuses_a_sample_interval_segy_cannot_hold(tmp_path, dt):
    from promethium.data.store import store_attrs, write_store

    attrs = store_attrs(dt=dt, dx=[None, None], axis_names=["g", "t", "time"], provenance="t")
    write_store(tmp_path / "s.zarr", np.ones((2, 3, 10), np.float32), attrs)
    with pytest.raises(DataError, match=r"out\.sgy: dt = .*allowed 1\.\.32767 us"):
        zarr_to_segy(tmp_path / "s.zarr", tmp_path / "out.sgy", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_export_of_generated_headers_round_trips_dt_and_refuses_long_traces(tmp_path):
    from promethium.data.store import store_attrs, write_store

    attrs = store_attrs(dt=0.032, dx=[None, None], axis_names=["g", "t", "time"], provenance="t")
    write_store(tmp_path / "s.zarr", np.ones((2, 3, 10), np.float32), attrs)
    zarr_to_segy(tmp_path / "s.zarr", tmp_path / "out.sgy", progress=False)
    with segyio.open(str(tmp_path / "out.sgy"), ignore_geometry=True) as f:
        assert segyio.tools.dt(f) == 32000 and f.header[5][segyio.TraceField.TraceNumber] == 3
    attrs = store_attrs(dt=0.001, dx=[None, None], axis_names=["g", "t", "time"], provenance="t")
    write_store(tmp_path / "long.zarr", np.ones((1, 1, 40000), np.float32), attrs)
    with pytest.raises(DataError, match="TRACE_SAMPLE_COUNT would be 40000"):
        zarr_to_segy(tmp_path / "long.zarr", tmp_path / "long.sgy", progress=False)


def test_export_checks_every_header_field_against_its_width(tmp_path):
    """Each of the 91 trace-header fields, set one past its range, is refused by name."""
    import zarr

    from promethium.data.segy import HEADER_FIELDS
    from promethium.data.segy_export import TRACE_FIELD_BYTES

    src = tmp_path / "in.sgy"
    write_prestack(src)
    store = segy_to_zarr(src, tmp_path / "s.zarr", progress=False)
    group = zarr.open_group(str(store), mode="r+")
    for name, byte in HEADER_FIELDS.items():
        width = TRACE_FIELD_BYTES[byte]
        if width > 4:
            continue
        array = group[f"headers/{name}"]
        kept = int(array[0, 0])
        # stored as int32: widen, so that a 4-byte field can hold its overflow
        group.create_array(f"headers/{name}", data=np.asarray(array[...], np.int64), overwrite=True)
        group[f"headers/{name}"][0, 0] = 2 ** (8 * width - 1)
        with pytest.raises(DataError, match=f"header field {name} would be"):
            zarr_to_segy(store, tmp_path / "out.sgy", progress=False)
        group[f"headers/{name}"][0, 0] = kept
    assert not (tmp_path / "out.sgy").exists()
    binary = dict(group.attrs["segy"])
    binary["binary"] = {**binary["binary"], str(segyio.BinField.Interval): 40000}
    group.attrs["segy"] = binary
    with pytest.raises(DataError, match="binary Interval would be 40000"):
        zarr_to_segy(store, tmp_path / "out.sgy", progress=False)


def test_traces_zero_at_every_sample_are_not_live(tmp_path):
    # a decimated survey whose missing traces were zeroed but not flagged dead (code 1)
    src = tmp_path / "line.sgy"
    traces = write_f3_line(src, n_inlines=2)
    zeroed = [3, 4, 20]
    with segyio.open(str(src), "r+", ignore_geometry=True) as f:
        for i in zeroed:
            f.trace[i] = np.zeros(traces.shape[1], dtype=f.dtype)
    store = segy_to_zarr(src, tmp_path / "line.zarr", progress=False)
    group, data = open_store(store)
    live = np.asarray(group["trace_mask"][0])
    assert np.flatnonzero(~live).tolist() == zeroed
    np.testing.assert_array_equal(data[0, live], traces[live])


def test_filled_dead_traces_are_written_live_and_the_store_keeps_their_code(tmp_path):
    src = tmp_path / "line.sgy"
    write_f3_line(src, n_inlines=2)
    with segyio.open(str(src), "r+", ignore_geometry=True) as f:
        for i in (5, 6):
            f.header[i] = {segyio.TraceField.TraceIdentificationCode: 2}
    store = segy_to_zarr(src, tmp_path / "line.zarr", progress=False)
    group = zarr.open_group(str(store), mode="r+")
    group["amplitude"][0, 5] = np.linspace(1, 2, 75, dtype=np.float32)  # as inference fills
    out = zarr_to_segy(store, tmp_path / "out.sgy", progress=False)
    field = segyio.TraceField.TraceIdentificationCode
    with segyio.open(str(src), ignore_geometry=True) as f:
        before = np.asarray(f.attributes(field)[:])
    with segyio.open(str(out), ignore_geometry=True) as f:
        codes = np.asarray(f.attributes(field)[:])
    assert codes[5] == 1 and codes[6] == 2  # filled: live; still empty: dead
    np.testing.assert_array_equal(np.delete(codes, [5, 6]), np.delete(before, [5, 6]))
    assert group["headers/TraceIdentificationCode"][0, 5] == 2


def test_summary_counts_the_layout_and_suggests_the_sort(tmp_path):
    from promethium.data.survey import describe, summarise
    from tests.helpers import DATA

    line = tmp_path / "line.sgy"
    write_f3_line(line, n_inlines=3)
    with segyio.open(str(line), "r+", ignore_geometry=True) as f:
        f.header[7] = {segyio.TraceField.TraceIdentificationCode: 2}
    summary = summarise(segy_to_zarr(line, tmp_path / "line.zarr", progress=False))
    assert {k: summary[k] for k in ("gathers", "traces_per_gather", "live", "dead", "absent")} == {
        "gathers": 1,
        "traces_per_gather": [54, 54, 54],
        "live": 53,
        "dead": 1,
        "absent": 0,
    }
    assert summary["dt_ms"] == pytest.approx(4.0) and summary["samples"] == 75
    assert "split it along the line" in summary["suggestion"]
    cube = segy_to_zarr(DATA / "f3_withdead.sgy", tmp_path / "cube.zarr", progress=False)
    text = describe(summarise(cube))
    assert text[0] == "format IBM float32, big-endian; 75 samples at 4 ms"
    assert "23 x 18" in text[-1] and "--sort INLINE_3D CROSSLINE_3D" in text[-1]
    by_cube = segy_to_zarr(
        DATA / "f3_withdead.sgy",
        tmp_path / "c2.zarr",
        ["INLINE_3D", "CROSSLINE_3D"],
        progress=False,
    )
    assert summarise(by_cube)["absent"] == 414 - 239 and summarise(by_cube)["suggestion"] is None
