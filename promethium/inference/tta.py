"""Test-time augmentation: average a network over symmetries of seismic data.

A shot gather mirrored across its trace axis (or a cube across its spatial axes) is as
valid a record as the original, and the acoustic wave equation is linear, so negated
data are too; a network that has learned the task should map each variant to the
correspondingly transformed answer. Averaging the back-transformed predictions cancels
part of the network's error (e.g. on the Marmousi interpolation recipe, see the README).
Time is never reversed: causality makes that no symmetry.
"""

from __future__ import annotations

from itertools import product

import torch
from torch import nn


class TestTimeAugmentation(nn.Module):
    """Mean of ``model`` over mirrored spatial axes and/or negated polarity.

    Shapes: ``(B, C, *S) -> (B, C_out, *S)`` with time the last of ``S``; with
    ``flip_space`` every spatial axis but time is flipped in all combinations (2 variants
    for gathers, 4 for cubes), times 2 with ``polarity``.

    Args:
        model: the network (``spatial_dims`` is passed through for tiled inference).
        flip_space: average over mirrored non-time axes.
        polarity: average ``model(x)`` with ``-model(-x)``.

    """

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, model: nn.Module, flip_space: bool = True, polarity: bool = True) -> None:
        super().__init__()
        self.model = model
        self.spatial_dims = int(model.spatial_dims)
        self.contract = getattr(model, "contract", None)  # the amplitude contract, if any
        space_axes = list(range(2, 2 + self.spatial_dims - 1)) if flip_space else []
        self.variants = [
            ([a for a, f in zip(space_axes, flips, strict=True) if f], sign)
            for flips in product((False, True), repeat=len(space_axes))
            for sign in ((1.0, -1.0) if polarity else (1.0,))
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The average prediction over the variants."""
        total = None
        for axes, sign in self.variants:
            xi = torch.flip(x, axes) if axes else x
            yi = self.model(sign * xi) * sign
            yi = torch.flip(yi, axes) if axes else yi
            total = yi if total is None else total + yi
        assert total is not None  # at least the identity variant
        return total / len(self.variants)


__all__ = ["TestTimeAugmentation"]
