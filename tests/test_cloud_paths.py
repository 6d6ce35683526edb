"""Zarr stores behind fsspec URLs (memory://, file://) through zarr's store abstraction."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import zarr

from promethium.data.inputs import open_input
from promethium.data.sources import ZarrSource
from promethium.data.store import store_attrs, write_store
from promethium.errors import DataError
from promethium.ml.datamodule import SeismicDataModule

ATTRS = store_attrs(
    dt=0.004, dx=[None, 12.5], axis_names=["gather", "trace", "time"], provenance="t"
)


def memory_store(values: np.ndarray) -> str:
    url = f"memory://promethium-test-{uuid.uuid4().hex[:8]}/gathers.zarr"
    group = zarr.open_group(url, mode="w")
    group.create_array("data", shape=values.shape, chunks=(1, *values.shape[1:]), dtype="float32")[
        ...
    ] = values
    group.attrs.update(ATTRS)
    return url


@pytest.fixture
def gathers(tmp_path):
    values = np.random.default_rng(0).standard_normal((6, 24, 40)).astype(np.float32)
    write_store(tmp_path / "local.zarr", values, ATTRS)
    return values, tmp_path / "local.zarr"


def test_datamodule_reads_memory_and_file_urls_like_a_local_path(tmp_path, gathers):
    values, local = gathers
    batches = {}
    for name, path in [
        ("local", str(local)),
        ("file", f"file://{local}"),
        ("memory", memory_store(values)),
    ]:
        dm = SeismicDataModule(ZarrSource(path), [16, 32], cache_dir=tmp_path, seed=1)
        dm.prepare_data()
        dm.setup()
        assert str(dm.path) == path  # the URL is kept, not turned into a local path
        batches[name] = [dm.datasets[s][i]["target"] for s in ("train", "val") for i in (0, 1)]
    for name in ("file", "memory"):
        for a, b in zip(batches[name], batches["local"], strict=True):
            assert np.array_equal(a.numpy(), b.numpy()), name


def test_inference_reads_url_inputs(tmp_path, gathers):
    values, local = gathers
    for url in (f"file://{local}", memory_store(values)):
        source = open_input(url, tmp_path, ["FieldRecord"])
        assert source.location == url
        np.testing.assert_array_equal(source.volume[2, 3:7, :5], values[2, 3:7, :5])
    with pytest.raises(DataError, match="URL inputs must be Zarr"):
        open_input("memory://x/shots.sgy", tmp_path, ["FieldRecord"])
