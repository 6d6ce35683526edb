"""SyncChunkReader returns exactly what zarr returns, for every box and codec it accepts."""

import numpy as np
import pytest
import zarr

from promethium.data.chunk_reader import SyncChunkReader, box_reader


def make_array(path, shape, chunks, **kwargs):
    rng = np.random.default_rng(0)
    array = zarr.create_array(str(path), shape=shape, chunks=chunks, dtype="float32", **kwargs)
    array[...] = rng.standard_normal(shape).astype(np.float32)
    return zarr.open_array(str(path), mode="r")


def random_boxes(shape, n, rng):
    boxes = []
    for _ in range(n):
        box = []
        for size in shape:
            if rng.random() < 0.2:
                box.append(int(rng.integers(-size, size)))
            else:
                lo = int(rng.integers(0, size))
                box.append(slice(lo, int(rng.integers(lo, size + 3))))
        boxes.append(tuple(box))
    return boxes


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compressors": None},
        {"compressors": "auto"},
        {"compressors": None, "filters": [zarr.codecs.TransposeCodec(order=(2, 0, 1))]},
    ],
    ids=["raw", "zstd", "transpose"],
)
def test_boxes_equal_zarr_including_edge_chunks(tmp_path, kwargs):
    # 7 x 13 x 29 does not divide into (2, 5, 8) chunks: partial edge chunks on every axis.
    array = make_array(tmp_path / "a.zarr", (7, 13, 29), (2, 5, 8), **kwargs)
    reader = SyncChunkReader(array, cache_bytes=4 * 2 * 5 * 8 * 4)  # 4 chunks: evictions
    for box in random_boxes(array.shape, 200, np.random.default_rng(1)):
        np.testing.assert_array_equal(reader.read(box), array[box], err_msg=str(box))
    assert len(reader.cache) == 4


def test_missing_chunks_read_as_fill_value(tmp_path):
    array = zarr.create_array(
        str(tmp_path / "a.zarr"), shape=(6, 10), chunks=(3, 5), dtype="float32", fill_value=-2.5
    )
    array[:3, :5] = 1.0  # only chunk (0, 0) is written
    reader = SyncChunkReader(zarr.open_array(str(tmp_path / "a.zarr"), mode="r"))
    np.testing.assert_array_equal(reader.read((slice(2, 5), slice(3, 8))), array[2:5, 3:8])
    assert reader.read((5, 9)) == -2.5


def test_bad_boxes_are_refused(tmp_path):
    reader = SyncChunkReader(make_array(tmp_path / "a.zarr", (4, 6), (2, 3), compressors=None))
    with pytest.raises(IndexError, match="axes"):
        reader.read((slice(0, 2),))
    with pytest.raises(IndexError, match="out of range"):
        reader.read((4, slice(None)))
    with pytest.raises(IndexError, match="step-1"):
        reader.read((slice(0, 4, 2), slice(None)))


def test_sharded_and_in_memory_arrays_fall_back_to_zarr(tmp_path):
    sharded = make_array(tmp_path / "s.zarr", (8, 16), (2, 4), shards=(4, 8))
    memory = zarr.create_array(zarr.storage.MemoryStore(), shape=(4, 4), dtype="float32")
    for array in (sharded, memory):
        assert not SyncChunkReader.supports(array)
        box = (slice(1, 3), slice(2, 4))
        np.testing.assert_array_equal(box_reader(array)(box), array[box])
    with pytest.raises(ValueError, match="not a local"):
        SyncChunkReader(memory)
