import pytest

from promethium.errors import ConfigError
from promethium.models import ModelRegistry, PromethiumModel, UNet, normalize_name


def test_names_are_normalised_at_both_ends():
    assert normalize_name("U-Net_ 2") == "unet2"
    assert ModelRegistry.get("UNet") is UNet
    assert ModelRegistry.get("u_net") is UNet
    assert "unet" in ModelRegistry.names()


def test_register_build_and_unregister():
    @ModelRegistry.register("Tiny-Test_Net")
    class TinyNet(PromethiumModel):
        def __init__(self, spatial_dims: int = 1, width: int = 2) -> None:
            super().__init__(spatial_dims)
            self.width = width

    try:
        assert "tinytestnet" in ModelRegistry.names()
        net = ModelRegistry.build("tiny_test_net", spatial_dims=2, width=5)
        assert isinstance(net, TinyNet) and net.width == 5 and net.spatial_dims == 2
    finally:
        ModelRegistry.unregister("tinytestnet")
    assert "tinytestnet" not in ModelRegistry.names()


def test_duplicate_name_raises():
    with pytest.raises(ValueError, match="already registered"):

        @ModelRegistry.register("UNET")
        class Other(PromethiumModel):
            pass


def test_unknown_name_lists_known_names():
    with pytest.raises(ConfigError) as err:
        ModelRegistry.build("nosuch")
    message = str(err.value)
    assert "nosuch" in message and "unet" in message


def test_base_model_rejects_bad_dims():
    with pytest.raises(ConfigError, match="spatial_dims"):
        UNet(spatial_dims=4)


def test_a_setting_another_model_takes_names_the_keys_and_the_allowed_ones(tmp_path):
    from promethium.errors import ConfigError
    from promethium.tasks.builders import build_module
    from tests.helpers import ROOT, compose_config

    survey = f"data.path={ROOT / 'tests' / 'data' / 'f3_cropped.sgy'}"
    cfg = compose_config(tmp_path, ["experiment=field_interp", survey], data="segy", model="dae")
    with pytest.raises(ConfigError) as err:  # field_interp sets the U-Net's inputs
        build_module(cfg)
    message = str(err.value)
    assert message.startswith("model.inputs: not a setting of model=dae")
    assert "allowed: spatial_dims, in_channels" in message and "base_channels" in message
