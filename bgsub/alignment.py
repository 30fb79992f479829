"""Global motion compensation for camera shake: sub-pixel phase correlation and frame alignment.

A shaking camera moves the whole image by a few pixels from frame to frame, so every pixel
sees its neighbours' colours and a per-pixel model flags every edge. :func:`estimate_shift`
finds the translation of a frame against a reference (the background image) by phase
correlation, and :func:`align_frames` moves each frame back onto the reference before it is
scored.

Shift convention: ``estimate_shift(frame, reference) == (dy, dx)`` means
``frame[y, x] ~ reference[y - dy, x - dx]`` (the frame is the reference moved by ``(dy, dx)``,
as ``scipy.ndimage.shift(reference, (dy, dx))`` moves it).

Method
------
1. Both images are reduced to grey (BT.601 luma for RGB), their means removed and a 2-D Hann
   window applied, so the image borders (which do not wrap around) add no spurious peak.
2. The normalised cross-power spectrum ``F G* / |F G*|`` keeps only the phase: a pure
   translation becomes a single sharp peak at the shift, whatever the contrast, and a moving
   object (a part of the frame that is not a translated copy of the reference) spreads its
   energy over the surface instead of moving the background's peak.
3. The integer peak is searched within ``max_shift`` of the origin only.
4. The integer peak's sub-pixel position is first taken from a parabola through it and its
   neighbours. A parabola is a biased model of the phase-correlation peak (a Dirichlet
   kernel, not a parabola), off by up to about 0.2 px, so refinement passes follow.
5. Each refinement pass moves the frame back by the estimate and measures the residual
   shift: the correlation surface is evaluated by a direct inverse DFT off the integer grid
   (as the upsampled DFT of Guizar-Sicairos, Thurman & Fienup, Opt. Lett. 2008), on lines
   ``upsample`` times finer than the pixels over the +-1 px around its integer peak, and a
   parabola is fitted through each line's maximum (residual below ``0.5 / upsample`` px).
   Measuring a residual near 0 also removes the bias of the Hann window, which pulls a large
   shift towards 0. Moving objects are replaced by the reference in these passes (see
   :func:`estimate_shift`).
6. :func:`align_frames` moves a frame back only when that brings most of the image closer to
   the reference (:func:`moves_most_blocks_closer`): a shake moves every part of the image,
   while swaying leaves or flickering patches also move the peak, over part of it only. When
   they cover more than half of it (a large crown), ``max_farther`` also asks that the still
   part of the image is not moved away: at most that many blocks may come clearly farther.

Frames are moved with bilinear interpolation (see :func:`shift_frame` for why). At
240 x 320 :func:`align_frames` takes about 20 ms a frame on this 2-core machine (one FFT
pair per pass, 2-4 passes, and the block vote).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bgsub.kernels import num_threads

__all__ = ["estimate_shift", "align_frames", "shift_frame", "camera_motion", "shake_distances",
           "moves_most_blocks_closer"]

logger = logging.getLogger(__name__)

#: Luma weights (ITU-R BT.601) for RGB; other channel counts use the plain mean.
_LUMA_RGB = np.array([0.299, 0.587, 0.114])
#: Below this standard deviation (grey levels) an image has no texture to align.
_MIN_STD = 1e-3
#: Frequencies whose cross-power is below this fraction of the largest are damped, not whitened.
_WHITEN_FLOOR = 0.01
#: A refinement pass replaces by the reference the pixels whose residual grey difference after
#: alignment exceeds this many robust standard deviations (and at least _OUTLIER_MIN grey levels).
_OUTLIER_SIGMAS = 4.0
_OUTLIER_MIN = 10.0
#: Refinement stops when a pass moves the estimate by less than this, pixels.
_REFINE_TOL = 0.01
#: ``only_if_closer``: the grid of blocks that vote, and the smoothing (px) before they compare.
_CLOSER_GRID = 4
_CLOSER_SIGMA = 1.0
#: ``max_farther``: a block comes clearly farther when its median absolute difference rises above this
#: factor of what it was plus this many grey levels (sensor noise and interpolation move it a little either way).
_FARTHER_FACTOR = 1.1
_FARTHER_MIN = 0.5


def _grey(image: NDArray) -> NDArray[np.float64]:
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] == 3:
        return image @ _LUMA_RGB
    if image.ndim == 3:
        return image.mean(axis=-1)
    raise ValueError(f"expected an image of shape (H, W) or (H, W, C), got shape {image.shape}")


def _bilinear_shift(image: NDArray, dy: float, dx: float) -> NDArray[np.float64]:
    """``out[y, x] = image[y - dy, x - dx]`` by bilinear interpolation, the image's edges extended.

    The values of ``scipy.ndimage.shift(image, (dy, dx, 0...), order=1, mode="nearest", prefilter=False)``
    (to 1e-11 of a grey level), computed as four weighted slices of the edge-padded image: a shift is
    the same for every pixel, so its two interpolation weights per axis are too. 3-25x faster than
    ``ndimage.shift``, which interpolates the channel axis as well.
    """
    height, width = image.shape[:2]
    iy, ix = math.floor(-dy), math.floor(-dx)  # source = destination + (iy + fy, ix + fx)
    fy, fx = -dy - iy, -dx - ix
    my, mx = abs(iy) + 1, abs(ix) + 1
    padded = np.pad(np.asarray(image, dtype=np.float64), ((my, my), (mx, mx)) + ((0, 0),) * (image.ndim - 2),
                    mode="edge")
    y0, x0 = my + iy, mx + ix
    rows = padded[y0: y0 + height] * (1.0 - fy) + padded[y0 + 1: y0 + 1 + height] * fy
    return rows[:, x0: x0 + width] * (1.0 - fx) + rows[:, x0 + 1: x0 + 1 + width] * fx


def _hann2d(height: int, width: int) -> NDArray[np.float64]:
    return np.outer(np.hanning(height), np.hanning(width)) if height > 2 and width > 2 else np.ones((height, width))


def _windowed_spectrum(grey: NDArray[np.float64], window: NDArray[np.float64]) -> NDArray[np.complex128]:
    return np.fft.fft2((grey - grey.mean()) * window)


def _correlation_line(cross: NDArray[np.complex128], axis: int, other: float,
                      positions: NDArray[np.float64]) -> NDArray[np.float64]:
    """The correlation surface (inverse DFT of ``cross``) along one axis, off the integer grid.

    ``axis=0`` evaluates ``c(p, other)`` for ``p`` in ``positions``; ``axis=1`` evaluates
    ``c(other, p)``. Elementwise sums only (no BLAS call, which oversubscribed cores slow
    down by two orders of magnitude), ``O(H W + len(positions) max(H, W))``.
    """
    height, width = cross.shape
    freq_y = np.fft.fftfreq(height)  # cycles per pixel
    freq_x = np.fft.fftfreq(width)
    if axis == 0:
        profile = (cross * np.exp(2j * np.pi * freq_x * other)[None, :]).sum(axis=1)  # (H,)
        freqs = freq_y
    else:
        profile = (cross * np.exp(2j * np.pi * freq_y * other)[:, None]).sum(axis=0)  # (W,)
        freqs = freq_x
    return (np.exp(2j * np.pi * positions[:, None] * freqs[None, :]) * profile[None, :]).sum(axis=1).real


def _refine_peak(cross: NDArray[np.complex128], peak: tuple[float, float], upsample: int) -> tuple[float, float]:
    """Sub-pixel maximum of the correlation surface within +-1 px of ``peak``.

    Alternates 1-D searches along y and x (twice each) on a grid ``1 / upsample`` px fine,
    with a parabola through each grid maximum and its neighbours: the peak of a translation is
    close to separable, so two rounds reach the 2-D maximum (``0.5 / upsample`` px or better).
    """
    steps = np.arange(-upsample, upsample + 1) / upsample
    y, x = peak
    for _ in range(2):
        for axis in (0, 1):
            centre = y if axis == 0 else x
            positions = np.round(centre * upsample) / upsample + steps
            line = _correlation_line(cross, axis, x if axis == 0 else y, positions)
            i = int(np.argmax(line))
            sub = _parabola_vertex(line[i - 1], line[i], line[i + 1]) if 0 < i < len(line) - 1 else 0.0
            best = positions[i] + sub / upsample
            best = float(np.clip(best, peak[axis] - 1.0, peak[axis] + 1.0))
            if axis == 0:
                y = best
            else:
                x = best
    return y, x


def _parabola_vertex(left: float, centre: float, right: float) -> float:
    """Offset in ``(-0.5, 0.5)`` of the vertex of the parabola through three equally spaced values."""
    denom = left - 2.0 * centre + right
    if denom >= 0.0:  # not a maximum (flat or convex): keep the centre
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


@dataclass(frozen=True)
class _Reference:
    """What every frame's estimate needs of the reference: computed once per reference."""

    grey: NDArray[np.float64]
    window: NDArray[np.float64]
    conj_spectrum: NDArray[np.complex128]
    textured: bool


