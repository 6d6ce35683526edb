"""MDIO v1 in and out, and xarray at the API (issue #17, items 1-2).

Skipped with the reason when the optional extra is absent (``pip install -e ".[mdio]"``;
``.ci/run`` installs it through ``.[dev]``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

mdio = pytest.importorskip(
    "mdio", reason='the MDIO extra is not installed: pip install -e ".[mdio]"'
)

from promethium import api  # noqa: E402
from promethium.data.mdio import segy_to_mdio  # noqa: E402
from promethium.data.store import open_store  # noqa: E402
from promethium.errors import DataError  # noqa: E402
from promethium.inference import tiled_predict  # noqa: E402
from promethium.tasks.common import execute  # noqa: E402
from tests.helpers import cli, compose_config  # noqa: E402

DATA = Path(__file__).parent / "data"
PATCH = (16, 64)


@pytest.fixture(scope="module")
def f3_mdio(tmp_path_factory) -> Path:
    """The F3 crop with absent traces, imported by mdio (PostStack3DTime)."""
    target = tmp_path_factory.mktemp("mdio") / "f3.mdio"
    segy_to_mdio(DATA / "f3_withdead.sgy", target, "PostStack3DTime")
    return target


@pytest.fixture(scope="module")
def mdio_checkpoint(f3_mdio, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("train")
    cfg = compose_config(tmp, [f"data.path={f3_mdio}", "logger=none"], data="mdio")
    execute(cfg)
    return tmp / "run" / "checkpoints" / "last.ckpt"


def test_an_mdio_dataset_is_read_in_place_as_a_store(f3_mdio):
    dataset = mdio.open_mdio(f3_mdio)
    group, array = open_store(f3_mdio)
    assert array.shape == dataset["amplitude"].shape == (23, 18, 75)
    assert group.attrs["axis_names"] == ["inline", "crossline", "time"]
    assert group.attrs["dt"] == pytest.approx(0.004)  # the time coordinate, ms -> s
    assert group.attrs["dx"] == [pytest.approx(25, abs=1), pytest.approx(25, abs=1)]
    live = group["trace_mask"][...]
    np.testing.assert_array_equal(live, dataset["trace_mask"].values)
    assert 0 < live.sum() < live.size  # F3 with absent traces: mdio fills them with NaN
    assert np.isnan(dataset["amplitude"].values[~live]).all()


def test_training_reads_mdio_chunks_with_absent_traces_as_zero(f3_mdio, tmp_path):
    from promethium.tasks.builders import build_datamodule

    cfg = compose_config(tmp_path, [f"data.path={f3_mdio}"], data="mdio")
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.store_attrs["axis_names"][-1] == "time"
    for split in ("train", "val"):
        for i in range(6):
            item = dm.datasets[split][i]
            assert torch_finite(item["target"]) and torch_finite(item["input"])
            dead = item["live"][0, ..., 0] == 0
            assert (item["target"][0][dead] == 0).all()


def torch_finite(t) -> bool:
    return bool(t.isfinite().all())


@pytest.mark.cli
def test_infer_mdio_to_mdio_keeps_dimensions_coordinates_headers_and_mask(
    f3_mdio, mdio_checkpoint, tmp_path
):
    out = tmp_path / "out.mdio"
    run = cli(
        "task=infer",
        f"ckpt_path={mdio_checkpoint}",
        f"input={f3_mdio}",
        f"output={out}",
        "infer.progress=false",
        "infer.keep_observed=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert run.returncode == 0, run.stderr[-2000:]
    source, result = mdio.open_mdio(f3_mdio), mdio.open_mdio(out)
    assert result["amplitude"].dims == source["amplitude"].dims
    for name in ("inline", "crossline", "time", "cdp_x", "cdp_y", "trace_mask"):
        assert np.array_equal(result[name].values, source[name].values, equal_nan=True), name
    assert (result["headers"].values == source["headers"].values).all()  # structured
    live = source["trace_mask"].values
    x = np.nan_to_num(source["amplitude"].values)
    net = api.load_model(mdio_checkpoint)
    expected = tiled_predict(net, x, PATCH, 0.25, mask=live)
    got = result["amplitude"].values
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    chunks = zarr.open_group(str(out), mode="r")["amplitude"].chunks
    assert chunks == (1, 18, 75)  # one model slice per chunk: the tiles' chunking


def test_api_infer_takes_and_gives_xarray_numpy_and_torch(f3_mdio, mdio_checkpoint):
    import torch

    amplitude = mdio.open_mdio(f3_mdio)["amplitude"]
    out = api.infer(amplitude, mdio_checkpoint, keep_observed=False)
    assert out.dims == amplitude.dims and set(out.coords) == set(amplitude.coords)
    for name in amplitude.coords:
        assert np.array_equal(out[name].values, amplitude[name].values, equal_nan=True)
    x = np.asarray(amplitude.values)
    by_numpy = api.infer(x, mdio_checkpoint, keep_observed=False)
    np.testing.assert_allclose(out.values, by_numpy, rtol=1e-6, atol=1e-6 * np.abs(by_numpy).max())
    by_torch = api.infer(torch.from_numpy(x), mdio_checkpoint, keep_observed=False)
    assert isinstance(by_torch, torch.Tensor)
    np.testing.assert_allclose(by_torch.numpy(), by_numpy, rtol=1e-5, atol=1e-5)
    # time first: the result comes back in the caller's dimension order
    flipped = api.infer(amplitude.transpose("time", "inline", "crossline"), mdio_checkpoint)
    assert flipped.dims == ("time", "inline", "crossline")
    # interpolation models keep the recorded traces by default
    kept = api.infer(amplitude, mdio_checkpoint)
    live = mdio.open_mdio(f3_mdio)["trace_mask"].values
    np.testing.assert_array_equal(kept.values[live], amplitude.values[live])


@pytest.mark.cli
def test_an_mdio_output_needs_an_mdio_input(mdio_checkpoint, tmp_path):
    np.save(tmp_path / "in.npy", np.zeros((2, 8, 32), np.float32))
    run = cli(
        "task=infer",
        f"ckpt_path={mdio_checkpoint}",
        f"input={tmp_path / 'in.npy'}",
        f"output={tmp_path / 'out.mdio'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert run.returncode != 0 and "not MDIO" in run.stderr
    assert not (tmp_path / "out.mdio").exists()


def test_segy_to_mdio_refuses_unknown_templates(tmp_path):
    from promethium.data.mdio import segy_to_mdio

    with pytest.raises(DataError, match="unknown MDIO template"):
        segy_to_mdio(DATA / "f3_cropped.sgy", tmp_path / "x.mdio", template="Nonsense")


def test_mdio_trace_headers_serve_infer_mask_header(f3_mdio, tmp_path):
    """``infer.mask.header`` names a field of MDIO's structured ``headers``."""
    from promethium.data.inputs import open_input
    from promethium.errors import ConfigError

    source = open_input(f3_mdio, tmp_path, [])
    codes = source.header("trace_id_code")
    headers = mdio.open_mdio(f3_mdio)["headers"].values
    np.testing.assert_array_equal(codes, headers["trace_id_code"])
    with pytest.raises(ConfigError, match="trace_id_code"):  # the allowed names are listed
        source.header("TraceIdentificationCode")
