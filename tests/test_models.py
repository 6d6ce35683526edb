import pytest
import torch

from promethium.errors import ConfigError
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


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_unet_stem_stride_halves_every_level_keeps_shape_and_cuts_flops(dims):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 1, *SIZES[dims])
    flops = {}
    for stride in (1, 2):
        torch.manual_seed(0)
        net = UNet.tiny(dims, stem_stride=stride)
        with FlopCounterMode(display=False) as counter:
            y = net(x)
        flops[stride] = counter.get_total_flops()
        assert y.shape == x.shape
        y.square().mean().backward()
        assert all(p.grad is not None for p in net.parameters())
    assert flops[2] < flops[1] / 1.5  # every level at half the resolution
    with pytest.raises(ConfigError, match="^stem_stride: got 4"):
        UNet.tiny(2, stem_stride=4)


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


def test_dae_has_a_real_bottleneck():
    from promethium.models import DenoisingAutoencoder

    net = DenoisingAutoencoder(spatial_dims=2, depth=3, base_channels=4, latent_channels=2).eval()
    x = torch.randn(1, 1, 33, 34)
    code = net.encode(x)
    assert code.shape == (1, 2, 5, 5)  # padded to 40 x 40, then / 8
    assert net.compression == 32.0
    # the output is a function of the code alone: no skip connection bypasses it
    assert torch.equal(net(x), net.decoder(code)[..., :33, :34])


def test_pinn_names_its_axes_and_wraps_a_registry_backbone():
    from promethium.models import PhysicsInformedNet

    net = PhysicsInformedNet.tiny(3, axes=["z", "x", "t"])
    assert net.space_axes == [2, 3] and net.time_axis == 4
    assert type(net.backbone).__name__ == "UNet"
    with pytest.raises(ConfigError, match="axes"):
        PhysicsInformedNet.tiny(3, axes=["t", "z", "x"])
    with pytest.raises(ConfigError, match="physics_weight"):
        PhysicsInformedNet.tiny(1, physics_weight=0.5)


@pytest.mark.parametrize("name", ModelRegistry.names())
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_every_model_overfits_one_batch(name, dims):
    """Loss falls by 10x within a few hundred Adam steps on one fixed batch."""
    torch.manual_seed(0)
    size = {1: (64,), 2: (24, 32), 3: (12, 12, 16)}[dims]
    net = ModelRegistry.get(name).tiny(dims, **({"base_channels": 8} if name != "pinn" else {}))
    t = torch.linspace(0, 1, size[-1])
    x = torch.sin(2 * torch.pi * 4 * t).expand(2, 1, *size).clone()
    x += 0.3 * torch.randn_like(x)
    target = torch.sin(2 * torch.pi * 4 * t).expand(2, 1, *size)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), target)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    net.eval()
    final = torch.nn.functional.mse_loss(net(x), target).item()
    assert final < first / 10, (first, final)
