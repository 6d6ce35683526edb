"""Per-gather metrics against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promethium.evaluation import score, summarise


def test_metrics_match_direct_formulas_per_gather():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((3, 16, 40))
    estimate = (
        reference + 0.1 * rng.standard_normal(reference.shape) * np.arange(1, 4)[:, None, None]
    )
    mask = np.ones((3, 16))
    mask[:, ::4] = 0
    scores = score(estimate, reference, mask)
    for g in range(3):
        ref, est = reference[g], estimate[g]
        err = est - ref
        assert np.isclose(scores["snr_db"][g], 10 * np.log10((ref**2).sum() / (err**2).sum()))
        peak = ref.max() - ref.min()
        assert np.isclose(scores["psnr_db"][g], 10 * np.log10(peak**2 / (err**2).mean()))
        miss = mask[g] == 0
        expected = 10 * np.log10((ref[miss] ** 2).sum() / (err[miss] ** 2).sum())
        assert np.isclose(scores["snr_missing_db"][g], expected)
        f_est, f_ref = np.abs(np.fft.fft2(est)), np.abs(np.fft.fft2(ref))
        fk = 10 * np.log10(((f_est - f_ref) ** 2).sum() / (f_ref**2).sum())
        # rfft2 keeps half the spectrum: same ratio up to the doubled/undoubled bins
        assert abs(scores["fk_error_db"][g] - fk) < 0.5
    assert np.all(np.diff(scores["snr_db"]) < 0)  # more noise, lower SNR
    assert np.all(np.diff(scores["ssim"]) < 0) and np.all(scores["ssim"] < 1)
    table = summarise(scores)
    assert np.isclose(table["snr_db"]["mean"], scores["snr_db"].mean())


def test_ssim_is_one_only_for_a_perfect_estimate():
    reference = np.random.default_rng(1).standard_normal((2, 32, 32))
    assert np.allclose(score(reference, reference)["ssim"], 1.0, atol=1e-6)
    assert np.all(score(0.5 * reference, reference)["ssim"] < 0.95)


def test_evaluate_task_scores_every_method_and_writes_the_report(tmp_path):
    import json

    from promethium.api import train
    from promethium.tasks.common import execute as run
    from tests.helpers import compose_config

    cfg = compose_config(tmp_path / "train", ["logger=none", "trainer.max_epochs=2"])
    train(cfg)
    ckpt = tmp_path / "train" / "run" / "checkpoints" / "last.ckpt"
    overrides = [
        "task=evaluate",
        f"ckpt_path={ckpt}",
        "evaluate.n_gathers=2",
        "evaluate.panels=1",
        "evaluate.baselines.pocs.n_iter=20",
    ]
    metrics = run(compose_config(tmp_path / "eval", overrides))
    out = tmp_path / "eval" / "run"
    summary = json.loads((out / "metrics.json").read_text())["methods"]
    assert set(summary) == {"input", "network", "linear_interpolation", "pocs"}
    arrays = np.load(out / "evaluation.npz")
    clean, masks = arrays["clean"], arrays["masks"]
    for name in summary:  # SNR recomputed from the saved arrays
        err = arrays[name] - clean
        snr = 10 * np.log10((clean**2).sum(axis=(1, 2)) / (err**2).sum(axis=(1, 2)))
        assert np.isclose(summary[name]["snr_db"]["mean"], snr.mean(), atol=1e-4)
        assert metrics[f"{name}/snr_db"] == summary[name]["snr_db"]["mean"]
    assert (masks == 0).any() and summary["input"]["snr_missing_db"]["mean"] == 0.0
    report = (out / "report.md").read_text()
    for name in summary:
        assert f"| {name} |" in report
    assert "**" in report and (out / "report" / "gather0_panels.png").exists()
    assert (out / "scores.csv").read_text().count("\n") == 1 + 4 * 2
    live = np.broadcast_to(masks[..., None].astype(bool), clean.shape)
    assert np.array_equal(arrays["network"][live], arrays["input"][live])  # keep_observed
    tta = run(compose_config(tmp_path / "tta", [*overrides, "evaluate.tta=true"]))
    assert tta["network/snr_db"] != metrics["network/snr_db"]  # a different (averaged) net
    assert tta["pocs/snr_db"] == metrics["pocs/snr_db"]  # same inputs for the baselines
    # a clean reference file and a corruption given directly
    np.save(tmp_path / "reference.npy", clean[:, :, :40])
    corruption = "[{_target_: promethium.data.transforms.MissingTraces, fraction: 0.25}]"
    direct = [
        *overrides,
        f"evaluate.input={tmp_path / 'reference.npy'}",
        f"evaluate.corruption={corruption}",
    ]
    run(compose_config(tmp_path / "direct", direct))
    saved = np.load(tmp_path / "direct" / "run" / "evaluation.npz")
    assert np.array_equal(saved["clean"], clean[:, :, :40])
    assert (saved["masks"] == 0).mean() == pytest.approx(0.25, abs=0.05)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_training_snr_metrics_mean_of_db_and_energy_weighted():
    import torch

    from promethium.ml.metrics import EnergySNR, MeanSNR

    target = torch.zeros(2, 1, 4, 8)
    target[0] = 1.0  # a strong patch
    target[1, 0, 0, 0] = 1e-3  # a near-empty one (above the first arrival)
    pred = target.clone()
    pred[0] += 0.1  # error energy 32 * 0.01 = 0.32 against signal 32: 20 dB
    pred[1] += 1e-3  # tiny absolute error but -15 dB on its own patch
    mask = torch.ones(2, 1, 4, 1)
    mask[:, :, 1] = 0.0  # one missing trace of four
    mean, energy = MeanSNR(), EnergySNR()
    mean_missing, energy_missing = MeanSNR(missing_only=True), EnergySNR(missing_only=True)
    for metric in (mean, energy):
        metric.update(pred[:1], target[:1])
        metric.update(pred[1:], target[1:])
    for metric in (mean_missing, energy_missing):
        metric.update(pred, target, mask)
    near_empty = 10 * np.log10(1e-6 / 32e-6)
    assert np.isclose(mean.compute(), (20.0 + near_empty) / 2, atol=1e-3)
    expected = 10 * np.log10((32 + 1e-6) / (0.32 + 32e-6))
    assert np.isclose(energy.compute(), expected, atol=1e-4)
    assert energy.compute() > 19.9 > mean.compute()  # the empty patch cannot drag it down
    assert np.isclose(energy_missing.compute(), 20.0, atol=1e-3)  # patch 1's missing trace is 0
    assert torch.isnan(EnergySNR().compute())


def test_metrics_are_undefined_not_huge_against_a_zero_reference():
    zero = np.zeros((2, 8, 32))
    estimate = np.random.default_rng(2).standard_normal(zero.shape)
    scores = score(estimate, zero, mask=np.ones((2, 8)))
    for name in ("snr_db", "psnr_db", "ssim", "fk_error_db", "snr_missing_db"):
        assert np.isnan(scores[name]).all(), name
    from promethium.evaluation.metrics import summarise

    assert summarise(scores)["snr_db"] == {"mean": None, "std": None}


def test_ssim_works_on_gathers_narrower_than_its_window():
    reference = np.random.default_rng(3).standard_normal((2, 1, 64))
    assert np.allclose(score(reference, reference)["ssim"], 1.0, atol=1e-6)
    assert np.all(score(reference[:, :, :5] * 0.1, reference[:, :, :5])["ssim"] < 0.9)


def evaluate_reference(tmp_path, ckpt, reference, *extra):
    from promethium.data.store import store_attrs, write_store
    from promethium.tasks.common import execute as run
    from tests.helpers import compose_config

    attrs = store_attrs(
        dt=0.004, dx=[None, 12.5], axis_names=["gather", "trace", "time"], provenance="test"
    )
    write_store(tmp_path / "reference.zarr", reference, attrs)
    corruption = "[{_target_: promethium.data.transforms.MissingTraces, fraction: 0.5}]"
    overrides = [
        "task=evaluate",
        f"ckpt_path={ckpt}",
        "evaluate.panels=1",
        "evaluate.baselines.pocs.n_iter=5",
        f"evaluate.input={tmp_path / 'reference.zarr'}",
        *extra,
    ]
    if not any(e.startswith("evaluate.corruption=") for e in extra):
        overrides.append(f"evaluate.corruption={corruption}")
    return run(compose_config(tmp_path, overrides))


def test_evaluate_refuses_zero_gathers_and_an_all_zero_reference(tmp_path, tiny_checkpoint):
    from promethium.errors import ConfigError, DataError

    reference = np.random.default_rng(4).standard_normal((3, 16, 40)).astype(np.float32)
    with pytest.raises(ConfigError, match="evaluate.n_gathers: got 0; allowed: a positive"):
        evaluate_reference(tmp_path / "a", tiny_checkpoint, reference, "evaluate.n_gathers=0")
    with pytest.raises(DataError, match="none with signal"):
        evaluate_reference(tmp_path / "b", tiny_checkpoint, np.zeros_like(reference))
    reference[1] = 0  # one silent gather: scored without it, with a warning
    metrics = evaluate_reference(tmp_path / "c", tiny_checkpoint, reference)
    assert np.isfinite(metrics["network/snr_db"]) and metrics["network/snr_db"] > -50
    saved = np.load(tmp_path / "c" / "run" / "evaluation.npz")
    assert len(saved["clean"]) == 2


def test_evaluate_scores_one_trace_gathers(tmp_path, tiny_checkpoint):
    import json

    reference = np.random.default_rng(5).standard_normal((3, 1, 40)).astype(np.float32)
    corruption = "[{_target_: promethium.data.transforms.AdditiveNoise, snr_db: 3}]"
    evaluate_reference(tmp_path, tiny_checkpoint, reference, f"evaluate.corruption={corruption}")
    text = (tmp_path / "run" / "metrics.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in metrics.json"))
    for method, values in summary["methods"].items():
        assert all(np.isfinite(values[m]["mean"]) for m in ("snr_db", "ssim")), method


def test_metrics_json_is_strict_json(tmp_path):
    import json

    from promethium.files import write_metrics

    write_metrics(tmp_path / "m.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": 2.5})
    parsed = json.loads(
        (tmp_path / "m.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}")
    )
    assert parsed == {"a": None, "b": [1.0, None], "c": 2.5}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_evaluate_corruption_applies_to_the_test_split_too(tmp_path, tiny_checkpoint):
    from promethium.tasks.common import execute
    from tests.helpers import compose_config

    noise = "[{_target_: promethium.data.transforms.AdditiveNoise, snr_db: 0}]"
    overrides = [
        "task=evaluate",
        f"ckpt_path={tiny_checkpoint}",
        "evaluate.n_gathers=2",
        "evaluate.panels=0",
        f"evaluate.corruption={noise}",
    ]
    metrics = execute(compose_config(tmp_path, overrides))
    assert "fx_decon/snr_db" in metrics and "pocs/snr_db" not in metrics  # denoising methods
    assert metrics["input/snr_db"] == pytest.approx(0.0, abs=0.2)


def test_one_snr_for_numpy_and_torch_with_weights_zero_references_and_exact_fits():
    from promethium.quality import snr_db

    rng = np.random.default_rng(0)
    ref = rng.standard_normal((3, 5, 16))
    est = ref + 0.1 * rng.standard_normal(ref.shape)
    ref[1] = 0.0  # no energy: undefined
    est[2] = ref[2]  # exact: +inf
    weight = (rng.random((3, 5, 1)) > 0.5).astype(np.float64)
    for w in (None, weight):
        by_numpy = snr_db(est, ref, w)
        by_torch = snr_db(
            torch.from_numpy(est), torch.from_numpy(ref), None if w is None else torch.from_numpy(w)
        ).numpy()
        np.testing.assert_allclose(by_numpy, by_torch, rtol=1e-12)
        assert np.isnan(by_numpy[1]) and np.isposinf(by_numpy[2])
    w0 = weight[0]
    expected = 10 * np.log10((w0 * ref[0] ** 2).sum() / (w0 * (ref[0] - est[0]) ** 2).sum())
    assert np.isclose(snr_db(est, ref, weight)[0], expected)
