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
    an object drives in during the test frames and stays to the end. As CDnet 2014
    labels a stopped object, it is foreground (255) for as long as it stands. The
    labelling written before this rule (``absorb_frames=30``: background once it
    has stood still 30 frames, 170 while it is being absorbed) stays available.
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

The kinds of :data:`NEW_SCENES` stand for CDnet 2014's challenge categories. They are
drawn with procedural textures (:mod:`bgsub.textures`: multi-octave value noise, asphalt,
paving, grass, brick, sky, leaves, water) and textured movers of varied colours, a
quarter of them low-contrast (close to the ground they pass over): side-view cars with
cabins, windows, wheels and a cast shadow (labelled 50), walking people in two poses,
boats; 10-60 px at 160x120, smaller far away. ``n_objects`` is their number per 100 frames.

``jitter`` (cameraJitter)
    a street (brick building or sky and trees, sidewalk, two-lane road, verge) filmed by a
    shaking camera: every frame, incl. its objects, is the scene moved by a random
    sub-pixel offset 1-3 px from the rest position in any direction (Keys cubic
    resampling); the ground truth moves with it. ``info["shifts"]`` holds the offsets.
``water`` (dynamicBackground)
    a lake below a paved bank: travelling waves shade the water and break into moving
    specular glints; tree crowns above sway by a smooth, time-varying warp of up to 2 px;
    people walk on the bank, boats cross the water.
``weather`` (badWeather)
    the street under falling snow (small, fast, bright flakes living 2-7 frames, drawn as
    motion-blurred streaks; labelled background, ``info["particles"]``) and haze that
    blends every pixel with light grey, more far away (lower contrast).
``intermittent`` (intermittentObjectMotion)
    the street with traffic in the training frames too, plus a car and a person that
    arrive in the test frames and stand still for 50-150 frames (fewer if the clip is
    shorter), labelled 255 while they stand (as CDnet does); the car then drives off,
    uncovering the road. ``info["stopped"]`` marks their pixels while they stand.
``exposure`` (CDnet has no such category: "illuminationChange")
    the street under a slow global light drift, cloud shadows drifting across it and
    auto-exposure gain steps (a jump of 12-30 %, then a partial recovery over 5-15
    frames; one in the test frames at least). ``info["gain"]`` holds the global gain.
``trees`` (dynamicBackground)
    one large tree whose crown fills the upper three quarters of the view in front of the
    sky sways in a gusty wind: 2.5-4.5 px at the top of the crown (40 % of that at its
    bottom) times the wind's strength, a smooth random gust between 0.3 and 1.5
    (``info["gust"]``), so leaves and the sky through the gaps take each other's place;
    people walk on a lawn and a path in front of the lower crown (half as many movers per
    100 frames as on the street: people on foot stay longer in the picture).

Ground-truth labels follow CDnet 2014: 0 static, 50 shadow, 85 outside the
temporal ROI (training frames), 170 unknown (a 1-pixel band on object
boundaries, where the truth is ambiguous), 255 moving object.

Seeds. :data:`SCENE_SEEDS` declares, in this one place, a validation seed and a
different test seed for every kind: choose on the validation seeds, report on the
test seeds (held out). The older kinds' validation seeds are the seeds config.yaml
has used since they were written (0-6), as defaults were already chosen on them;
:data:`CDNET_CATEGORY` maps every kind to the CDnet 2014 category it stands for.
Older kinds keep their arrays: for a given seed they are byte-identical to what
the generator produced before the newer kinds were added (``parked``'s labels with
``absorb_frames=30``; its frames in any case).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bgsub import textures as tx
from bgsub.io import atomic_write, write_image

__all__ = [
    "SCENES",
    "NEW_SCENES",
    "SCENE_SEEDS",
    "MAX_SEEDS",
    "CDNET_CATEGORY",
    "Scene",
    "scene_kinds",
    "scene_seed",
    "scene_seeds",
    "make_scene",
    "write_cdnet",
    "generator_digest",
]

logger = logging.getLogger(__name__)

NEW_SCENES = ("jitter", "water", "weather", "intermittent", "exposure", "trees")
SCENES = ("static", "dynamic", "illumination", "parked", "departed", "shadows", "foliage", *NEW_SCENES)

# One seed per kind for choosing (validation) and a different one for the held-out test; see the docstring.
SCENE_SEEDS: dict[str, dict[str, int]] = {
    "static": {"validation": 0, "test": 200},
    "dynamic": {"validation": 1, "test": 201},
    "illumination": {"validation": 2, "test": 202},
    "parked": {"validation": 3, "test": 203},
    "departed": {"validation": 4, "test": 204},
    "shadows": {"validation": 5, "test": 205},
    "foliage": {"validation": 6, "test": 206},
    "jitter": {"validation": 107, "test": 207},
    "water": {"validation": 108, "test": 208},
    "weather": {"validation": 109, "test": 209},
    "intermittent": {"validation": 110, "test": 210},
    "exposure": {"validation": 111, "test": 211},
    "trees": {"validation": 112, "test": 212},
}

