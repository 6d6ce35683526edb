import numpy as np
import pytest
import torch
import zarr
from torch.utils.data import DataLoader

from promethium.data import (
    EpochKeySampler,
    SeismicDataset,
    SyntheticGathers,
    open_store,
    store_attrs,
    write_store,
)
from promethium.data.dataset import make_regions
from promethium.data.transforms import (
    MissingTraces,
    RandomGain,
    RandomPolarityFlip,
    RandomTimeShift,
    shift_time,
)
from promethium.errors import ConfigError, DataError
from promethium.ml import SeismicDataModule
from promethium.tiling import axis_starts


def gather_store(path, shape=(6, 20, 40), chunks=None):
    data = (np.arange(np.prod(shape)).reshape(shape) / np.prod(shape)).astype(np.float32)
    attrs = store_attrs(
        dt=0.004, dx=[None, 10.0], axis_names=["gather", "trace", "time"], provenance="unit test"
    )
    return write_store(path, data, attrs, chunks=chunks), data


# ------------------------------------------------------------------ store convention


def test_store_roundtrip_and_attributes(tmp_path):
    path, data = gather_store(tmp_path / "s.zarr")
    group, array = open_store(path)
    assert array.dtype == np.float32 and array.shape == data.shape
    np.testing.assert_array_equal(array[...], data)
    assert group.attrs["dt"] == 0.004 and group.attrs["axis_names"][-1] == "time"


@pytest.mark.parametrize("key", ["dt", "dx", "axis_names", "units", "provenance"])
def test_missing_attribute_is_named(tmp_path, key):
    path, _ = gather_store(tmp_path / "s.zarr")
    group = zarr.open_group(str(path), mode="a")
    del group.attrs[key]
    with pytest.raises(DataError, match=key):
        open_store(path)


def test_bad_dt_and_missing_store_are_clear(tmp_path):
    path, _ = gather_store(tmp_path / "s.zarr")
    zarr.open_group(str(path), mode="a").attrs["dt"] = -1
    with pytest.raises(DataError, match="'dt'"):
        open_store(path)
    with pytest.raises(DataError, match="no such Zarr store"):
        open_store(tmp_path / "absent.zarr")


