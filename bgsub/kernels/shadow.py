"""MOG2's shadow test of one pixel against its background components, compiled.

The one home of the test that both scoring paths run: the reference's kernel
(:func:`bgsub.kernels.spatial.score_frame`) and the default path's
(:func:`bgsub.kernels.default_path.score_frames`). A pixel is a shadow of background component
``k`` when its colour is a darker copy of the mean, ``x ~ a mu_k`` with the brightness ratio
``a = <x, mu_k> / <mu_k, mu_k>`` in ``[shadow_tau, shadow_max)``, and the colour left over,
``|x - a mu_k|^2``, is below ``shadow_var_threshold`` times the component's mean variance (times ``a^2``
with ``scale_distortion``, as MOG2 scales it).
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["is_shadow"]


@numba.njit(cache=True)
def is_shadow(
    sample: NDArray[np.float32], means: NDArray[np.float32], mean_var: NDArray[np.float32],
    is_bg: NDArray[np.bool_], y: int, x: int, shadow_tau: float, shadow_max: float,
    shadow_var_threshold: float, scale_distortion: bool,
) -> bool:
    """Whether ``sample`` ``(C,)`` (pixel ``y, x``'s colour, on the means' scale) is a shadow of any of the
    pixel's background components (``is_bg[y, x]``) of ``means`` ``(H, W, K, C)``; the first that passes
    decides. Products of float32 summed in float64."""
    n_comp, n_ch = means.shape[2], means.shape[3]
    for k in range(n_comp):
        if not is_bg[y, x, k]:
            continue
        num = 0.0
        den = 0.0
        for c in range(n_ch):
            num += sample[c] * means[y, x, k, c]
            den += means[y, x, k, c] * means[y, x, k, c]
        if den <= 0.0:
            continue
        a = num / den
        if a < shadow_tau or a >= shadow_max:
            continue
        dist = 0.0
        for c in range(n_ch):
            e = sample[c] - a * means[y, x, k, c]
            dist += e * e
        bound = shadow_var_threshold * mean_var[y, x, k]
        if scale_distortion:
            bound *= a * a
        if dist < bound:
            return True
    return False
