"""Source wavelets."""

from __future__ import annotations

import numpy as np


def ricker(t: np.ndarray, freq: np.ndarray | float) -> np.ndarray:
    """Ricker wavelet ``(1 - 2 pi^2 f^2 t^2) exp(-pi^2 f^2 t^2)`` at times ``t`` (s)."""
    arg = (np.pi * freq * t) ** 2
    return (1.0 - 2.0 * arg) * np.exp(-arg)