def test_write_refuses_nan_and_keeps_previous_store(tmp_path):
    path, data = gather_store(tmp_path / "s.zarr")
    bad = data.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        write_store(
            path,
            bad,
            store_attrs(
                dt=0.004, dx=[None, 1.0], axis_names=["gather", "trace", "time"], provenance="x"
            ),
            overwrite=True,
        )
    np.testing.assert_array_equal(open_store(path)[1][...], data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


# ------------------------------------------------------------------ dataset


def test_window_starts_cover_with_last_flush():
    assert axis_starts(10, 4, 0).tolist() == [0, 4, 6]
    assert axis_starts(8, 4, 0).tolist() == [0, 4]
    assert axis_starts(3, 3, 0).tolist() == [0]
    assert (5 + axis_starts(10, 4, 2)).tolist() == [5, 7, 9, 11]


def test_regions_by_gather_and_by_block():
    assert len(make_regions((5, 20, 40), 2)) == 5
    blocks = make_regions((50, 20, 40), 3, block=16)
    assert [(r.lo[0], r.hi[0]) for r in blocks] == [(0, 16), (16, 32), (32, 48), (48, 50)]


def test_grid_dataset_reads_exact_patches_and_pads(tmp_path):
    path, data = gather_store(tmp_path / "s.zarr")
    ds = SeismicDataset(path, [16, 32], mode="grid")
    # per gather: traces [0, 4] x time [0, 8] -> 4 windows; 6 gathers
    assert len(ds) == 24
    seen = np.zeros_like(data, dtype=bool)
    for i in range(len(ds)):
        region, start = ds.windows[i]
        sample = ds[i]
        g, (t0, s0) = region.lead[0], start
        np.testing.assert_array_equal(
            sample["target"][0].numpy(), data[g, t0 : t0 + 16, s0 : s0 + 32]
        )
        seen[g, t0 : t0 + 16, s0 : s0 + 32] = True
    assert seen.all()
    padded = SeismicDataset(path, [32, 32], mode="grid")[0]["target"][0].numpy()
    assert padded.shape == (32, 32) and (padded[20:] == 0).all()


def test_random_samples_are_determined_by_key_and_worker_independent(tmp_path):
    path, _ = gather_store(tmp_path / "s.zarr")
    ds = SeismicDataset(
        path,
        [8, 16],
        mode="random",
        num_samples=12,
        augment=RandomPolarityFlip(0.5),
        corruption=MissingTraces(0.5),
    )
    sampler = EpochKeySampler(12, seed=3)

    def batches(workers):
        loader = DataLoader(
            ds, batch_size=4, sampler=sampler, num_workers=workers, persistent_workers=workers > 0
        )
        return torch.cat([b["input"] for b in loader])

    serial, parallel = batches(0), batches(2)
    assert torch.equal(serial, parallel)
    sampler.set_epoch(1)
    assert not torch.equal(serial, batches(0))


def test_dataset_reports_nan_location(tmp_path):
    path, _ = gather_store(tmp_path / "s.zarr")
    zarr.open_group(str(path), mode="a")["amplitude"][2, 3, 4] = np.nan
    ds = SeismicDataset(path, [20, 40], mode="grid")
    with pytest.raises(DataError, match="NaN"):
        ds[2]


def test_patch_size_too_many_axes_is_clear(tmp_path):
    path, _ = gather_store(tmp_path / "s.zarr")
    with pytest.raises(ConfigError, match="patch_size"):
        SeismicDataset(path, [2, 2, 2, 2])


def test_datamodule_splits_whole_gathers(tmp_path):
    dm = SeismicDataModule(
        SyntheticGathers(n_gathers=10, n_traces=16, n_samples=32),
        [16, 32],
        cache_dir=tmp_path,
        val_fraction=0.2,
        test_fraction=0.2,
    )
    dm.prepare_data()
    dm.setup()
    leads = {k: {r.lead for r in ds.regions} for k, ds in dm.datasets.items()}
    assert len(leads["val"]) == 2 and len(leads["test"]) == 2 and len(leads["train"]) == 6
    assert not (leads["train"] & leads["val"]) and not (leads["train"] & leads["test"])
    assert not (leads["val"] & leads["test"])


# ------------------------------------------------------------------ synthetic


def test_synthetic_cache_is_keyed_by_config(tmp_path):
    a = SyntheticGathers(n_gathers=2, n_traces=8, n_samples=16)
    p1, p2 = a.prepare(tmp_path), a.prepare(tmp_path)
    assert p1 == p2 and len(list(tmp_path.iterdir())) == 1
    b = SyntheticGathers(n_gathers=2, n_traces=8, n_samples=16, seed=1)
    assert b.prepare(tmp_path) != p1
    np.testing.assert_array_equal(open_store(p1)[1][...], a.generate())


# ------------------------------------------------------------------ transforms


def test_flip_negates_and_gain_scales_by_drawn_factor():
    x = np.random.default_rng(0).normal(size=(4, 16)).astype(np.float32)
    np.testing.assert_array_equal(RandomPolarityFlip(p=1.0)(x, np.random.default_rng(0)), -x)
    gain = RandomGain(p=1.0, db_range=(-6, 6))
    rng, twin = np.random.default_rng(5), np.random.default_rng(5)
    twin.random()
    factor = 10 ** (twin.uniform(-6, 6) / 20)
    np.testing.assert_allclose(gain(x, rng), x * factor, rtol=1e-6)


def test_time_shift_moves_and_zero_fills():
    x = np.arange(1, 11, dtype=np.float32)[None]
    np.testing.assert_array_equal(shift_time(x, 3)[0], [0, 0, 0, 1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(shift_time(x, -2)[0], [3, 4, 5, 6, 7, 8, 9, 10, 0, 0])
    rng, twin = np.random.default_rng(9), np.random.default_rng(9)
    out = RandomTimeShift(p=1.0, max_shift=4)(x, rng)
    twin.random()
    np.testing.assert_array_equal(out, shift_time(x, int(twin.integers(-4, 5))))


@pytest.mark.parametrize(
    "mode,fraction",
    [("random", 0.5), ("random", 0.3), ("regular", 0.5), ("regular", 0.75), ("gaps", 0.25)],
)
def test_missing_traces_remove_the_stated_fraction(mode, fraction):
    x = np.ones((64, 32), dtype=np.float32)
    out, mask = MissingTraces(fraction, mode=mode, gap_width=4)(x, np.random.default_rng(1))
    removed = 1 - mask[:, 0].mean()
    tol = 0.5 / 64 if mode != "gaps" else 0.1  # exact up to rounding to whole traces
    assert abs(removed - fraction) <= tol + 1e-9
    np.testing.assert_array_equal(out, x * mask)
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_corruption_rejects_bad_values():
    with pytest.raises(ConfigError, match="fraction"):
        MissingTraces(1.0)
    with pytest.raises(ConfigError, match="mode"):
        MissingTraces(0.5, mode="sideways")


def test_missing_traces_on_cube_patches_remove_whole_columns():
    x = np.ones((10, 12, 16), dtype=np.float32)
    out, mask = MissingTraces(0.85, mode="random")(x, np.random.default_rng(2))
    assert mask.shape == (10, 12, 1)
    assert (1 - mask.mean()) == pytest.approx(round(0.85 * 120) / 120)
    assert ((out == 0).all(-1) == (mask[..., 0] == 0)).all()


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0])
@pytest.mark.parametrize("band", [None, (5.0, 30.0)])
def test_additive_noise_hits_target_snr(snr, band):
    from promethium.data.transforms import AdditiveNoise

    x = SyntheticGathers(n_gathers=1, n_traces=32, n_samples=128).generate()[0]
    noisy, mask = AdditiveNoise(snr, band_hz=band, dt=0.004)(x, np.random.default_rng(0))
    measured = 10 * np.log10(np.sum(x**2) / np.sum((noisy - x) ** 2))
    assert abs(measured - snr) < 0.2
    assert (mask == 1).all()
    if band is not None:
        spectrum = np.abs(np.fft.rfft(noisy - x, axis=-1)) ** 2
        freqs = np.fft.rfftfreq(128, 0.004)
        outside = spectrum[:, (freqs < 5) | (freqs > 30)].sum()
        assert outside < 1e-6 * spectrum.sum()


def test_coherent_noise_is_slow_linear_and_at_target_snr():
    from promethium.data.transforms import CoherentNoise, CorruptionChain

    x = SyntheticGathers(n_gathers=1, n_traces=32, n_samples=128).generate()[0]
    noisy, _ = CoherentNoise(snr_db=3.0, dt=0.004, dx=12.5, n_events=1)(x, np.random.default_rng(4))
    noise = noisy - x
    assert abs(10 * np.log10(np.sum(x**2) / np.sum(noise**2)) - 3.0) < 0.2
    peaks = noise.argmax(-1)  # the arrival moves along the traces (a linear cone)
    assert len(np.unique(peaks)) > 5
    chained, mask = CorruptionChain([MissingTraces(0.5), CoherentNoise(0.0, 0.004, 12.5)])(
        x, np.random.default_rng(1)
    )
    assert mask.mean() == pytest.approx(0.5)


def test_coherent_noise_takes_unset_sampling_from_the_store(tmp_path):
    from promethium.data.transforms import CoherentNoise

    with pytest.raises(ConfigError, match="dx"):
        CoherentNoise(dx=-1.0)
    with pytest.raises(ConfigError, match="needs dt and dx"):
        CoherentNoise()(np.zeros((4, 8), np.float32), np.random.default_rng(0))
    unset, fixed = CoherentNoise(), CoherentNoise(dt=0.002, dx=5.0)
    dm = SeismicDataModule(
        SyntheticGathers(n_gathers=4, n_traces=16, n_samples=32, dt=0.008, dx=25.0),
        [16, 32],
        cache_dir=tmp_path,
        corruption=[MissingTraces(0.5), unset, fixed],
    )
    dm.prepare_data()
    dm.setup()
    assert (unset.dt, unset.dx) == (0.008, 25.0)  # from the store's attributes
    assert (fixed.dt, fixed.dx) == (0.002, 5.0)  # configured values win
    assert bool(dm.datasets["train"][0]["input"].isfinite().all())


def test_stores_written_before_the_mdio_names_are_still_read(tmp_path):
    """The traces array was ``data`` before the convention took MDIO's ``amplitude``."""
    from promethium.data.store import DATA_ARRAY, open_store

    x = np.random.default_rng(0).standard_normal((3, 8, 32)).astype(np.float32)
    attrs = store_attrs(dt=0.004, dx=[None, 10.0], axis_names=["g", "t", "time"], provenance="t")
    write_store(tmp_path / "new.zarr", x, attrs)
    assert DATA_ARRAY == "amplitude" and "amplitude" in zarr.open_group(str(tmp_path / "new.zarr"))
    old = zarr.open_group(str(tmp_path / "old.zarr"), mode="w")
    old.attrs.update(attrs)
    old.create_array("data", shape=x.shape, dtype="float32")[...] = x
    _, array = open_store(tmp_path / "old.zarr")
    np.testing.assert_array_equal(array[...], x)
    patch = SeismicDataset(tmp_path / "old.zarr", (8, 32), mode="grid")[0]["target"]
    np.testing.assert_array_equal(patch[0].numpy(), x[0])
