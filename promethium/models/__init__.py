"""Networks: the :class:`PromethiumModel` base, the registry and the model families.

Importing this package registers every built-in family with :class:`ModelRegistry`.
"""

from promethium.models.base import PromethiumModel
from promethium.models.dae import DenoisingAutoencoder
from promethium.models.pinn import PhysicsInformedNet
from promethium.models.registry import ModelRegistry, normalize_name
from promethium.models.unet import UNet

__all__ = [
    "DenoisingAutoencoder",
    "ModelRegistry",
    "PhysicsInformedNet",
    "PromethiumModel",
    "UNet",
    "normalize_name",
]
