import pytest
import torch

from promethium.models import ModelRegistry, UNet

SIZES = {1: (37,), 2: (33, 34), 3: (17, 18, 19)}


@pytest.mark.parametrize("name", ModelRegistry.names())
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_every_model_shape_backward_and_gradients(name, dims):
    torch.manual_seed(0)
    net = ModelRegistry.get(name).tiny(dims)
    x = torch.randn(2, net.in_channels, *SIZES[dims])
    y = net(x)
    assert y.shape == (2, net.out_channels, *SIZES[dims])
    y.square().mean().backward()
    for pname, param in net.named_parameters():
        assert param.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {pname} has a non-finite gradient"


@pytest.mark.parametrize("option", ["attention", "residual"])
def test_unet_options_change_parameters_and_output(option):
    x = torch.randn(2, 1, 33, 34)
    outputs, counts = [], []
    for flag in (False, True):
        torch.manual_seed(0)
        net = UNet.tiny(2, **{option: flag}).eval()
        counts.append(net.num_parameters)
        outputs.append(net(x))
    assert counts[0] != counts[1]
    assert not torch.allclose(outputs[0], outputs[1])


def test_unet_residual_output_adds_input():
    net = UNet.tiny(1, residual_output=True).eval()
    torch.nn.init.zeros_(net.head.weight)
    torch.nn.init.zeros_(net.head.bias)
    x = torch.randn(1, 1, 29)
    assert torch.allclose(net(x), x)


def test_unet_rejects_wrong_input_rank():
    net = UNet.tiny(2)
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(1, 1, 32))


def test_example_input_matches_model():
    net = UNet.tiny(3)
    assert net.example_input(batch=2, size=8).shape == (2, 1, 8, 8, 8)