# The CDnet 2014 category each kind stands for (results/categories.csv). CDnet 2014 has no category of its
# own for light changes, so ``illumination`` and ``exposure`` share "illuminationChange" (not a CDnet name).
CDNET_CATEGORY: dict[str, str] = {
    "static": "baseline",
    "dynamic": "dynamicBackground",
    "illumination": "illuminationChange",
    "parked": "intermittentObjectMotion",
    "departed": "intermittentObjectMotion",
    "shadows": "shadow",
    "foliage": "dynamicBackground",
    "jitter": "cameraJitter",
    "water": "dynamicBackground",
    "weather": "badWeather",
    "intermittent": "intermittentObjectMotion",
    "exposure": "illuminationChange",
    "trees": "dynamicBackground",
}

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
        The true background at the first frame, without noise (``jitter``: with the camera at rest,
        which no frame is exactly).
    n_train : int
        Frames ``1..n_train`` are for training; the rest are the temporal ROI.
    info : dict of str to ndarray
        What the generator did, for tests and diagnostics (empty for the older scenes):
        ``shifts (T, 2)`` (``jitter``: the camera's offset (dy, dx) in pixels, content moved by +offset),
        ``particles (T, H, W) bool`` (``weather``: pixels covered by snow), ``stopped (T, H, W) bool``
        (``intermittent``: pixels of objects standing still), ``gain (T,)`` (``exposure``), ``gust (T,)``
        (``trees``: the wind's strength, the factor of the crown's sway).
    """

    frames: NDArray[np.uint8]
    labels: NDArray[np.uint8]
    background: NDArray[np.uint8]
    n_train: int
    info: dict[str, NDArray] = field(default_factory=dict)


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


def scene_kinds() -> tuple[str, ...]:
    """Every scene kind :func:`make_scene` knows, older ones first (same as :data:`SCENES`)."""
    return SCENES


def scene_seed(kind: str, split: str) -> int:
    """The declared seed of ``kind`` for ``split`` ("validation" or "test"); see :data:`SCENE_SEEDS`.

    Examples
    --------
    >>> scene_seed("jitter", "validation"), scene_seed("jitter", "test")
    (107, 207)
    """
    if kind not in SCENE_SEEDS:
        raise ValueError(f"unknown scene {kind!r}; choose one of {', '.join(SCENES)}")
    if split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    return SCENE_SEEDS[kind][split]


#: Further seeds of each split, for figures over several scenes of a kind: the ``j``-th further seed (``j >= 1``)
#: of the kind at position ``i`` of :data:`SCENES` is ``base + 20 * j + i``. No two kinds or splits share a seed,
#: and none is a seed of :data:`SCENE_SEEDS`.
EXTRA_SEED_BASE: dict[str, int] = {"validation": 1000, "test": 2000}
MAX_SEEDS = 50  # keeps the validation seeds below the test ones


def scene_seeds(kind: str, split: str, n: int = 1, skip: int = 0) -> tuple[int, ...]:
    """``n`` seeds of ``kind`` for ``split``: the declared one (:func:`scene_seed`) first, then further ones.

    A single seed is one draw of the scene's randomness (its textures, movers, shakes); a figure over
    several seeds says how much a kind's F moves from one scene of that kind to the next.

    Parameters
    ----------
    kind : str
        One of :data:`SCENES`.
    split : {"validation", "test"}
    n : int, default=1
        How many seeds.
    skip : int, default=0
        Leave out the first ``skip`` seeds of the sequence (the declared one is the first): seeds whose
        figures have already been seen, so that a figure on the rest is held out. ``skip + n`` is at most
        :data:`MAX_SEEDS`.

    Examples
    --------
    >>> scene_seeds("jitter", "validation", 3), scene_seeds("jitter", "test", 2)
    ((107, 1027, 1047), (207, 2027))
    >>> scene_seeds("jitter", "test", 2, skip=1)
    (2027, 2047)
    """
    first = scene_seed(kind, split)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SEEDS:
        raise ValueError(f"the number of seeds must be an integer from 1 to {MAX_SEEDS}, got {n!r}")
    if isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= MAX_SEEDS - n:
        raise ValueError(f"the seeds to skip must be an integer from 0 to {MAX_SEEDS} - n = {MAX_SEEDS - n}, "
                         f"got {skip!r}")
    position = SCENES.index(kind)
    return tuple(first if j == 0 else EXTRA_SEED_BASE[split] + 20 * j + position for j in range(skip, skip + n))


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
    absorb_frames: int | None = None,
) -> Scene:
    """Generate a synthetic scene.

    Parameters
    ----------
    scene : str
        One of :data:`SCENES` (see the module docstring).
    seed : int
        Everything random comes from ``numpy.random.default_rng(seed)``.
    height, width : int
        Frame size in pixels.
    n_train, n_test : int
        Number of training frames and of test frames (the temporal ROI).
    noise_sigma : float
        Standard deviation of the Gaussian sensor noise per channel, intensity units.
    n_objects : int
        Number of moving objects over the whole clip; for the kinds of :data:`NEW_SCENES`, per 100
        frames (traffic; ``trees``: half as many, people on foot), and ``intermittent`` adds its two
        objects that stop.
    absorb_frames : int or None
        ``parked``: None (CDnet's rule) keeps the parked object foreground while it stands; an int is the
        number of frames it must stand still before it is labelled background (170 until then). The frames
        are the same either way: only the labels differ.

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
    if absorb_frames is not None and (
        isinstance(absorb_frames, bool) or not isinstance(absorb_frames, (int, np.integer)) or absorb_frames < 1
    ):
        raise ValueError(f"absorb_frames must be a positive integer or None, got {absorb_frames!r}")
    rng = np.random.default_rng(seed)
    if scene in NEW_SCENES:
        return _make_moving_scene(scene, rng, height, width, n_train, n_test, noise_sigma, n_objects)
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
        # darkened by a cast shadow since last drawn over: one sun's shadows do not compound where they overlap
        shaded = np.zeros((height, width), bool)
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
                image[cast & ~shaded] *= 0.55
                shaded |= cast
                shadow |= cast
            image[mask] = track.colour + rng.normal(0, 6, 3)
            shaded[mask] = False
            if foliage is not None:
                image[mask] += foliage.object_texture[mask]
            if absorb_frames is not None and track.parks_at is not None and t >= track.parks_at:
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
    """A digest of this module's source and of :mod:`bgsub.textures`: scenes written by another version of
    the generator differ.

    The workflow passes it as a parameter of its ``synthesize`` rule, so Snakemake regenerates
    the scenes (and everything downstream) when the generator changes.
    """
    import hashlib

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(tx.__file__).read_bytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------
# Scenes with moving backgrounds and CDnet 2014's challenges (jitter, water, weather, intermittent, exposure).
# They share one renderer (textured street or waterside, textured movers) and never touch the code above, so
# the older scenes stay byte-identical for a given seed.

_MARGIN = 5  # ``jitter``: the scene is rendered this many pixels larger on every side, then shifted and cropped


def _keys_weights(f: float) -> tuple[float, float, float, float]:
    """Keys' cubic convolution weights (a = -0.5) of the samples at -1, 0, 1, 2 for a fraction ``f`` in [0, 1)."""
    def kernel(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return 1.5 * x**3 - 2.5 * x**2 + 1
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2 if x < 2 else 0.0

    return kernel(1 + f), kernel(f), kernel(1 - f), kernel(2 - f)


def _shift_crop(canvas: NDArray[np.float64], dy: float, dx: float, height: int, width: int,
                cubic: bool = True) -> NDArray[np.float64]:
    """The ``(height, width)`` window at the canvas' centre after its content moved by ``(dy, dx)`` pixels.

    Separable resampling (Keys' cubic, or linear with ``cubic=False``); ``canvas`` has :data:`_MARGIN`
    extra pixels on every side and ``|dy|, |dx| < _MARGIN - 1``.
    """
    out = canvas
    for axis, d, n in ((0, dy, height), (1, dx, width)):
        source = _MARGIN - d  # output pixel i reads the canvas at i + source
        base = int(np.floor(source))
        f = source - base
        taps = zip((-1, 0, 1, 2), _keys_weights(f)) if cubic else zip((0, 1), (1 - f, f))
        acc = 0.0
        for k, weight in taps:
            if weight != 0.0:
                acc = acc + weight * np.take(out, np.arange(base + k, base + k + n), axis=axis)
        out = acc
    return np.asarray(out)


@dataclass
class _Lane:
    bottom: int  # canvas row just below the movers' feet or wheels
    direction: int  # +1 left to right, -1 right to left
    scale: float  # perspective: movers' size and speed relative to the nearest lane
    kind: str  # "car", "person" or "boat"


@dataclass
class _Mover:
    poses: list[tuple[NDArray[np.float64], NDArray[np.bool_]]]  # sprites (image (h, w, 3), alpha (h, w))
    bottom: int
    x: NDArray[np.float64]  # (T,) left column per frame; NaN = not in the picture
    stopped: NDArray[np.bool_]  # (T,) standing still (an intermittent object)
    shadow: bool  # casts a shadow on the ground (cars)
    stride: float  # pixels travelled per change of pose (walking people); inf = rigid
    speed: float  # pixels per frame, signed


def _path(
    n_frames: int, start: float, x_start: float, speed: float, width: int, sprite_w: int,
    stop_at: int | None = None, stop_for: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Left column per frame of a mover entering at ``x_start`` at frame ``start`` with ``speed`` px/frame,
    standing still for ``stop_for`` frames from ``stop_at``; NaN where it is off the picture."""
    t = np.arange(n_frames, dtype=float)
    elapsed = t - start
    if stop_at is not None:
        elapsed -= np.clip(t - stop_at, 0, stop_for)
    x = x_start + speed * elapsed
    visible = (t >= start) & (x + sprite_w > 0) & (x < width)
    stopped = np.zeros(n_frames, bool)
    if stop_at is not None:
        stopped[max(stop_at, 0) : max(stop_at + stop_for, 0)] = True
    return np.where(visible, x, np.nan), stopped & visible


def _sprite_for(
    rng: np.random.Generator, lane: _Lane, size: float, ground: NDArray[np.float64]
) -> tuple[list[tuple[NDArray[np.float64], NDArray[np.bool_]]], float]:
    """Sprites (poses) and stride of a mover of ``lane.kind``; a quarter are low-contrast (near ``ground``)."""
    low = rng.random() < 0.25
    if lane.kind == "person":
        shirt = ground + rng.normal(0, 12, 3) if low else tx.CLOTH_COLOURS[rng.integers(len(tx.CLOTH_COLOURS))]
        trousers = ground * rng.uniform(0.8, 1.0) if low else tx.CLOTH_COLOURS[rng.integers(len(tx.CLOTH_COLOURS))]
        height = max(int(round(size * rng.uniform(25, 40))), 6)
        poses = tx.person_sprites(rng, height, shirt=shirt, trousers=trousers)
        return (poses if lane.direction > 0 else [(p[:, ::-1], a[:, ::-1]) for p, a in poses]), 0.3 * height
    colour = ground + rng.normal(0, 10, 3) if low else tx.CAR_COLOURS[rng.integers(len(tx.CAR_COLOURS))]
    colour = colour * rng.uniform(0.9, 1.1)
    length = max(int(round(size * rng.uniform(30, 60))), 4)
    image, alpha = (tx.boat_sprite if lane.kind == "boat" else tx.car_sprite)(rng, length, colour)
    if lane.direction < 0:
        image, alpha = image[:, ::-1], alpha[:, ::-1]
    return [(image, alpha)], np.inf


def _mover(
    rng: np.random.Generator, lane: _Lane, n_frames: int, width: int, unit: float, ground: NDArray[np.float64],
    *, start: float | None = None,
) -> _Mover:
    """A mover on ``lane`` with a random look and speed, entering at frame ``start`` (default: random)."""
    size = lane.scale * unit
    poses, stride = _sprite_for(rng, lane, size, ground)
    w = poses[0][0].shape[1]
    lo, hi = {"car": (1.5, 4.0), "person": (0.5, 1.2), "boat": (1.0, 2.5)}[lane.kind]
    speed = lane.direction * rng.uniform(lo, hi) * size
    x_start = -w if lane.direction > 0 else width
    if start is None:
        duration = (width + w) / abs(speed)
        start = float(rng.integers(-int(duration) // 2, n_frames))
    x, stopped = _path(n_frames, start, x_start, speed, width, w)
    return _Mover(poses, lane.bottom, x, stopped, lane.kind == "car", stride, speed)


def _stopping_mover(
    rng: np.random.Generator, lane: _Lane, n_frames: int, width: int, unit: float, ground: NDArray[np.float64],
    stop_at: int, stop_for: int,
) -> _Mover:
    """A mover that arrives, stands still from frame ``stop_at`` for ``stop_for`` frames, then goes on."""
    mover = _mover(rng, lane, n_frames, width, unit, ground, start=0.0)
    w = mover.poses[0][0].shape[1]
    speed = mover.speed
    x_stop = rng.uniform(0.25, 0.75 - w / width) * width if width > 2 * w else (width - w) / 2
    x_start = -w if lane.direction > 0 else width
    start = stop_at - (x_stop - x_start) / speed
    mover.x, mover.stopped = _path(n_frames, start, x_start, speed, width, w, stop_at, stop_for)
    return mover


def _street(rng: np.random.Generator, height: int, width: int) -> tuple[NDArray[np.float64], list[_Lane]]:
    """A street seen from the side: a brick building or sky and trees, a sidewalk, a two-lane road with a
    dashed centre line, a grass verge. Returns the background ``(H, W, 3)`` and its lanes."""
    rows = [int(round(f * height)) for f in (0.28, 0.40, 0.82)]
    image = np.empty((height, width, 3))
    if rng.random() < 0.5:
        unit = max(height / 120, 0.3)
        image[: rows[0]] = tx.brick_wall(rng, rows[0], width, brick=(int(6 * unit), int(14 * unit)))
        n_windows = max(width // 40, 1)
        for i in range(n_windows):
            wy0, wy1 = int(0.05 * height), int(0.2 * height)
            wx0 = int((i + 0.25) * width / n_windows)
            wx1 = wx0 + max(int(0.4 * width / n_windows), 1)
            image[wy0:wy1, wx0:wx1] = np.array([60.0, 72.0, 85.0]) + 30 * tx.value_noise(
                rng, wy1 - wy0, wx1 - wx0, scale=8, octaves=2)[..., None]
    else:
        image[: rows[0]] = tx.sky(rng, rows[0], width)
        canopy, coverage = tx.leaves(rng, rows[0], width)
        coverage -= np.linspace(1.5, -0.5, rows[0])[:, None] * 0.6  # more leaves low down
        image[: rows[0]][coverage > 0] = canopy[coverage > 0]
    image[rows[0] : rows[1]] = tx.pavement(rng, rows[1] - rows[0], width, tile=max(int(12 * height / 120), 3))
    image[rows[1] : rows[2]] = tx.asphalt(rng, rows[2] - rows[1], width)
    image[rows[1]] += 40  # the kerb
    centre = int(round(0.61 * height))
    dash = max(int(8 * width / 160), 2)
    dashes = (np.arange(width) // dash) % 2 == 0
    image[centre : centre + max(height // 80, 1), dashes] = np.array([215.0, 210.0, 190.0])
    image[rows[2] :] = tx.grass(rng, height - rows[2], width)
    lanes = [
        _Lane(int(round(0.39 * height)), -1 if rng.random() < 0.5 else 1, 0.55, "person"),
        _Lane(int(round(0.60 * height)), -1, 0.7, "car"),
        _Lane(int(round(0.80 * height)), 1, 1.0, "car"),
        _Lane(int(round(0.985 * height)), -1 if rng.random() < 0.5 else 1, 1.0, "person"),
    ]
    return image, lanes


@dataclass
class _Water:
    """Rippling water below row ``top``: travelling waves shade it and break into moving specular glints."""

    top: int
    base: NDArray[np.float64]  # (h, W, 3) the water's colour at rest
    phases: NDArray[np.float64]  # (n_waves, h, W) spatial phase of each wave
    omegas: NDArray[np.float64]  # (n_waves,) radians per frame
    amplitudes: NDArray[np.float64]  # (n_waves,)
    patchiness: NDArray[np.float64]  # (h, W) where glints gather
    glint: NDArray[np.float64]  # (3,)

    def paint(self, image: NDArray[np.float64], t: int) -> None:
        height = np.tensordot(self.amplitudes, np.sin(self.phases - self.omegas[:, None, None] * t), axes=1)
        water = self.base * (1 + 0.12 * height)[..., None]
        spec = np.clip((height * self.patchiness - 1.3) / 0.8, 0, 1) ** 2
        image[self.top :] = water + (self.glint - water) * (0.9 * spec)[..., None]


def _water(rng: np.random.Generator, top: int, height: int, width: int) -> _Water:
    h = height - top
    f = np.linspace(0, 1, h)[:, None, None]  # 0 far (top) to 1 near
    far = np.array([120.0, 145.0, 160.0]) + rng.normal(0, 8, 3)
    near = np.array([35.0, 70.0, 85.0]) + rng.normal(0, 6, 3)
    base = (far * (1 - f) + near * f) * (1 + 0.06 * tx.value_noise(rng, h, width, scale=20, octaves=3))[..., None]
    n_waves = 6
    yy, xx = np.mgrid[0:h, 0:width].astype(float)
    unit = width / 160
    phases = np.empty((n_waves, h, width))
    # perspective: the surface seen at a grazing angle, far rows (top) compressed, more so vertically;
    # depth and breadth are increasing functions of the row, so crests never fold back on themselves
    depth = (2.5 * yy - 0.75 * yy**2 / max(h - 1, 1))
    breadth = xx * (1.5 - 0.5 * yy / max(h - 1, 1))
    for i in range(n_waves):
        wavelength = rng.uniform(5, 18) * unit
        # crests mostly across the view (horizontal bands), a few oblique ones
        angle = np.pi / 2 + rng.uniform(-0.4, 0.4) + (rng.uniform(-0.8, 0.8) if i >= 4 else 0.0)
        k = 2 * np.pi / wavelength
        phases[i] = k * (np.cos(angle) * breadth + np.sin(angle) * depth) + rng.uniform(0, 2 * np.pi)
    omegas = rng.uniform(0.25, 0.8, n_waves) * rng.choice([-1, 1], n_waves)
    amplitudes = rng.uniform(0.5, 1.0, n_waves)
    amplitudes /= np.sqrt(0.5 * np.sum(amplitudes**2))  # unit standard deviation
    patchiness = 0.75 + 0.35 * tx.value_noise(rng, h, width, scale=16, octaves=2)
    glint = np.array([240.0, 242.0, 245.0])
    return _Water(top, base, phases, omegas, amplitudes, patchiness, glint)


@dataclass
class _Canopy:
    """Swaying tree canopy in rows ``0..bottom``: leaves warped by a smooth, time-varying displacement."""

    bottom: int
    leaves: NDArray[np.float64]  # (3, h, W + 2m) leaf texture, channels first, with a margin to sway into
    coverage: NDArray[np.float64]  # (h, W + 2m) canopy where > 0
    phase: NDArray[np.float64]  # (h, W) sway phase: neighbouring leaves move together
    amplitude: NDArray[np.float64]  # (h, 1) sway in pixels, larger at the top
    omega: float
    margin: int
    gust: NDArray[np.float64] | None = None  # (T,) the wind's strength per frame, scaling the sway; None = steady

    def paint(self, image: NDArray[np.float64], t: int) -> None:
        h, w = self.phase.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(float)
        amplitude = self.amplitude if self.gust is None else self.amplitude * self.gust[t]
        dx = amplitude * np.sin(self.omega * t + self.phase)
        dy = 0.35 * amplitude * np.cos(0.7 * self.omega * t + 1.3 * self.phase)
        coords = np.stack([yy + dy, xx + self.margin + dx])
        cover = ndimage.map_coordinates(self.coverage, coords, order=1, mode="nearest") > 0
        for c in range(3):
            warped = ndimage.map_coordinates(self.leaves[c], coords, order=1, mode="nearest")
            image[: self.bottom, :, c][cover] = warped[cover]


def _canopy(rng: np.random.Generator, bottom: int, width: int) -> _Canopy:
    margin = 3
    leaves, coverage = tx.leaves(rng, bottom, width + 2 * margin)
    coverage -= np.linspace(1.6, -0.4, bottom)[:, None] * 0.5  # denser near the bottom of the crowns
    phase = 1.2 * tx.value_noise(rng, bottom, width, scale=14, octaves=2)
    amplitude = np.linspace(1.8, 0.6, bottom)[:, None] * rng.uniform(0.8, 1.2)
    omega = 2 * np.pi / rng.uniform(7, 16)
    return _Canopy(bottom, np.moveaxis(leaves, -1, 0).copy(), coverage, phase, amplitude, omega, margin)


def _park(
    rng: np.random.Generator, height: int, width: int, n_frames: int
) -> tuple[NDArray[np.float64], list[_Lane], _Canopy]:
    """A large tree in the wind: its crown fills the upper three quarters of the view in front of the sky and sways
    by up to several pixels, more in gusts; a lawn and a path below it, where people walk in front of the crown."""
    unit = width / 160
    rows = [int(round(f * height)) for f in (0.75, 0.86)]
    image = np.empty((height, width, 3))
    image[: rows[0]] = tx.sky(rng, rows[0], width)
    trunk_w = max(int(8 * unit), 1)
    x = int(rng.integers(width // 4, 3 * width // 4 - trunk_w))
    image[int(0.4 * height) : rows[0], x : x + trunk_w] = np.array([75.0, 58.0, 42.0]) * rng.uniform(0.8, 1.2)
    image[rows[0] : rows[1]] = tx.grass(rng, rows[1] - rows[0], width)
    image[rows[1] :] = tx.pavement(rng, height - rows[1], width, tile=max(int(10 * height / 120), 3))
    # the sway: 2.5-4.5 px at the top of the crown (40 % of it at the bottom), times the wind's strength, a smooth
    # random gust in [0.3, 1.5] that changes over 10-20 frames
    top_amplitude = rng.uniform(2.5, 4.5) * unit
    gust = ndimage.gaussian_filter1d(rng.normal(0, 1, n_frames + 60), sigma=rng.uniform(10, 20))[30:-30]
    gust = np.clip(0.8 + 0.35 * gust / max(float(gust.std()), 1e-9), 0.3, 1.5)
    margin = int(np.ceil(1.5 * top_amplitude)) + 1
    leaves, coverage = tx.leaves(rng, rows[0], width + 2 * margin)
    yy, xx = np.mgrid[0 : rows[0], 0 : width + 2 * margin]
    # one crown, round, over most of the view; gaps (coverage <= 0) show the sky
    crown = 1 - ((yy - 0.45 * rows[0]) / (0.6 * rows[0])) ** 2 - ((xx - (width / 2 + margin)) / (0.6 * width)) ** 2
    coverage = coverage - 0.7 + 1.2 * crown
    phase = 1.2 * tx.value_noise(rng, rows[0], width, scale=14, octaves=2)
    amplitude = np.linspace(1.0, 0.4, rows[0])[:, None] * top_amplitude
    omega = 2 * np.pi / rng.uniform(8, 20)
    canopy = _Canopy(rows[0], np.moveaxis(leaves, -1, 0).copy(), coverage, phase, amplitude, omega, margin, gust)
    lanes = [
        _Lane(int(round(0.84 * height)), -1 if rng.random() < 0.5 else 1, 0.8, "person"),
        _Lane(int(round(0.97 * height)), -1 if rng.random() < 0.5 else 1, 1.2, "person"),
    ]
    return image, lanes, canopy


def _waterside(
    rng: np.random.Generator, height: int, width: int
) -> tuple[NDArray[np.float64], list[_Lane], _Water, _Canopy]:
    """A lake: sky and swaying trees, a paved bank path, water with ripples and glints."""
    rows = [int(round(f * height)) for f in (0.42, 0.55)]
    image = np.empty((height, width, 3))
    image[: rows[0]] = tx.sky(rng, rows[0], width)
    trunk_w = max(int(3 * width / 160), 1)
    for x in rng.integers(0, width - trunk_w, 3):
        image[int(0.2 * height) : rows[0], x : x + trunk_w] = np.array([80.0, 60.0, 45.0]) * rng.uniform(0.8, 1.2)
    image[rows[0] : rows[1]] = tx.pavement(rng, rows[1] - rows[0], width, tile=max(int(10 * height / 120), 3))
    image[rows[1] - 1 : rows[1] + 1] = np.array([120.0, 115.0, 105.0])  # the stone edge of the bank
    water = _water(rng, rows[1] + 1, height, width)
    water.paint(image, 0)  # the water at rest fills the background (low-contrast boats take its colour)
    canopy = _canopy(rng, rows[0], width)
    lanes = [
        _Lane(rows[1] - 1, -1 if rng.random() < 0.5 else 1, 0.6, "person"),
        _Lane(int(round(0.74 * height)), -1, 0.6, "boat"),
        _Lane(int(round(0.95 * height)), 1, 0.9, "boat"),
    ]
    return image, lanes, water, canopy


@dataclass
class _Snow:
    """Falling snow: small, fast, bright, short-lived flakes drawn as short motion-blurred streaks."""

    rate: float  # new flakes per frame
    wind: float
    unit: float
    flakes: NDArray[np.float64]  # (n, 7): y, x, vy, vx, frames left, brightness, opacity

    def paint(self, rng: np.random.Generator, image: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Move the flakes, spawn new ones and draw them; returns the pixels they cover ``(H, W)``."""
        height, width, _ = image.shape
        n_new = rng.poisson(self.rate)
        new = np.column_stack([
            rng.uniform(0, height, n_new), rng.uniform(0, width, n_new),
            rng.uniform(3, 7, n_new) * self.unit, (self.wind + rng.normal(0, 0.5, n_new)) * self.unit,
            rng.integers(2, 8, n_new).astype(float), rng.uniform(200, 250, n_new), rng.uniform(0.6, 0.95, n_new),
        ])
        flakes = self.flakes
        flakes[:, 0] += flakes[:, 2]
        flakes[:, 1] += flakes[:, 3]
        flakes[:, 4] -= 1
        flakes = np.concatenate([flakes[flakes[:, 4] > 0], new])
        self.flakes = flakes
        covered = np.zeros((height, width), bool)
        for step in (0.0, 0.2, 0.4):  # the streak: where the flake was during the exposure
            ys = np.rint(flakes[:, 0] - step * flakes[:, 2]).astype(int)
            xs = np.rint(flakes[:, 1] - step * flakes[:, 3]).astype(int)
            inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
            ys, xs, f = ys[inside], xs[inside], flakes[inside]
            alpha = f[:, 6:7] * (1 - step)
            image[ys, xs] = image[ys, xs] * (1 - alpha) + f[:, 5:6] * alpha
            covered[ys, xs] = True
        return covered


def _exposure_gain(rng: np.random.Generator, n_train: int, n_frames: int) -> NDArray[np.float64]:
    """Gain per frame: a slow drift times auto-exposure steps (a jump, then a partial, gradual recovery)."""
    t = np.arange(n_frames, dtype=float)
    drift = 1 + rng.uniform(0.08, 0.15) * np.sin(2 * np.pi * t / (rng.uniform(1.5, 3.0) * n_frames)
                                                 + rng.uniform(0, 2 * np.pi))
    steps = [float(rng.uniform(n_train, max(n_frames - 10, n_train + 1)))]  # one step in the test frames ...
    steps += list(rng.uniform(0, n_frames, int(rng.integers(1, 3))))  # ... and one or two anywhere
    ae = np.ones(n_frames)
    for at in steps:
        jump = rng.uniform(0.12, 0.3) * rng.choice([-1, 1])
        tau = rng.uniform(5, 15)
        after = t >= np.ceil(at)
        ae[after] += jump * (0.4 + 0.6 * np.exp(-(t[after] - np.ceil(at)) / tau))
    return drift * ae


def _make_moving_scene(
    scene: str, rng: np.random.Generator, height: int, width: int, n_train: int, n_test: int,
    noise_sigma: float, n_objects: int,
) -> Scene:
    """The scenes of :data:`NEW_SCENES` (see the module docstring)."""
    n_frames = n_train + n_test
    margin = _MARGIN if scene == "jitter" else 0
    ch, cw = height + 2 * margin, width + 2 * margin  # the canvas
    unit = width / 160
    water = canopy = None
    if scene == "water":
        background, lanes, water, canopy = _waterside(rng, ch, cw)
    elif scene == "trees":
        background, lanes, canopy = _park(rng, ch, cw, n_frames)
    else:
        background, lanes = _street(rng, ch, cw)

    def ground(lane: _Lane) -> NDArray[np.float64]:
        return background[max(lane.bottom - 3, 0) : lane.bottom + 1].reshape(-1, 3).mean(axis=0)

    movers = []
    per_100 = n_objects / 2 if scene == "trees" else n_objects  # people on foot linger: half as many
    for _ in range(int(round(per_100 * n_frames / 100))):  # traffic: n_objects movers per 100 frames
        lane = lanes[int(rng.integers(len(lanes)))]
        movers.append(_mover(rng, lane, n_frames, cw, unit, ground(lane)))
    if scene == "intermittent":  # a car and a person stop for 50-150 frames (fewer if the clip is short)
        for lane, arrive in ((lanes[2], (0, 10)), (lanes[3], (15, 30))):
            stop_at = n_train + int(rng.integers(min(arrive[0], n_test - 1), min(arrive[1], n_test - 1) + 1))
            left = max(n_frames - stop_at - (10 if lane.kind == "car" else 0), 1)
            stop_for = int(rng.integers(min(50, left), min(150, left) + 1))
            movers.append(_stopping_mover(rng, lane, n_frames, cw, unit, ground(lane), stop_at, stop_for))
    movers.sort(key=lambda m: m.bottom)  # far ones first: near movers hide them

    shifts = np.zeros((n_frames, 2))
    if scene == "jitter":  # the camera is 1-3 px (sub-pixel) away from its rest position, in any direction
        radius = rng.uniform(1, 3, n_frames)
        angle = rng.uniform(0, 2 * np.pi, n_frames)
        shifts = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    gain = _exposure_gain(rng, n_train, n_frames) if scene == "exposure" else np.ones(n_frames)
    clouds = None
    if scene == "exposure":  # slow cloud shadows drifting over the scene
        drift = rng.uniform(0.3, 0.6) * unit
        field = tx.value_noise(rng, ch, cw + int(np.ceil(drift * n_frames)) + 1, scale=50, octaves=3)
        clouds = (1 - 0.12 / (1 + np.exp(-2 * field)), drift)
    haze = None
    snow = None
    if scene == "weather":
        far, near = rng.uniform(0.35, 0.5), rng.uniform(0.12, 0.25)
        amount = np.linspace(far, near, ch)[:, None, None]
        haze = (amount, np.array([190.0, 195.0, 202.0]) + rng.normal(0, 5, 3))
        snow = _Snow(0.0008 * height * width, rng.uniform(-2, 2), unit, np.zeros((0, 7)))

    frames = np.empty((n_frames, height, width, 3), np.uint8)
    labels = np.full((n_frames, height, width), STATIC, np.uint8)
    stopped_px = np.zeros((n_frames, height, width), bool)
    particles = np.zeros((n_frames, height, width), bool)
    true_background = None
    for t in range(n_frames):
        image = background.copy()
        if water is not None:
            water.paint(image, t)
        if canopy is not None:
            canopy.paint(image, t)
        if clouds is not None:
            shade, speed = clouds
            offset = int(speed * t)
            image *= shade[:, offset : offset + cw, None]
        if haze is not None:
            image = image * (1 - haze[0]) + haze[1] * haze[0]
        if t == 0:
            true_background = image[margin : margin + height, margin : margin + width].copy()
        motion = np.zeros((ch, cw), bool)
        shadow = np.zeros((ch, cw), bool)
        still = np.zeros((ch, cw), bool)
        present = [m for m in movers if not np.isnan(m.x[t])]
        for m in present:  # shadows first: on the ground, under and behind the car
            if m.shadow:
                h, w = m.poses[0][1].shape
                left = int(np.floor(m.x[t] + 0.5))
                yy, xx = np.ogrid[0:ch, 0:cw]
                shadow |= ((yy - m.bottom) / max(0.2 * h, 1.0)) ** 2 + ((xx - left - 0.55 * w) / (0.6 * w)) ** 2 <= 1
        image[shadow] *= 0.6  # once: one sun's shadows do not compound where they overlap
        for m in present:
            walking = np.isfinite(m.stride) and not m.stopped[t]
            pose = int(abs(m.x[t]) // m.stride) % len(m.poses) if walking else 0
            sprite, alpha = m.poses[pose]
            h, w = alpha.shape
            top, left = m.bottom - h, int(np.floor(m.x[t] + 0.5))
            y0, y1, x0, x1 = max(top, 0), min(top + h, ch), max(left, 0), min(left + w, cw)
            if y0 >= y1 or x0 >= x1:
                continue
            a = alpha[y0 - top : y1 - top, x0 - left : x1 - left]
            image[y0:y1, x0:x1][a] = sprite[y0 - top : y1 - top, x0 - left : x1 - left][a]
            motion[y0:y1, x0:x1] |= a
            if m.stopped[t]:
                still[y0:y1, x0:x1] |= a
        image *= gain[t]
        if margin:
            dy, dx = shifts[t]
            image = _shift_crop(image, dy, dx, height, width)
            motion, shadow, still = (
                _shift_crop(mask.astype(float), dy, dx, height, width, cubic=False) > 0.5
                for mask in (motion, shadow, still)
            )
        if snow is not None:
            particles[t] = snow.paint(rng, image)
        image += rng.normal(0, noise_sigma, image.shape)
        frames[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        shadow &= ~motion
        labels[t][shadow] = SHADOW
        labels[t][motion] = MOTION
        edge = ndimage.binary_dilation(motion) & ~ndimage.binary_erosion(motion)
        labels[t][edge] = UNKNOWN
        stopped_px[t] = still
    labels[:n_train] = OUTSIDE
    info: dict[str, NDArray] = {}
    if scene == "jitter":
        info["shifts"] = shifts
    if scene == "weather":
        info["particles"] = particles
    if scene == "intermittent":
        info["stopped"] = stopped_px
    if scene == "exposure":
        info["gain"] = gain
    if canopy is not None and canopy.gust is not None:
        info["gust"] = canopy.gust
    assert true_background is not None
    return Scene(frames, labels, np.clip(np.rint(true_background), 0, 255).astype(np.uint8), n_train, info)
