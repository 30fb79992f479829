"""The two cues of ``benchmarks/camouflage_cues.py`` on hand-made frames: each must find what it claims to (a pixel
that stopped moving, a patch that lost its texture) and nothing else."""

from __future__ import annotations

import numpy as np
from camouflage_cues import flatness, stillness


def test_stillness_finds_a_moving_pixel_that_holds_still_and_only_it():
    frames = np.full((10, 1, 3, 3), 100, np.uint8)
    frames[0:10:2, 0, 0] = 140  # pixel 0 flickers throughout: moving in training, moving in test
    frames[0:5:2, 0, 1] = 140  # pixel 1 flickers in training (frames 0-4), then holds still
    out = stillness(frames, 5, moving=30, still=10, window=3)
    assert not out[:3].any()  # not enough frames yet to say
    assert out[8:, 0, 1].all()  # still for 3 frames since frame 5
    assert not out[:, 0, 0].any()  # still moving
    assert not out[:, 0, 2].any()  # never moved: its stillness is no cue


def test_flatness_finds_a_patch_without_the_background_texture():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 16, 16, 3)).astype(np.uint8)  # texture everywhere ...
    frames[5, 3:13, 3:13] = 128  # ... but a flat patch in the last frame
    out = flatness(frames, 5, flat=0.25)
    assert out[5, 6:10, 6:10].all()  # the patch's inside, its whole 5x5 window flat
    assert not out[5, :2].any() and not out[:5].any()  # the texture, in the test frame and in training
