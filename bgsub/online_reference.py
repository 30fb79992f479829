"""The numpy reference of MOG2's per-frame update (:class:`bgsub.online.AdaptiveGaussianMixture`).

The algorithm of OpenCV's ``bgfg_gaussmix2.cpp`` (see :mod:`bgsub.online` for the steps), vectorised
over the pixels of a frame with the same float32 operations in the same order; the compiled kernel
:func:`bgsub.kernels.online.update` must give the same bytes. :class:`MOG2NumpyUpdate` holds the
update as methods over the model's state arrays (``weights_``, ``variances_`` ``(K, N)``, ``means_``
``(K, C, N)``, ``n_modes_ (N,)``) and its settings, which the model class provides.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["NO_MODEL_SCORE", "MOG2NumpyUpdate"]

NO_MODEL_SCORE = np.float32(np.finfo(np.float32).max)
"""Score of a pixel that has no background component to test (no model yet)."""

_FLT_EPSILON = np.float32(np.finfo(np.float32).eps)
_F32 = np.float32

def _squared_norm(d: NDArray[np.float32]) -> NDArray[np.float32]:
    """Sum of squares over the channel axis 0, accumulated channel by channel as MOG2 does."""
    out = d[0] * d[0]
    for c in range(1, d.shape[0]):
        out += d[c] * d[c]
    return out


def _dot(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
    """Dot product over the channel axis 0, accumulated channel by channel."""
    out = a[0] * b[0]
    for c in range(1, a.shape[0]):
        out += a[c] * b[c]
    return out


def _rotate_up(
    arrays: tuple[NDArray, ...], idx: NDArray[np.intp], src: NDArray[np.intp], dst: NDArray[np.intp]
) -> None:
    """Move component ``src`` to position ``dst <= src`` at pixels ``idx``, shifting ``dst..src-1`` down.

    Parameters
    ----------
    arrays : tuple of ndarray of shape (K, N) or (K, C, N)
        Component-first state arrays, modified in place.
    idx : ndarray of shape (n,)
        Pixels to rotate.
    src, dst : ndarray of shape (n,)
        Old and new position of the moving component at each pixel.
    """
    if idx.size == 0:
        return
    k = arrays[0].shape[0]
    pos = np.arange(k)[:, None]
    order = np.where(pos == dst, src, np.where((pos > dst) & (pos <= src), pos - 1, pos))
    for a in arrays:
        sub = a[:, idx] if a.ndim == 2 else a[:, :, idx]
        if a.ndim == 2:
            a[:, idx] = np.take_along_axis(sub, order, axis=0)
        else:
            a[:, :, idx] = np.take_along_axis(sub, order[:, None, :], axis=0)


class MOG2NumpyUpdate:
    """MOG2's per-frame update and shadow test in numpy, mixed into the model class that owns the state.

    The model provides the settings (``n_mixtures``, ``background_ratio``, ``var_threshold``,
    ``var_threshold_gen``, ``var_init``, ``var_min``, ``var_max``, ``complexity_reduction_threshold``,
    ``detect_shadows``, ``shadow_threshold``) and the state views ``weights_``, ``variances_``,
    ``means_`` and ``n_modes_``.
    """

    n_mixtures: int
    background_ratio: float
    var_threshold: float
    var_threshold_gen: float
    var_init: float
    var_min: float
    var_max: float
    complexity_reduction_threshold: float
    detect_shadows: bool
    shadow_threshold: float
    weights_: NDArray[np.float32]
    variances_: NDArray[np.float32]
    means_: NDArray[np.float32]
    n_modes_: NDArray[np.uint8]

    def _update_numpy(
        self, data: NDArray[np.float32], alpha: float
    ) -> tuple[NDArray[np.float32], None, NDArray[np.bool_]]:
        """:meth:`_update` and :meth:`_shadow_test` of ``data (C, N)`` in numpy (the reference);
        returns the scores, None (no mask) and the shadow flags ``(N,)``."""
        scores = self._update(data, alpha)
        foreground = np.flatnonzero(scores > _F32(self.var_threshold))
        shadow = np.zeros(scores.size, dtype=bool)
        if self.detect_shadows and foreground.size:
            shadow[foreground] = self._shadow_test(data, foreground)
        return scores, None, shadow


    def _update(self, data: NDArray[np.float32], alpha: float) -> NDArray[np.float32]:
        """One MOG2 update of every pixel with ``data (C, N)``; return the scores ``(N,)``."""
        k_max = self.n_mixtures
        n = data.shape[1]
        alpha_t = _F32(alpha)
        alpha1 = _F32(1) - alpha_t
        # OpenCV stores fCT as float and forms the product in double before rounding to float.
        prune = _F32(-alpha * float(_F32(self.complexity_reduction_threshold)))
        tb, tg = _F32(self.background_ratio), _F32(self.var_threshold_gen)
        weights = self.weights_

        n_modes = self.n_modes_.astype(np.int16)
        total = np.zeros(n, dtype=np.float32)
        fitted = np.zeros(n, dtype=bool)
        match_pos = np.full(n, -1, dtype=np.intp)
        scores = np.full(n, NO_MODEL_SCORE, dtype=np.float32)

        for k in range(k_max):
            visit = n_modes > k
            n_visit = np.count_nonzero(visit)
            if n_visit == 0:
                break
            wk = weights[k] * alpha1
            wk += prune
            tested = visit & ~fitted
            n_tested = np.count_nonzero(tested)
            if n_tested:
                # Dense arrays while most pixels are tested, gathered subsets once few are.
                sel: slice | NDArray[np.intp] = slice(None) if 2 * n_tested > n else np.flatnonzero(tested)
                matched = self._test_component(k, sel, tested, data, wk, total, scores, alpha_t, tg, tb)
                fitted[matched] = True
                match_pos[matched] = k
            pruned = visit & (wk < -prune)
            wk[pruned] = 0
            n_modes -= pruned
            wk[~visit] = 0
            total += wk
            np.copyto(weights[k], wk, where=visit)

        self._sort_matched(match_pos)
        inv = np.divide(_F32(1), total, out=np.zeros(n, dtype=np.float32), where=np.abs(total) > _FLT_EPSILON)
        in_use = np.arange(k_max)[:, None] < n_modes
        np.multiply(weights, inv, out=weights, where=in_use)
        if alpha_t > 0:
            self._add_components(np.flatnonzero(~fitted), data, n_modes, alpha_t, alpha1)
        self.n_modes_[:] = n_modes
        return scores

    def _test_component(
        self,
        k: int,
        sel: slice | NDArray[np.intp],
        tested: NDArray[np.bool_],
        data: NDArray[np.float32],
        wk: NDArray[np.float32],
        total: NDArray[np.float32],
        scores: NDArray[np.float32],
        alpha_t: np.float32,
        tg: np.float32,
        tb: np.float32,
    ) -> NDArray[np.intp]:
        """Test component ``k`` at pixels ``sel``: score it, update it where it matches.

        ``wk`` (the decayed weights of component k) and ``scores`` are updated in
        place; returns the flat indices of the pixels it matched.
        """
        mean_k = self.means_[k]
        d = mean_k[:, sel] - data[:, sel]
        dist2 = _squared_norm(d)
        var = self.variances_[k][sel]
        is_tested = tested[sel]
        eligible = is_tested & (total[sel] < tb)
        ratio = dist2 / var
        sub_scores = scores[sel]
        np.minimum(sub_scores, ratio, out=sub_scores, where=eligible)
        scores[sel] = sub_scores
        match = is_tested & (dist2 < tg * var)
        if isinstance(sel, slice):
            idx = np.flatnonzero(match)
        else:
            idx = sel[match]
        if idx.size == 0:
            return idx
        d_m = d[:, match]
        dist2_m = dist2[match]
        var_m = var[match]
        w_m = wk[idx] + alpha_t
        wk[idx] = w_m
        rate = alpha_t / w_m
        mean_k[:, idx] -= rate * d_m
        var_new = var_m + rate * (dist2_m - var_m)
        np.clip(var_new, _F32(self.var_min), _F32(self.var_max), out=var_new)
        self.variances_[k][idx] = var_new
        return idx

    def _sort_matched(self, match_pos: NDArray[np.intp]) -> None:
        """Move each matched component up past the components that now weigh no more than it."""
        idx = np.flatnonzero(match_pos > 0)
        if idx.size == 0:
            return
        src = match_pos[idx]
        w = self.weights_[:, idx]
        w_src = np.take_along_axis(w, src[None, :], axis=0)
        above = (w > w_src) & (np.arange(self.n_mixtures)[:, None] < src)
        dst = above.sum(axis=0)
        move = dst < src
        _rotate_up((self.weights_, self.variances_, self.means_), idx[move], src[move], dst[move])

    def _add_components(
        self,
        idx: NDArray[np.intp],
        data: NDArray[np.float32],
        n_modes: NDArray[np.int16],
        alpha_t: np.float32,
        alpha1: np.float32,
    ) -> None:
        """Add a component centred on the sample at unmatched pixels ``idx`` (replacing the weakest)."""
        if idx.size == 0:
            return
        k_max = self.n_mixtures
        nm = n_modes[idx] + (n_modes[idx] < k_max)
        n_modes[idx] = nm
        pos = nm.astype(np.intp) - 1
        cols = np.arange(idx.size)
        w = self.weights_[:, idx]
        older = np.arange(k_max)[:, None] < pos
        np.multiply(w, alpha1, out=w, where=older)
        w[pos, cols] = np.where(nm == 1, _F32(1), alpha_t)
        dst = ((w > alpha_t) & older).sum(axis=0)
        self.weights_[:, idx] = w
        self.variances_[pos, idx] = _F32(self.var_init)
        self.means_[pos, :, idx] = data[:, idx].T
        move = dst < pos
        _rotate_up((self.weights_, self.variances_, self.means_), idx[move], pos[move], dst[move])

    def _shadow_test(self, data: NDArray[np.float32], idx: NDArray[np.intp]) -> NDArray[np.bool_]:
        """MOG2's shadow test (brightness and chromaticity) at pixels ``idx`` against the updated model."""
        x = data[:, idx]
        w = self.weights_[:, idx]
        var = self.variances_[:, idx]
        means = self.means_[:, :, idx]
        nm = self.n_modes_[idx]
        tau, tb, big_tb = _F32(self.shadow_threshold), _F32(self.background_ratio), _F32(self.var_threshold)
        result = np.zeros(idx.size, dtype=bool)
        live = np.ones(idx.size, dtype=bool)
        t_weight = np.zeros(idx.size, dtype=np.float32)
        for k in range(self.n_mixtures):
            live &= nm > k
            if not live.any():
                break
            mu = means[k]
            num = _dot(x, mu)
            den = _squared_norm(mu)
            zero = live & (den == 0)
            live &= ~zero
            cand = live & (num <= den) & (num >= tau * den)
            a = np.divide(num, den, out=np.zeros_like(num), where=cand)
            dist2a = _squared_norm(a * mu - x)
            hit = cand & (dist2a < big_tb * var[k] * a * a)
            result |= hit
            live &= ~hit
            t_weight += w[k]
            live &= ~(t_weight > tb)
        return result
