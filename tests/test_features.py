"""Input features: the trace mask and the linear fill against the NumPy baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from promethium.baselines import linear_interpolation
from promethium.errors import ConfigError
from promethium.models import UNet
from promethium.models.features import input_features, linear_fill, trace_mask


def _decimated(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    live = rng.random(shape[:-1]) < 0.5
    live[..., 0] = True  # at least one recorded trace per gather
    return torch.from_numpy(x * live[..., None]), live


def test_trace_mask_marks_traces_with_a_non_zero_sample() -> None:
    x, live = _decimated((3, 1, 11, 7))
    assert torch.equal(trace_mask(x)[..., 0].bool(), torch.from_numpy(live))


def test_linear_fill_equals_the_numpy_baseline_on_gathers() -> None:
    x, live = _decimated((4, 1, 17, 9))
    expected = linear_interpolation(x.numpy(), live)
    np.testing.assert_allclose(linear_fill(x).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_linear_fill_of_a_cube_is_exact_on_a_planar_wavefield() -> None:
    # a field linear in both spatial axes is reproduced exactly by either axis' fill
    i, j, t = torch.meshgrid(torch.arange(9.0), torch.arange(8.0), torch.arange(5.0), indexing="ij")
    field = (3.0 + 0.5 * i - 0.25 * j) * (1 + t)
    keep = torch.ones(9, 8, 1)
    keep[3:5, 2] = 0
    keep[6, 5] = 0
    x = (field * keep)[None, None]
    np.testing.assert_allclose(linear_fill(x)[0, 0].numpy(), field.numpy(), rtol=1e-5)


def test_input_features_stack_data_mask_and_fill() -> None:
    x, live = _decimated((2, 1, 13, 6))
    features = input_features(x, ["data", "mask", "linear"])
    assert features.shape == (2, 3, 13, 6)
    assert torch.equal(features[:, :1], x)
    assert torch.equal(features[:, 1, :, 0].bool(), torch.from_numpy(live[:, 0]))
    assert torch.equal(features[:, 2:], linear_fill(x))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_unet_with_features_and_a_linear_residual_keeps_odd_shapes(spatial_dims: int) -> None:
    torch.manual_seed(0)
    net = UNet.tiny(spatial_dims, inputs=["data", "mask", "linear"], residual_output="linear")
    shape = (2, 1, *([9] * (spatial_dims - 1)), 13)
    x, _ = _decimated(shape)
    assert net(x).shape == shape
    # the network corrects the fill: with a zeroed head it returns the fill itself
    torch.nn.init.zeros_(net.head.weight)
    torch.nn.init.zeros_(net.head.bias)
    assert torch.allclose(net(x), linear_fill(x))


def test_bad_inputs_name_the_key() -> None:
    with pytest.raises(ConfigError, match="inputs"):
        UNet.tiny(2, inputs=["mask"])
    with pytest.raises(ConfigError, match="inputs"):
        UNet.tiny(2, inputs=["data", "fk"])
    with pytest.raises(ConfigError, match="residual_output"):
        UNet.tiny(2, residual_output="pocs")
    with pytest.raises(ConfigError, match="inputs"):
        UNet.tiny(1, inputs=["data", "mask"])
