"""Classical baselines that a network has to beat (NumPy/SciPy, vectorised).

Denoising: :func:`bandpass`, :func:`fx_decon`, :func:`fk_dip_filter`, :func:`fk_fx_decon`.
Interpolation: :func:`linear_interpolation`, :func:`pocs`.
"""

from promethium.baselines.denoise import bandpass, fk_dip_filter, fk_fx_decon, fx_decon
from promethium.baselines.interpolate import linear_interpolation, pocs

__all__ = [
    "bandpass",
    "fk_dip_filter",
    "fk_fx_decon",
    "fx_decon",
    "linear_interpolation",
    "pocs",
]