def _prepare_reference(reference: NDArray) -> _Reference:
    grey = _grey(reference)
    window = _hann2d(*grey.shape)
    return _Reference(grey, window, np.conj(_windowed_spectrum(grey, window)), bool(grey.std() >= _MIN_STD))


def _phase_correlation(grey_f: NDArray[np.float64], ref: _Reference,
                       search: float | None, upsample: int, residual: bool) -> tuple[float, float]:
    """One pass of phase correlation on grey images, peak searched within ``search`` px (see the module docstring).

    The first pass (``residual=False``) refines the integer peak with a parabola (about
    0.2 px); a residual pass with the upsampled DFT over the peak's +-1 px.
    """
    height, width = grey_f.shape
    cross = _windowed_spectrum(grey_f, ref.window) * ref.conj_spectrum
    magnitude = np.abs(cross)
    if magnitude.max() == 0.0:
        return 0.0, 0.0
    # whiten, but not the frequencies with (almost) no energy: their phase is noise
    cross = cross / (magnitude + _WHITEN_FLOOR * magnitude.max())
    if height % 2 == 0:  # the Nyquist row / column has no conjugate partner off the integer grid
        cross[height // 2, :] = 0.0
    if width % 2 == 0:
        cross[:, width // 2] = 0.0
    surface = np.fft.ifft2(cross).real
    # integer peak within the search window (shifts wrap: index i means i or i - H)
    lag_y = np.fft.fftfreq(height, 1.0 / height)
    lag_x = np.fft.fftfreq(width, 1.0 / width)
    limit = np.inf if search is None else search
    allowed = (np.abs(lag_y)[:, None] <= limit) & (np.abs(lag_x)[None, :] <= limit)
    iy, ix = np.unravel_index(int(np.argmax(np.where(allowed, surface, -np.inf))), surface.shape)
    peak = (float(lag_y[iy]), float(lag_x[ix]))
    if upsample == 1 or not residual:
        # first pass over a wide window: integer peak and a parabola through its neighbours (about 0.2 px)
        return (peak[0] + _parabola_vertex(surface[iy - 1, ix], surface[iy, ix], surface[(iy + 1) % height, ix]),
                peak[1] + _parabola_vertex(surface[iy, ix - 1], surface[iy, ix], surface[iy, (ix + 1) % width]))
    return _refine_peak(cross, peak, upsample)


def estimate_shift(
    frame: NDArray, reference: NDArray, *, max_shift: float | None = None, upsample: int = 20, refine: int = 5,
) -> tuple[float, float]:
    """Translation of ``frame`` against ``reference`` by sub-pixel phase correlation.

    Parameters
    ----------
    frame, reference : ndarray of shape (H, W) or (H, W, C)
        Same shape; any real dtype (0-255 scale for uint8).
    max_shift : float or None
        Largest shift searched along each axis, pixels (None = up to half the image).
    upsample : int
        Sub-pixel grid of the refinement: the correlation is evaluated every ``1 / upsample`` px.
    refine : int
        Most re-estimation passes: the frame is moved back by the estimate (bilinear) and the
        residual shift, searched within 1 px, is added, until a pass moves it by less than
        0.01 px. The Hann window biases a shift towards 0 (by up to 0.2 px at 2 px on a
        48 x 48 image); at a residual near 0 the bias vanishes, so one pass removes it. In
        these passes the pixels that still differ from the reference by more than 4 robust
        standard deviations (moving objects), dilated by 2 px, are replaced by the reference,
        so an object covering part of the frame does not pull the background's shift. That
        replacement pulls each residual towards 0 in proportion to the object's area, so with
        objects the passes converge geometrically (2-4 passes to 0.05 px at 15 % coverage).

    Returns
    -------
    dy, dx : float
        ``frame[y, x] ~ reference[y - dy, x - dx]``. ``(0.0, 0.0)`` when either image has no
        texture (constant), so the caller leaves such a frame unmoved.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = ndimage.gaussian_filter(rng.uniform(0, 255, (64, 64)), 2)
    >>> moved = ndimage.shift(ref, (1.5, -2.25), mode="nearest")
    >>> dy, dx = estimate_shift(moved, ref)
    >>> abs(dy - 1.5) < 0.05 and abs(dx + 2.25) < 0.05
    True
    """
    if upsample < 1 or refine < 0:
        raise ValueError(f"need upsample >= 1 and refine >= 0, got {upsample} and {refine}")
    return _estimate(_grey(frame), _prepare_reference(reference), max_shift, upsample, refine)


def _estimate(grey_f: NDArray[np.float64], ref: _Reference, max_shift: float | None, upsample: int,
              refine: int) -> tuple[float, float]:
    if grey_f.shape != ref.grey.shape:
        raise ValueError(f"frame of shape {grey_f.shape} and reference of shape {ref.grey.shape} differ")
    if not ref.textured or grey_f.std() < _MIN_STD:
        return 0.0, 0.0
    dy, dx = _phase_correlation(grey_f, ref, max_shift, upsample, residual=False)
    for _ in range(refine):
        back = _bilinear_shift(grey_f, -dy, -dx)
        # pixels that still differ a lot from the reference belong to moving objects: show the reference there
        residual = np.abs(back - ref.grey)
        outlier = residual > max(_OUTLIER_MIN, _OUTLIER_SIGMAS * 1.4826 * float(np.median(residual)))
        outlier = ndimage.binary_dilation(outlier, iterations=2)
        back = np.where(outlier, ref.grey, back)
        ry, rx = _phase_correlation(back, ref, 1.0, upsample, residual=True)
        dy, dx = dy + ry, dx + rx
        if max(abs(ry), abs(rx)) < _REFINE_TOL:
            break
    if max_shift is not None:
        dy, dx = np.clip(dy, -max_shift, max_shift), np.clip(dx, -max_shift, max_shift)
    return float(dy), float(dx)


def shift_frame(frame: NDArray, shift: tuple[float, float], *, fill: NDArray | None = None) -> NDArray:
    """Move ``frame`` by ``shift = (dy, dx)`` pixels with bilinear interpolation.

    ``out[y, x] = frame[y - dy, x - dx]``. Bilinear interpolation is local (4 pixels), so it
    neither wraps the opposite border in nor rings around edges and saturated pixels as a
    Fourier shift does, and its values stay within their neighbours' range, so a uint8 frame
    comes back exactly representable after rounding. Its cost: at a half-pixel shift it
    averages two pixels, which halves the sensor noise variance and softens edges slightly.

    Parameters
    ----------
    frame : ndarray of shape (H, W) or (H, W, C)
    shift : (float, float)
        ``(dy, dx)`` in pixels.
    fill : ndarray of the frame's shape, or None
        Values for the pixels whose source falls outside the frame (the reference image, so
        they score as background); None = the nearest edge pixel of the frame.

    Returns
    -------
    moved : ndarray of the frame's shape and dtype
        Integer dtypes are rounded and clipped to their range.

    Examples
    --------
    >>> shift_frame(np.arange(5.0)[None, :], (0, 1))
    array([[0., 0., 1., 2., 3.]])
    """
    frame = np.asarray(frame)
    dy, dx = float(shift[0]), float(shift[1])
    moved = _bilinear_shift(frame, dy, dx).astype(np.float32)
    if fill is not None:
        height, width = frame.shape[:2]
        src_y = np.arange(height) - dy
        src_x = np.arange(width) - dx
        outside = ((src_y < -1e-6) | (src_y > height - 1 + 1e-6))[:, None] | \
                  ((src_x < -1e-6) | (src_x > width - 1 + 1e-6))[None, :]
        moved[outside] = np.asarray(fill, dtype=np.float32)[outside]
    if np.issubdtype(frame.dtype, np.integer):
        info = np.iinfo(frame.dtype)
        return np.clip(np.rint(moved), info.min, info.max).astype(frame.dtype)
    return moved.astype(frame.dtype, copy=False)


def shake_distances(shifts: NDArray) -> NDArray:
    """Each frame's distance from the camera's usual position: the larger per-axis component of its shift
    ``(dy, dx)`` minus the median shift (the Chebyshev distance, which a square neighbourhood of that radius
    covers), ``(T,)`` in the shifts' dtype.

    Examples
    --------
    >>> shake_distances(np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 2.5], [-0.5, 1.0]]))
    array([0. , 0. , 1.5, 1.5])
    """
    shifts = np.asarray(shifts)
    return np.abs(shifts - np.median(shifts, axis=0)).max(axis=1)


_T = TypeVar("_T")


def _per_frame(work: Callable[[int], _T], n_frames: int) -> list[_T]:
    """``[work(t) for t in range(n_frames)]``, over :func:`~bgsub.kernels.num_threads` threads.

    Each frame's estimate is independent of the others' and numpy's FFT, median and SciPy's filters release the
    GIL, so the frames run side by side and every result is the serial one, bit for bit.
    """
    n_workers = min(num_threads(), n_frames)
    if n_workers <= 1:
        return [work(t) for t in range(n_frames)]
    with ThreadPoolExecutor(n_workers) as pool:
        return list(pool.map(work, range(n_frames)))


def camera_motion(frames: NDArray, *, quantile: float = 0.95, max_shift: float = 8.0) -> float:
    """How far a camera shakes: a high quantile of the frames' shifts from their usual position.

    Each frame's shift against the frames' per-pixel median (:func:`estimate_shift`) is taken relative to
    the median shift (:func:`shake_distances`).

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C) or (T, H, W)
    quantile : float
        Quantile of the frames' distances returned.
    max_shift : float
        Largest shift searched, pixels per axis.

    Returns
    -------
    float
        Pixels; 0.0 for no frames.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> scene = ndimage.gaussian_filter(rng.uniform(0, 255, (56, 56)), 2)
    >>> offsets = [(0, 0), (0, 0), (0, 0), (1, 0), (0, -2)]
    >>> frames = np.stack([ndimage.shift(scene, s, mode="nearest") for s in offsets])
    >>> round(camera_motion(frames, quantile=1.0), 1)
    2.0
    """
    frames = np.asarray(frames)
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    if len(frames) == 0:
        return 0.0
    ref = _prepare_reference(np.median(frames, axis=0))
    shifts = np.array(_per_frame(lambda t: _estimate(_grey(frames[t]), ref, max_shift, 20, 5), len(frames)))
    return float(np.quantile(shake_distances(shifts), quantile))


def moves_most_blocks_closer(frame: NDArray, reference: NDArray, shift: tuple[float, float], *,
                             max_shift: float = 8.0, max_farther: int | None = None) -> bool:
    """Whether moving ``frame`` back by ``shift`` brings most of the image closer to ``reference``.

    Both images, and the moved frame, are reduced to grey and smoothed (Gaussian, sigma 1 px) so
    that the smoothing bilinear interpolation adds to a moved frame (it halves the sensor
    noise at a half-pixel shift) does not count as coming closer. The pixels at least
    ``max_shift`` + 1 px from the border are cut into a 4 x 4 grid of blocks; a block comes
    closer when its median absolute difference to the reference falls. True when more than half
    of the blocks come closer: a camera's shake moves every part of the image, a local motion
    (swaying leaves, flickering patches, a large mover) only the blocks it covers.

    A local motion over more than half of the image (a large crown in the wind) wins that vote, and
    moving the frame then moves its still part away from the reference. ``max_farther`` guards
    against it: a block comes clearly farther when its median absolute difference rises above 1.1
    times what it was plus 0.5 grey levels, and the frame is moved only if at most ``max_farther``
    blocks do.

    Parameters
    ----------
    frame, reference : ndarray of shape (H, W) or (H, W, C)
    shift : (float, float)
        ``(dy, dx)`` of :func:`estimate_shift`: ``frame[y, x] ~ reference[y - dy, x - dx]``.
    max_shift : float
        Largest shift searched: the border this wide (plus 1 px) is left out.
    max_farther : int or None
        Most blocks (of 16) that may come clearly farther; None = no such bound.

    Returns
    -------
    bool
        Also True for an image too small to cut into blocks away from its border.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = ndimage.gaussian_filter(rng.uniform(0, 255, (64, 64)), 2)
    >>> moved = ndimage.shift(ref, (1.5, -2.0), mode="nearest")
    >>> moves_most_blocks_closer(moved, ref, (1.5, -2.0)), moves_most_blocks_closer(ref, ref, (1.5, -2.0))
    (True, False)
    >>> crown = ref.copy()
    >>> crown[:40] = moved[:40]  # the top 40 rows of 64 moved, the rest still
    >>> [moves_most_blocks_closer(crown, ref, (1.5, -2.0), max_farther=bound) for bound in (None, 2)]
    [True, False]
    """
    return _moves_most_blocks_closer(_grey(frame), _smooth(_grey(reference)), shift, max_shift, max_farther)


def _smooth(grey: NDArray[np.float64]) -> NDArray[np.float64]:
    return ndimage.gaussian_filter(grey, _CLOSER_SIGMA)


def _moves_most_blocks_closer(grey: NDArray[np.float64], ref_smooth: NDArray[np.float64], shift: tuple[float, float],
                              max_shift: float, max_farther: int | None = None) -> bool:
    """:func:`moves_most_blocks_closer` on a grey frame and the reference's smoothed grey (:func:`_smooth`)."""
    margin = int(np.ceil(max_shift)) + 1
    height, width = grey.shape[0] - 2 * margin, grey.shape[1] - 2 * margin
    if min(height, width) < 2 * _CLOSER_GRID:
        return True
    moved = _bilinear_shift(grey, -shift[0], -shift[1])
    inner = (slice(margin, margin + height), slice(margin, margin + width))
    ref_s = ref_smooth[inner]
    before, after = np.abs(_smooth(grey)[inner] - ref_s), np.abs(_smooth(moved)[inner] - ref_s)
    rows = np.linspace(0, height, _CLOSER_GRID + 1).astype(int)
    cols = np.linspace(0, width, _CLOSER_GRID + 1).astype(int)
    medians = np.array([(np.median(before[r0:r1, c0:c1]), np.median(after[r0:r1, c0:c1]))
                        for r0, r1 in zip(rows[:-1], rows[1:]) for c0, c1 in zip(cols[:-1], cols[1:])])
    was, now = medians[:, 0], medians[:, 1]
    if 2 * np.count_nonzero(now < was) <= len(medians):
        return False
    return max_farther is None or bool(np.count_nonzero(now > _FARTHER_FACTOR * was + _FARTHER_MIN) <= max_farther)


def align_frames(
    frames: NDArray, reference: NDArray, *, max_shift: float = 8.0, upsample: int = 20, refine: int = 5,
    fill: str = "reference", only_if_closer: bool = True, max_farther: int | None = None,
) -> tuple[NDArray, NDArray[np.float32]]:
    """Move every frame back onto ``reference`` (camera-shake compensation).

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C) or (T, H, W)
    reference : ndarray of shape (H, W, C) or (H, W)
        Usually the model's background image.
    max_shift : float
        Largest shake searched, pixels per axis.
    upsample, refine : int
        Sub-pixel resolution and most re-estimation passes of :func:`estimate_shift`.
    fill : {"reference", "edge"}
        What the uncovered border shows: the reference's pixels (they then score as
        background) or the frame's nearest edge pixels.
    only_if_closer : bool
        Move a frame only when that brings most of the image closer to the reference (see
        :func:`moves_most_blocks_closer`). A camera's shake moves every part of the image, so a
        shaken frame comes back closer everywhere; when something else moved the correlation's
        peak (swaying leaves over half the frame, flickering patches, a large mover) a still
        camera's frame is left as it is.
    max_farther : int or None
        With ``only_if_closer``: a frame is moved only if at most this many of the 16 blocks come
        clearly farther (see :func:`moves_most_blocks_closer`); None = no such bound.

    Returns
    -------
    aligned : ndarray of the frames' shape and dtype
    shifts : ndarray of shape (T, 2), float32
        Each frame's ``(dy, dx)`` (see :func:`estimate_shift`); the frame was moved by its
        negative. ``(0, 0)`` for a frame left as it is.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> ref = ndimage.gaussian_filter(rng.uniform(0, 255, (48, 48)), 2)
    >>> frames = np.stack([ndimage.shift(ref, s, mode="nearest") for s in [(0, 0), (2, -1)]])
    >>> aligned, shifts = align_frames(frames, ref)
    >>> np.abs(shifts - [[0, 0], [2, -1]]).max() < 0.05
    np.True_
    """
    frames = np.asarray(frames)
    reference = np.asarray(reference)
    if frames.shape[1:] != reference.shape:
        raise ValueError(f"frames of shape {frames.shape} do not match a reference of shape {reference.shape}")
    if fill not in ("reference", "edge"):
        raise ValueError(f"fill must be 'reference' or 'edge', got {fill!r}")
    aligned = np.empty_like(frames)
    shifts = np.zeros((len(frames), 2), np.float32)
    if upsample < 1 or refine < 0:
        raise ValueError(f"need upsample >= 1 and refine >= 0, got {upsample} and {refine}")
    fill_image = reference if fill == "reference" else None
    ref = _prepare_reference(reference)
    ref_smooth = _smooth(ref.grey) if only_if_closer else None  # once: every frame's vote compares with it

    def align(t: int) -> None:
        frame = frames[t]
        grey = _grey(frame)
        dy, dx = _estimate(grey, ref, max_shift, upsample, refine)
        if (dy, dx) != (0.0, 0.0) and ref_smooth is not None and not _moves_most_blocks_closer(
                grey, ref_smooth, (dy, dx), max_shift, max_farther):
            dy, dx = 0.0, 0.0
        shifts[t] = dy, dx
        aligned[t] = frame if dy == 0.0 and dx == 0.0 else shift_frame(frame, (-dy, -dx), fill=fill_image)

    _per_frame(align, len(frames))  # each frame writes its own rows of shifts and aligned
    return aligned, shifts
