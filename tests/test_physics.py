"""Finite-difference operators and WaveEquationLoss against analytic solutions."""

import math

import pytest
import torch

from promethium.errors import ConfigError
from promethium.physics import laplacian, second_time_derivative
from promethium.physics.wave_loss import WaveEquationLoss

C = 2000.0  # m/s
L = 1000.0  # m
F64 = torch.float64


def grid(n, dims):
    h = L / n
    axes = [torch.arange(n + 1, dtype=F64) * h for _ in range(dims)]
    return torch.meshgrid(*axes, indexing="ij"), h


def plane_wave(n, dims, dt, steps=12, c=C):
    """``sin(k.x - w t)`` with ``w = c |k|``, as (1, 1, *space, T)."""
    (xs, h) = grid(n, dims)
    k = torch.tensor([2 * math.pi / L * (i + 1) for i in range(dims)], dtype=F64)
    t = torch.arange(steps, dtype=F64) * dt
    phase = sum(ki * x for ki, x in zip(k, xs, strict=True))[..., None] - c * k.norm() * t
    return torch.sin(phase)[None, None], h


def gaussian_pulse(n, dims, dt, steps=12, c=C, sigma=120.0):
    """A Gaussian plane pulse ``exp(-((n.x - c t - x0)/sigma)^2)`` travelling diagonally."""
    (xs, h) = grid(n, dims)
    direction = torch.ones(dims, dtype=F64) / math.sqrt(dims)
    t = torch.arange(steps, dtype=F64) * dt
    s = sum(d * x for d, x in zip(direction, xs, strict=True))[..., None] - c * t
    x0 = 0.5 * L * math.sqrt(dims)
    return torch.exp(-(((s - x0) / sigma) ** 2))[None, None], h


def observed_order(errors, ratio=2.0):
    return [math.log(errors[i] / errors[i + 1]) / math.log(ratio) for i in range(len(errors) - 1)]


@pytest.mark.parametrize("order,sizes", [(2, (32, 64, 128)), (4, (32, 64, 128)), (8, (32, 48, 64))])
def test_laplacian_converges_at_stencil_order(order, sizes):
    errors = []
    for n in sizes:
        (x, y), h = grid(n, 2)
        sigma = 150.0
        r2 = (x - L / 2) ** 2 + (y - L / 2) ** 2
        u = torch.exp(-r2 / sigma**2)
        exact = (4 * r2 / sigma**4 - 4 / sigma**2) * u
        lap = laplacian(u[None, None], [h, h], order, time_axis=False)[0, 0]
        r = order // 2
        errors.append((lap - exact[r:-r, r:-r]).abs().max().item())
    ratio = sizes[1] / sizes[0] if order != 8 else None
    if ratio is None:  # non-uniform refinement: fit the slope in log-log
        slopes = [
            math.log(errors[i] / errors[i + 1]) / math.log(sizes[i + 1] / sizes[i])
            for i in range(len(sizes) - 1)
        ]
    else:
        slopes = observed_order(errors, ratio)
    assert slopes[-1] == pytest.approx(order, abs=0.35), (errors, slopes)


def test_second_time_derivative_is_second_order():
    errors = []
    for n in (50, 100, 200):
        t = torch.linspace(0, 1, n + 1, dtype=F64)
        u = torch.sin(3 * t)
        d2 = second_time_derivative(u[None, None, :], 1.0 / n)[0, 0]
        errors.append((d2 + 9 * torch.sin(3 * t[1:-1])).abs().max().item())
    assert observed_order(errors)[-1] == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("field", [plane_wave, gaussian_pulse])
def test_exact_solutions_have_tiny_residual_and_wrong_ones_do_not(dims, field):
    n = {1: 64, 2: 48, 3: 24}[dims]
    dt = 0.3 * (L / n) / C
    u, h = field(n, dims, dt)
    loss = WaveEquationLoss(dt=dt, dx=h, velocity=C, order=4)
    good = loss(u).item()
    wrong_c = loss(u, velocity=1.2 * C).item()
    noisy = loss(u + 0.01 * torch.randn_like(u, generator=torch.Generator().manual_seed(0))).item()
    assert good < 1e-4
    assert wrong_c > 100 * good and noisy > 100 * good


