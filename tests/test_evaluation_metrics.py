"""Per-gather metrics against independent computations."""

from __future__ import annotations

import numpy as np

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
