"""Synthetic scenes with exact per-pixel ground truth, deterministic from a seed.

Each scene is a fixed camera over a textured background with sensor noise and
moving objects; the scenes differ in what the background does:

``static``
    a still background (the easy case).
``dynamic``
    regions whose pixels switch between 2-3 colours from frame to frame
    (swaying leaves, a flickering screen): a multimodal background per pixel.
``illumination``
    the global light level drifts gradually over the test frames.
``parked``
    an object drives in during the test frames and stays; once it has stood
    still for ``absorb_frames`` frames it is background (labelled 170, not
    scored, while it is being absorbed).
``departed``
    an object that stood in every training frame drives away at the start of
    the test frames; the road it uncovers is background.
``shadows``
    moving objects cast shadows (darker background, same chromaticity), labelled
    50 (hard shadow) as in CDnet.
``foliage``
    the hard case: a band of foliage whose multimodal leaf texture sways by 0-2
    pixels from frame to frame (spatial jitter), a grey textured road, and objects
    that cast shadows (labelled 50), half of them dark grey with their own texture
    (the colour of a shadow on the road, but not one).

Ground-truth labels follow CDnet 2014: 0 static, 50 shadow, 85 outside the
temporal ROI (training frames), 170 unknown (a 1-pixel band on object
boundaries, where the truth is ambiguous), 255 moving object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bgsub.io import atomic_write, write_image

__all__ = ["SCENES", "Scene", "make_scene", "write_cdnet", "generator_digest"]

logger = logging.getLogger(__name__)

SCENES = ("static", "dynamic", "illumination", "parked", "departed", "shadows", "foliage")

STATIC, SHADOW, OUTSIDE, UNKNOWN, MOTION = 0, 50, 85, 170, 255


@dataclass
class Scene:
    """A generated scene.

    Attributes
    ----------
    frames : ndarray of shape (T, H, W, 3), uint8
    labels : ndarray of shape (T, H, W), uint8
        CDnet labels; training frames are all 85 (outside the temporal ROI).
    background : ndarray of shape (H, W, 3), uint8
        The true background at the first frame, without noise.
    n_train : int
        Frames ``1..n_train`` are for training; the rest are the temporal ROI.
    """

    frames: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    background: NDArray[np.uint8]
    n_train: int


def _background(rng: np.random.Generator, height: int, width: int) -> NDArray[np.float64]:
    """A smooth, textured background: gradients, a few flat blocks, fine texture."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([90 + 60 * x, 110 + 40 * y, 70 + 50 * (1 - x) * y], axis=-1)
    for _ in range(6):
        h, w = rng.integers(height // 8, height // 3), rng.integers(width // 8, width // 3)
        top, left = rng.integers(0, height - h), rng.integers(0, width - w)
        base[top : top + h, left : left + w] = rng.uniform(40, 200, 3)
    texture = ndimage.gaussian_filter(rng.normal(0, 12, (height, width, 3)), sigma=(1.5, 1.5, 0))
    return np.clip(base + texture, 0, 255)


@dataclass
class _Track:
    start: int
    stop: int  # exclusive frame index where the object disappears or stops moving
    y0: float
    x0: float
    vy: float
    vx: float
    h: int
    w: int
    colour: NDArray[np.float64]
    ellipse: bool
    parks_at: int | None = None  # frame index from which it stands still (and stays)


def _object_mask(track: _Track, t: int, height: int, width: int) -> NDArray[np.bool_]:
    dt = min(t, track.parks_at) - track.start if track.parks_at is not None else t - track.start
    cy, cx = track.y0 + track.vy * dt, track.x0 + track.vx * dt
    yy, xx = np.ogrid[0:height, 0:width]
    if track.ellipse:
        return ((yy - cy) / (track.h / 2)) ** 2 + ((xx - cx) / (track.w / 2)) ** 2 <= 1.0
    return (np.abs(yy - cy) <= track.h / 2) & (np.abs(xx - cx) <= track.w / 2)


def _random_tracks(
    rng: np.random.Generator, n_frames: int, height: int, width: int, n_objects: int,
    mean_colour: NDArray[np.float64],
) -> list[_Track]:
    tracks = []
    for _ in range(n_objects):
        h = int(rng.integers(height // 8, height // 4))
        w = int(rng.integers(width // 8, width // 4))
        speed = rng.uniform(1.5, 4.0)
        duration = int((width + w) / speed) + 1
        start = int(rng.integers(-duration // 2, n_frames))
        direction = 1 if rng.random() < 0.5 else -1
        x0 = -w / 2 if direction > 0 else width + w / 2
        y0 = rng.uniform(h / 2, height - h / 2)
        # a third of the objects are camouflaged: close to the scene's average colour
        colour = rng.uniform(0, 255, 3) if rng.random() > 1 / 3 else rng.normal(mean_colour, 25.0)
        tracks.append(
            _Track(start, start + duration, y0, x0, rng.uniform(-0.3, 0.3), direction * speed, h, w, colour,
                   rng.random() < 0.5)
        )
    return tracks


@dataclass
class _Foliage:
    region: NDArray[np.bool_]  # (H, W): where the leaves are
    leaves: NDArray[np.float64]  # (H + 4, W + 4, 3): the leaf texture with a 2-pixel margin to sway into
    object_texture: NDArray[np.float64]  # (H, W, 3): zero-mean texture laid on every object


def _foliage_setup(rng: np.random.Generator, background: NDArray[np.float64], tracks: list[_Track]) -> _Foliage:
    """Build the ``foliage`` scene in place: a grey road band, leaves, dark grey objects."""
    height, width, _ = background.shape
    road = slice(height // 2, height // 2 + height // 3)
    asphalt = ndimage.gaussian_filter(rng.normal(0, 8, (height, width)), sigma=1.0)
    background[road] = (rng.uniform(90, 130) + asphalt[road])[..., None]
    region = np.zeros((height, width), bool)
    region[: height // 3 + 4, width // 8 : width - width // 8] = True
    # leaves: blobs of 2-3 px in three colours (light leaf, dark leaf, sky through the gaps)
    noise = ndimage.gaussian_filter(rng.normal(0, 1, (height + 4, width + 4)), sigma=1.2)
    palette = np.array([[70.0, 140.0, 60.0], [30.0, 75.0, 35.0], [170.0, 200.0, 230.0]])
    which = np.digitize(noise, np.quantile(noise, [0.45, 0.8]))
    shading = ndimage.gaussian_filter(rng.normal(0, 14, (height + 4, width + 4)), sigma=0.7)
    leaves = palette[which] + shading[..., None]  # a continuous texture: a shift brings unseen colours
    for i, track in enumerate(tracks):
        if i % 2 == 0:  # dark grey, 45-80 % of the road's grey
            track.colour = np.full(3, rng.uniform(0.45, 0.8) * float(background[road].mean()))
    object_texture = ndimage.gaussian_filter(rng.normal(0, 10, (height, width, 3)), sigma=(1.0, 1.0, 0))
    return _Foliage(region, leaves, object_texture)


def _sway(rng: np.random.Generator, image: NDArray[np.float64], foliage: _Foliage) -> None:
    """Paint the leaves into ``image`` shifted by a random 0-2 pixels (mostly 0 or 1) in y and x."""
    height, width, _ = image.shape
    dy, dx = np.clip(np.rint(rng.normal(0, 0.8, 2)), -2, 2).astype(int)
    shifted = foliage.leaves[2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width]
    image[foliage.region] = shifted[foliage.region]


def make_scene(
    scene: str,
    *,
    seed: int = 0,
    height: int = 120,
    width: int = 160,
    n_train: int = 100,
    n_test: int = 100,
    noise_sigma: float = 3.0,
    n_objects: int = 8,
    absorb_frames: int = 30,
) -> Scene:
    """Generate a synthetic scene.

    Parameters
    ----------
    scene : {"static", "dynamic", "illumination", "parked", "departed", "shadows", "foliage"}
    seed : int
        Everything random comes from ``numpy.random.default_rng(seed)``.
    height, width : int
        Frame size in pixels.
    n_train, n_test : int
        Number of training frames and of test frames (the temporal ROI).
    noise_sigma : float
        Standard deviation of the Gaussian sensor noise per channel, intensity units.
    n_objects : int
        Number of moving objects over the whole clip.
    absorb_frames : int
        ``parked``: frames an object must stand still before it counts as background.

    Returns
    -------
    Scene

    Examples
    --------
    >>> s = make_scene("dynamic", seed=1, height=24, width=32, n_train=10, n_test=5)
    >>> s.frames.shape, s.labels.shape, s.n_train
    ((15, 24, 32, 3), (15, 24, 32), 10)
    """
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; choose one of {', '.join(SCENES)}")
    rng = np.random.default_rng(seed)
    n_frames = n_train + n_test
    background = _background(rng, height, width)
    tracks = _random_tracks(rng, n_frames, height, width, n_objects, background.mean(axis=(0, 1)))

    dynamic_regions: list[tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]] = []
    if scene == "dynamic":
        for _ in range(2):
            region = np.zeros((height, width), bool)
            h, w = height // 3, width // 3
            top, left = rng.integers(0, height - h), rng.integers(0, width - w)
            region[top : top + h, left : left + w] = True
            n_modes = int(rng.integers(2, 4))
            colours = rng.uniform(30, 230, (n_modes, 3))
            probs = rng.dirichlet(np.full(n_modes, 4.0))
            dynamic_regions.append((region, colours, probs))

    gain = np.ones(n_frames)
    if scene == "illumination":
        ramp = np.linspace(0.0, 1.0, n_test)
        gain[n_train:] = 1.0 - 0.35 * ramp  # dusk: 35 % darker by the last frame

    static_objects: list[_Track] = []
    if scene == "parked":
        h, w = height // 4, width // 4
        parks_at = n_train + n_test // 4
        speed = 3.0
        x_stop = width * 0.6
        start = parks_at - int((x_stop + w / 2) / speed)
        tracks.append(
            _Track(start, n_frames, height * 0.5, -w / 2, 0.0, speed, h, w, rng.uniform(0, 255, 3), False, parks_at)
        )
    if scene == "departed":
        h, w = height // 4, width // 4
        leaves_at = n_train + 5
        speed = 3.0
        static_objects.append(
            _Track(0, n_frames, height * 0.35, width * 0.4, 0.0, speed, h, w, rng.uniform(0, 255, 3), False, leaves_at)
        )

    foliage = _foliage_setup(rng, background, tracks) if scene == "foliage" else None

    frames = np.empty((n_frames, height, width, 3), np.uint8)
    labels = np.full((n_frames, height, width), STATIC, np.uint8)
    for t in range(n_frames):
        image = background.copy()
        if foliage is not None:
            _sway(rng, image, foliage)
        for region, colours, probs in dynamic_regions:
            # patches of 4x4 pixels sway together
            ph, pw = -(-height // 4), -(-width // 4)
            choice = rng.choice(len(colours), size=(ph, pw), p=probs)
            choice = np.kron(choice, np.ones((4, 4), int))[:height, :width]
            image[region] = colours[choice[region]]
        motion = np.zeros((height, width), bool)
        shadow = np.zeros((height, width), bool)
        for obj in static_objects:  # stands still until parks_at, then drives off (moving = foreground)
            dt = max(0, t - obj.parks_at)
            moved = _Track(obj.start, obj.stop, obj.y0, obj.x0 + obj.vx * dt, 0, 0, obj.h, obj.w, obj.colour, False)
            mask = _object_mask(moved, t, height, width)
            image[mask] = obj.colour
            if t >= obj.parks_at:
                motion |= mask
        absorbing = np.zeros((height, width), bool)
        for track in tracks:
            if not track.start <= t < track.stop:
                continue
            mask = _object_mask(track, t, height, width)
            if scene in ("shadows", "foliage"):
                offset = _Track(track.start, track.stop, track.y0 + track.h * 0.45, track.x0 + track.w * 0.35,
                                track.vy, track.vx, track.h, track.w, track.colour, track.ellipse)
                cast = _object_mask(offset, t, height, width) & ~mask
                image[cast] *= 0.55
                shadow |= cast
            image[mask] = track.colour + rng.normal(0, 6, 3)
            if foliage is not None:
                image[mask] += foliage.object_texture[mask]
            if track.parks_at is not None and t >= track.parks_at:
                if t < track.parks_at + absorb_frames:
                    absorbing |= mask
                continue
            motion |= mask
        image *= gain[t]
        image += rng.normal(0, noise_sigma, image.shape)
        frames[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        shadow &= ~motion
        labels[t][shadow] = SHADOW
        labels[t][motion] = MOTION
        edge = ndimage.binary_dilation(motion) & ~ndimage.binary_erosion(motion)
        labels[t][edge | (absorbing & ~motion)] = UNKNOWN
    labels[:n_train] = OUTSIDE
    return Scene(frames, labels, np.clip(np.rint(background), 0, 255).astype(np.uint8), n_train)


def write_cdnet(scene: Scene, folder: Path) -> None:
    """Write a scene in the CDnet 2014 layout.

    Writes ``input/in%06d.png``, ``groundtruth/gt%06d.png``, ``temporalROI.txt``,
    ``ROI.bmp`` (every pixel inside) and ``background.png`` (the true background).
    """
    folder = Path(folder)
    (folder / "input").mkdir(parents=True, exist_ok=True)
    (folder / "groundtruth").mkdir(parents=True, exist_ok=True)
    for i, (frame, labels) in enumerate(zip(scene.frames, scene.labels), start=1):
        write_image(folder / "input" / f"in{i:06d}.png", frame)
        write_image(folder / "groundtruth" / f"gt{i:06d}.png", labels)
    write_image(folder / "ROI.bmp", np.full(scene.labels.shape[1:], 255, np.uint8))
    write_image(folder / "background.png", scene.background)
    with atomic_write(folder / "temporalROI.txt") as tmp:
        tmp.write_text(f"{scene.n_train + 1} {len(scene.frames)}")


def generator_digest() -> str:
    """A digest of this module's source: scenes written by another version of the generator differ.

    The workflow passes it as a parameter of its ``synthesize`` rule, so Snakemake regenerates
    the scenes (and everything downstream) when the generator changes.
    """
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