def test_residual_falls_at_fourth_order_under_refinement():
    dt = 1e-5  # time error negligible: the spatial stencil dominates
    rms = []
    for n in (16, 32, 64):
        u, h = plane_wave(n, 2, dt, steps=5)
        res = WaveEquationLoss(dt=dt, dx=h, velocity=C, order=4).residual(u)
        rms.append(res.square().mean().sqrt().item())
    assert observed_order(rms)[-1] == pytest.approx(4.0, abs=0.3), rms


def test_velocity_field_matches_scalar_and_per_axis_dx():
    dt = 0.3 * (L / 32) / C
    u, h = plane_wave(32, 2, dt)
    loss = WaveEquationLoss(dt=dt, dx=[h, h], order=4)
    scalar = loss(u, velocity=C)
    field = loss(u, velocity=torch.full(u.shape[2:-1], C, dtype=F64))
    batch_field = loss(u, velocity=torch.full((1, 1, *u.shape[2:-1]), C, dtype=F64))
    assert torch.allclose(scalar, field) and torch.allclose(scalar, batch_field)
    slow = torch.full(u.shape[2:-1], C, dtype=F64)
    slow[:, :16] = 1500.0
    assert loss(u, velocity=slow) > 100 * scalar


def test_normalisation_removes_amplitude_units_and_mask_selects():
    dt = 0.3 * (L / 32) / C
    u, h = plane_wave(32, 2, dt)
    noisy = u + 0.05 * torch.randn_like(u, generator=torch.Generator().manual_seed(1))
    loss = WaveEquationLoss(dt=dt, dx=h, velocity=C)
    assert loss(1000 * noisy).item() == pytest.approx(loss(noisy).item(), rel=1e-9)
    mask = torch.zeros_like(u)
    mask[..., :10, :, :] = 1.0
    corrupted = u.clone()
    corrupted[..., 20:, :, :] += 1.0 * torch.randn_like(corrupted[..., 20:, :, :])
    assert loss(corrupted, mask=mask).item() < 1e-4 < loss(corrupted).item()


def test_reduction_none_gives_per_sample_values():
    dt = 0.3 * (L / 24) / C
    u, h = plane_wave(24, 1, dt)
    both = torch.cat([u, u + 0.1 * torch.randn_like(u)])
    per_sample = WaveEquationLoss(dt=dt, dx=h, velocity=C, reduction="none")(both)
    assert per_sample.shape == (2,) and per_sample[0] < per_sample[1]


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(1, 1, 9, 8, 6, dtype=F64, generator=gen).requires_grad_()
    # O(1) units keep the finite-difference Jacobian well conditioned; normalize=False
    # because the normalising scale is detached by design, which gradcheck would flag
    loss = WaveEquationLoss(dt=0.5, dx=[1.0, 1.5], velocity=1.2, order=4, normalize=False)
    assert torch.autograd.gradcheck(loss, (u,), eps=1e-6, atol=1e-6)
    lap = lambda v: laplacian(v, [5.0, 5.0], 8)  # noqa: E731
    assert torch.autograd.gradcheck(
        lap, (torch.randn(1, 1, 11, 11, 3, dtype=F64, requires_grad=True),)
    )


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="order"):
        WaveEquationLoss(dt=1e-3, dx=1.0, velocity=1.0, order=3)
    with pytest.raises(ConfigError, match="dt"):
        WaveEquationLoss(dt=0.0, dx=1.0, velocity=1.0)
    with pytest.raises(ConfigError, match="dx"):
        WaveEquationLoss(dt=1e-3, dx=[1.0, -2.0], velocity=1.0)


def test_reference_sets_the_normalising_scale():
    dt = 0.3 * (L / 32) / C
    u, h = plane_wave(32, 2, dt)
    noisy = u + 0.05 * torch.randn_like(u, generator=torch.Generator().manual_seed(1))
    loss = WaveEquationLoss(dt=dt, dx=h, velocity=C)
    # shrinking a prediction does not shrink its loss when the scale comes from a reference
    assert loss(0.1 * noisy, reference=noisy).item() == pytest.approx(
        0.01 * loss(noisy).item(), rel=1e-9
    )
    assert loss(0.1 * noisy).item() == pytest.approx(loss(noisy).item(), rel=1e-9)
