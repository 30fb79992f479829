"""Which components of a pixel's mixture are background, and how far a sample is from them."""

from __future__ import annotations

import scipy.special

__all__ = ["chi2_threshold"]


def chi2_threshold(n_channels: int = 3, quantile: float = 0.999) -> float:
    """Chi-square quantile with ``n_channels`` degrees of freedom.

    A background pixel drawn from a Gaussian component has a squared Mahalanobis distance that
    follows a chi-square law with C degrees of freedom, so this quantile is the threshold whose
    per-pixel false-positive rate is ``1 - quantile`` under the model.

    Parameters
    ----------
    n_channels : int
        Degrees of freedom C (1 for grey, 3 for RGB).
    quantile : float
        Probability in (0, 1).

    Returns
    -------
    float

    Examples
    --------
    >>> round(chi2_threshold(3, 0.999), 2)
    16.27
    """
    if n_channels < 1 or not 0.0 < quantile < 1.0:
        raise ValueError(f"need n_channels >= 1 and 0 < quantile < 1, got {n_channels}, {quantile}")
    return float(2.0 * scipy.special.gammaincinv(n_channels / 2.0, quantile))
