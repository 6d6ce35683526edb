"""Classical baselines that a network has to beat (NumPy/SciPy, vectorised).

Denoising: :func:`bandpass`, :func:`fx_decon`, :func:`fk_dip_filter`.
Interpolation: :func:`linear_interpolation`, :func:`pocs`.
"""

from promethium.baselines.denoise import bandpass, fk_dip_filter, fx_decon
from promethium.baselines.interpolate import linear_interpolation, pocs

__all__ = ["bandpass", "fk_dip_filter", "fx_decon", "linear_interpolation", "pocs"]
