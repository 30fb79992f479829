"""Procedural textures for synthetic scenes: value noise, surfaces (asphalt, pavement, grass, brick, sky,
leaves, water) and textured movers (cars, boats, walking people).

Every function draws what is random from the ``numpy.random.Generator`` it is given, so a scene built
from one generator is deterministic from its seed. Images are ``(H, W, 3)`` float64 RGB on the 0-255
scale, not clipped (the scene clips once, after noise); sprites come with an ``alpha (h, w)`` bool mask.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = [
    "value_noise",
    "asphalt",
    "pavement",
    "grass",
    "brick_wall",
    "sky",
    "leaves",
    "car_sprite",
    "boat_sprite",
    "person_sprites",
    "CAR_COLOURS",
    "CLOTH_COLOURS",
]

Image = NDArray[np.float64]
Sprite = tuple[NDArray[np.float64], NDArray[np.bool_]]

CAR_COLOURS = np.array([
    [225, 225, 220], [172, 174, 178], [32, 32, 35], [72, 74, 78], [165, 32, 30], [38, 62, 140],
    [40, 92, 62], [192, 176, 140], [212, 180, 45], [110, 40, 50],
], float)
CLOTH_COLOURS = np.array([
    [40, 40, 45], [200, 200, 205], [160, 35, 40], [40, 70, 150], [60, 110, 70], [180, 150, 100],
    [120, 120, 125], [90, 60, 40], [220, 190, 60], [130, 80, 150],
], float)
SKIN_COLOURS = np.array([[230, 190, 160], [200, 150, 115], [150, 100, 70], [95, 65, 45]], float)


def value_noise(
    rng: np.random.Generator, height: int, width: int, *, scale: float = 16.0, octaves: int = 4,
    persistence: float = 0.5,
) -> Image:
    """Multi-octave value noise ``(height, width)``, zero mean and unit standard deviation.

    Octave ``o`` is a grid of Gaussian values every ``scale / 2**o`` pixels, interpolated by cubic
    splines; its amplitude is ``persistence**o``.

    Examples
    --------
    >>> n = value_noise(np.random.default_rng(0), 20, 30, scale=8)
    >>> n.shape, round(float(n.std()), 6)
    ((20, 30), 1.0)
    """
    total = np.zeros((height, width))
    for o in range(octaves):
        cell = max(scale / 2**o, 1.0)
        grid = rng.standard_normal((int(height / cell) + 4, int(width / cell) + 4))
        yy = np.arange(height) / cell + 1.0
        xx = np.arange(width) / cell + 1.0
        coords = np.meshgrid(yy, xx, indexing="ij")
        total += persistence**o * ndimage.map_coordinates(grid, coords, order=3, mode="nearest")
    std = total.std()
    return (total - total.mean()) / (std if std > 0 else 1.0)


def _tint(rng: np.random.Generator, grey: Image, spread: float) -> Image:
    """A grey image ``(H, W)`` as RGB with a small random colour cast per channel."""
    return grey[..., None] + rng.normal(0, spread, 3)


def asphalt(rng: np.random.Generator, height: int, width: int) -> Image:
    """Road surface: mid grey, blotchy wear at several scales, fine grain and a few dark tar patches."""
    base = rng.uniform(85, 125)
    grey = base + 9 * value_noise(rng, height, width, scale=28, octaves=4)
    grey += 5 * ndimage.gaussian_filter(rng.normal(0, 1.5, (height, width)), 0.6)
    tar = value_noise(rng, height, width, scale=10, octaves=2) > 1.6
    grey[tar] *= 0.8
    return _tint(rng, grey, 2.0)


def pavement(rng: np.random.Generator, height: int, width: int, *, tile: int = 12) -> Image:
    """Concrete slabs: light grey tiles with darker joints and per-slab shade."""
    tile = max(int(tile), 3)
    base = rng.uniform(140, 180)
    n_y, n_x = height // tile + 2, width // tile + 2
    shade = rng.normal(0, 6, (n_y, n_x))
    yy, xx = np.mgrid[0:height, 0:width]
    grey = base + shade[yy // tile, xx // tile] + 6 * value_noise(rng, height, width, scale=6, octaves=3)
    joints = (yy % tile == 0) | (xx % tile == 0)
    grey[joints] -= 30
    return _tint(rng, grey, 3.0)


def grass(rng: np.random.Generator, height: int, width: int) -> Image:
    """Grass: green with patchy light and dark areas and short vertical blade streaks."""
    colour = np.array([70.0, 112.0, 45.0]) * rng.uniform(0.85, 1.15)
    patches = 1 + 0.18 * value_noise(rng, height, width, scale=24, octaves=4)
    blades = ndimage.gaussian_filter(rng.normal(0, 1, (height, width)), (1.5, 0.4))
    dry = 0.5 + 0.5 * np.tanh(value_noise(rng, height, width, scale=30, octaves=2))
    image = colour * patches[..., None] + 40 * blades[..., None] * np.array([0.5, 1.0, 0.4])
    return image + 25 * dry[..., None] * np.array([1.0, 0.5, 0.2])


def brick_wall(rng: np.random.Generator, height: int, width: int, *, brick: tuple[int, int] = (6, 14)) -> Image:
    """A brick wall: bricks of varied red-brown in offset courses, light mortar, weathering."""
    bh, bw = max(brick[0], 3), max(brick[1], 4)
    base = np.array([150.0, 75.0, 55.0]) * rng.uniform(0.8, 1.15)
    yy, xx = np.mgrid[0:height, 0:width]
    course = yy // bh
    shifted = xx + (course % 2) * (bw // 2)
    n_courses, n_cols = height // bh + 2, width // bw + 3
    shades = base * rng.uniform(0.75, 1.2, (n_courses, n_cols, 1))
    image = shades[course, shifted // bw]
    image = image * (1 + 0.08 * value_noise(rng, height, width, scale=5, octaves=2))[..., None]
    mortar = (yy % bh == 0) | (shifted % bw == 0)
    image[mortar] = np.array([175.0, 170.0, 160.0]) + rng.normal(0, 5, (int(mortar.sum()), 1))
    grime = 1 - 0.15 * np.clip(value_noise(rng, height, width, scale=30, octaves=3), 0, None)
    return image * grime[..., None]


def sky(rng: np.random.Generator, height: int, width: int) -> Image:
    """A sky: blue at the top fading to pale at the horizon, with soft clouds."""
    top = np.array([95.0, 140.0, 205.0]) + rng.normal(0, 8, 3)
    horizon = np.array([200.0, 212.0, 228.0]) + rng.normal(0, 5, 3)
    f = np.linspace(0, 1, height)[:, None, None] ** 0.7
    image = np.broadcast_to(top * (1 - f) + horizon * f, (height, width, 3)).copy()
    clouds = np.clip(value_noise(rng, height, width, scale=40, octaves=4) - 0.3, 0, None)
    return image + 45 * clouds[..., None]


def leaves(rng: np.random.Generator, height: int, width: int) -> tuple[Image, NDArray[np.float64]]:
    """A tree canopy: leaf clumps in several greens with shading, and its coverage.

    Returns
    -------
    image : ndarray of shape (height, width, 3)
    coverage : ndarray of shape (height, width)
        Smooth field; the canopy is where it is positive (gaps show what is behind).
    """
    palette = np.array([[48, 82, 38], [78, 122, 52], [110, 150, 70], [30, 55, 30]], float)
    palette *= rng.uniform(0.85, 1.15, (1, 3))
    fine = value_noise(rng, height, width, scale=3, octaves=2)
    which = np.digitize(fine, [-0.8, 0.1, 0.9])
    light = 1 + 0.25 * value_noise(rng, height, width, scale=14, octaves=3)
    image = palette[which] * light[..., None]
    coverage = value_noise(rng, height, width, scale=12, octaves=3) + 0.6
    return image, coverage


def _rounded_box(h: int, w: int, radius: float) -> NDArray[np.bool_]:
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    dy = np.maximum(np.maximum(radius - yy, yy - (h - radius)), 0)
    dx = np.maximum(np.maximum(radius - xx, xx - (w - radius)), 0)
    return dy**2 + dx**2 <= radius**2


def car_sprite(rng: np.random.Generator, length: int, colour: NDArray[np.float64]) -> Sprite:
    """A car seen from the side, ``length`` pixels long: body, cabin with windows, wheels, shading.

    Returns ``(image (h, w, 3), alpha (h, w) bool)`` with ``w = length`` and ``h`` about 0.5 ``length``.
    """
    w = max(int(length), 4)
    h = max(int(round(w * rng.uniform(0.42, 0.52))), 3)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    body = np.zeros((h, w), bool)
    r0, r1 = int(0.38 * h), int(0.86 * h)
    body[r0:r1] = _rounded_box(r1 - r0, w, max(1.0, 0.12 * h))
    c0, c1 = rng.uniform(0.18, 0.28) * w, rng.uniform(0.7, 0.8) * w
    slope = 0.25 * w * (0.38 * h - yy) / max(0.38 * h, 1)  # the cabin narrows upwards
    cabin = (yy >= 0.05 * h) & (yy < 0.4 * h) & (xx > c0 + slope) & (xx < c1 - slope)
    wheel_r = 0.16 * h
    wheels = np.zeros((h, w), bool)
    for cx in (0.2 * w, 0.8 * w):
        wheels |= (yy - (h - wheel_r)) ** 2 + (xx - cx) ** 2 <= wheel_r**2
    windows = cabin & (yy > 0.12 * h) & (np.abs(xx - (c0 + c1) / 2) > 0.02 * w + 0.5)
    windows &= (xx > c0 + slope + 1) & (xx < c1 - slope - 1)
    shade = 1.12 - 0.3 * yy / h
    image = colour * shade[..., None] + rng.normal(0, 3, (h, w, 1))
    image[int(0.4 * h)] += 25  # a highlight along the body's top edge
    image[windows] = np.array([55.0, 65.0, 80.0]) + 35 * (1 - yy[windows] / (0.4 * h))[:, None]
    image[wheels] = np.array([28.0, 28.0, 30.0])
    return image, body | cabin | wheels


def boat_sprite(rng: np.random.Generator, length: int, colour: NDArray[np.float64]) -> Sprite:
    """A small boat seen from the side: a hull tapering at the bow, a cabin, a dark waterline."""
    w = max(int(length), 4)
    h = max(int(round(w * rng.uniform(0.35, 0.45))), 3)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    hull = (yy >= 0.45 * h) & (xx > (yy - 0.45 * h) * 0.6) & (xx < w - (h - yy) * 0.2)
    cabin = (yy >= 0.05 * h) & (yy < 0.46 * h) & (xx > 0.3 * w) & (xx < 0.7 * w)
    image = colour * (1.1 - 0.25 * yy / h)[..., None] + rng.normal(0, 3, (h, w, 1))
    image[cabin] = np.array([225.0, 225.0, 220.0]) * rng.uniform(0.8, 1.0)
    image[cabin & (yy > 0.15 * h) & (yy < 0.3 * h)] = np.array([50.0, 60.0, 75.0])
    image[yy > 0.85 * h] *= 0.5
    return image, hull | cabin


def person_sprites(rng: np.random.Generator, height: int, *, shirt: NDArray[np.float64],
                   trousers: NDArray[np.float64]) -> list[Sprite]:
    """A walking person ``height`` pixels tall, in two poses (legs together, legs apart).

    Head (skin and hair), torso with arms in the shirt colour, legs in the trousers colour.
    """
    h = max(int(height), 6)
    w = max(int(round(h * 0.4)), 3)
    skin = SKIN_COLOURS[rng.integers(len(SKIN_COLOURS))]
    hair = np.array([35.0, 28.0, 22.0]) * rng.uniform(0.7, 2.5)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx = w / 2
    head = ((yy - 0.09 * h) / (0.09 * h)) ** 2 + ((xx - cx) / (0.16 * h)) ** 2 <= 1
    torso = (yy >= 0.17 * h) & (yy < 0.56 * h) & (np.abs(xx - cx) <= 0.5 * w - 0.5 * (yy < 0.2 * h))
    grain = rng.normal(0, 4, (h, w, 1))
    sprites = []
    for apart in (0.0, 1.0):
        spread = 0.08 * w + apart * 0.22 * w
        legs = (yy >= 0.55 * h) & (
            (np.abs(xx - (cx - spread - 0.1 * w * apart * (yy - 0.55 * h) / (0.45 * h))) <= 0.15 * w + 0.5)
            | (np.abs(xx - (cx + spread + 0.1 * w * apart * (yy - 0.55 * h) / (0.45 * h))) <= 0.15 * w + 0.5)
        )
        image = np.zeros((h, w, 3)) + grain
        image[torso] += shirt * (1.05 - 0.2 * (yy[torso] - 0.17 * h)[:, None] / h)
        image[legs & ~torso] += trousers
        image[head] += skin
        image[head & (yy < 0.06 * h)] = hair
        sprites.append((image, head | torso | legs))
    return sprites
