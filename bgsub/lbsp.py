"""Local binary similarity patterns (LBSP): a texture descriptor beside colour, as in SuBSENSE.

An LBSP descriptor (Bilodeau, Jodoin & Saunier, CRV 2013; St-Charles & Bilodeau, WACV 2014)
is 16 bits per channel: bit ``k`` says whether the ``k``-th neighbour of a 5 x 5 "double
cross" pattern differs from a centre intensity ``c`` by more than ``t = rel_threshold * c``::

    O . O . O        the 8 pixels at distance 1 (3 x 3 ring) and the 8 at distance 2
    . O O O .        along the axes and the diagonals
    O O X O O
    . O O O .
    O . O . O

Intra-LBSP takes ``c`` from the same image; inter-LBSP takes ``c`` (and ``t``) from the
background model while the neighbours come from the current frame, so it also sees a change
of the centre's level against its surroundings. Two descriptors are compared by their Hamming
distance. A texture change that keeps the mean colour (a patterned object in front of a
plain wall) changes the bits while a colour test on smoothed images sees nothing; a small
uniform brightness change leaves the bits alone, since the threshold is relative.

:func:`texture_distance` is SuBSENSE's descriptor distance against a background image: the
mean of the intra and inter Hamming distances, summed over channels (0 to ``16 C``).
:func:`descriptor_threshold` is SuBSENSE's threshold on it, raised with the feedback factor
``R(x)`` of :mod:`bgsub.feedback`. Departure: SuBSENSE adapts its relative threshold
globally when almost all (or almost no) descriptors have bits set; here it is fixed.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

__all__ = ["PATTERN", "lbsp_descriptors", "hamming_distance", "texture_distance", "descriptor_threshold"]

logger = logging.getLogger(__name__)

#: ``(dy, dx)`` of the 16 neighbours; bit ``k`` of a descriptor is neighbour ``k``.
PATTERN: tuple[tuple[int, int], ...] = (
    (0, -1), (0, 1), (1, 0), (-1, 0), (-1, -1), (1, 1), (-1, 1), (1, -1),
    (0, -2), (0, 2), (2, 0), (-2, 0), (-2, -2), (2, 2), (-2, 2), (2, -2),
)
#: SuBSENSE's default relative threshold (BGSSUBSENSE_DEFAULT_LBSP_REL_SIMILARITY_THRESHOLD).
REL_THRESHOLD = 0.333
#: SuBSENSE's default descriptor-distance offset (BGSSUBSENSE_DEFAULT_DESC_DIST_THRESHOLD_OFFSET).
DESC_DIST_OFFSET = 3
#: Set bits of every 16-bit value.
_POPCOUNT16 = np.unpackbits(np.arange(1 << 16, dtype=np.uint16).view(np.uint8)).reshape(-1, 16).sum(1, dtype=np.uint8)


def _channels(image: NDArray) -> NDArray[np.float32]:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return image[..., None]
    if image.ndim == 3:
        return image
    raise ValueError(f"expected an image of shape (H, W) or (H, W, C), got shape {image.shape}")


def lbsp_descriptors(
    image: NDArray, *, reference: NDArray | None = None, rel_threshold: float = REL_THRESHOLD, offset: float = 0.0,
) -> NDArray[np.uint16]:
    """16-bit LBSP descriptors of every pixel and channel.

    Parameters
    ----------
    image : ndarray of shape (H, W, C) or (H, W)
        Provides the neighbours (0-255 scale). Borders repeat the edge pixels.
    reference : ndarray of the image's shape, or None
        Provides the centre intensity and the threshold (inter-LBSP); None = ``image`` (intra-LBSP).
    rel_threshold : float
        Threshold as a fraction of the centre intensity.
    offset : float
        Added to the threshold (grey levels), so dark pixels are not all texture.

    Returns
    -------
    descriptors : ndarray of shape (H, W, C), uint16

    Examples
    --------
    >>> img = np.full((5, 5), 100.0); img[2, 3] = 200.0  # one bright neighbour to the right of the centre
    >>> int(lbsp_descriptors(img)[2, 2, 0])  # bit 1 = neighbour (0, +1)
    2
    """
    img = _channels(image)
    ref = img if reference is None else _channels(reference)
    if ref.shape != img.shape:
        raise ValueError(f"reference of shape {ref.shape} does not match the image's {img.shape}")
    height, width = img.shape[:2]
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode="edge")
    threshold = rel_threshold * ref + offset
    out = np.zeros(img.shape, np.uint16)
    for bit, (dy, dx) in enumerate(PATTERN):
        neighbour = padded[2 + dy:2 + dy + height, 2 + dx:2 + dx + width]
        out |= (np.abs(neighbour - ref) > threshold).astype(np.uint16) << np.uint16(bit)
    return out


def hamming_distance(a: NDArray[np.uint16], b: NDArray[np.uint16]) -> NDArray[np.uint8]:
    """Number of differing bits of two arrays of 16-bit descriptors (elementwise).

    Examples
    --------
    >>> int(hamming_distance(np.uint16(0b1011), np.uint16(0b0110)))
    3
    """
    return _POPCOUNT16[np.bitwise_xor(np.asarray(a, np.uint16), np.asarray(b, np.uint16))]


def texture_distance(
    frame: NDArray, background: NDArray, *, rel_threshold: float = REL_THRESHOLD, offset: float = 0.0,
    background_descriptors: NDArray[np.uint16] | None = None,
) -> NDArray[np.int32]:
    """SuBSENSE's descriptor distance of a frame to a background image, summed over channels.

    Parameters
    ----------
    frame, background : ndarray of shape (H, W, C) or (H, W)
    rel_threshold, offset : float
        See :func:`lbsp_descriptors`.
    background_descriptors : ndarray of shape (H, W, C), uint16, or None
        The background's intra-LBSP, when already computed.

    Returns
    -------
    distance : ndarray of shape (H, W), int32
        Per channel ``(hamming(intra(frame), intra(bg)) + hamming(inter(frame; bg), intra(bg))) // 2``,
        summed over channels: 0 to ``16 C``.

    Examples
    --------
    >>> bg = np.full((8, 8), 120.0)
    >>> checker = np.where(np.indices((8, 8)).sum(0) % 2 == 0, 60.0, 180.0)  # same mean, new texture
    >>> int(texture_distance(checker, bg)[4, 4]), int(texture_distance(bg + 10, bg)[4, 4])
    (10, 0)
    """
    bg_desc = (lbsp_descriptors(background, rel_threshold=rel_threshold, offset=offset)
               if background_descriptors is None else np.asarray(background_descriptors, np.uint16))
    intra = lbsp_descriptors(frame, rel_threshold=rel_threshold, offset=offset)
    inter = lbsp_descriptors(frame, reference=background, rel_threshold=rel_threshold, offset=offset)
    if bg_desc.shape != intra.shape:
        raise ValueError(f"background descriptors of shape {bg_desc.shape} do not match the frame's {intra.shape}")
    per_channel = (hamming_distance(intra, bg_desc).astype(np.int32)
                   + hamming_distance(inter, bg_desc).astype(np.int32)) // 2
    return per_channel.sum(axis=-1, dtype=np.int32)


def descriptor_threshold(
    threshold_factor: NDArray | float = 1.0, *, n_channels: int = 3, offset: int = DESC_DIST_OFFSET,
) -> NDArray[np.int32]:
    """SuBSENSE's threshold on :func:`texture_distance`: ``(2**round(R) + offset) * C``.

    Parameters
    ----------
    threshold_factor : ndarray of shape (H, W) or float
        ``R(x)`` of :class:`bgsub.feedback.FeedbackState` (1 = a still pixel).
    n_channels : int
    offset : int
        Added per channel (SuBSENSE: 3).

    Returns
    -------
    threshold : ndarray of R's shape, int32
        A pixel whose texture distance exceeds it is foreground by texture.

    Examples
    --------
    >>> int(descriptor_threshold(1.0)), int(descriptor_threshold(2.6))
    (15, 33)
    """
    r = np.asarray(threshold_factor, np.float64)
    return ((np.left_shift(1, np.floor(r + 0.5).astype(np.int64)) + offset) * n_channels).astype(np.int32)
