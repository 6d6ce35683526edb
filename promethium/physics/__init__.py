"""Finite-difference operators for the acoustic wave equation (shared by loss and modelling)."""

from promethium.physics.stencils import (
    SECOND_DERIVATIVE,
    crop_interior,
    laplacian,
    second_derivative,
    second_time_derivative,
)

__all__ = [
    "SECOND_DERIVATIVE",
    "crop_interior",
    "laplacian",
    "second_derivative",
    "second_time_derivative",
]
