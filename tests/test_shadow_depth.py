"""``benchmarks/shadow_depth.py``: the brightness ratio of labelled shadows, on hand-made frames and on what the
generator draws (the ratio that tells whether the default's shadow band covers a sequence's shadows)."""

from __future__ import annotations

import numpy as np
import pytest
import shadow_depth

from bgsub.metrics import SHADOW, STATIC
from bgsub.presets import preset_settings


def test_only_shadow_pixels_give_a_ratio_and_it_is_the_darkening():
    background = np.full((4, 5, 3), (100.0, 150.0, 200.0))
    background[3, 4] = 0.0  # a black background pixel has no ratio
    frame = background.copy()
    frame[:2] *= 0.3
    labels = np.full((4, 5), STATIC, np.uint8)
    labels[0] = SHADOW
    labels[3] = SHADOW
    ratios = shadow_depth.shadow_ratios(frame, labels, background)
    assert ratios.shape == (9,)  # row 0, and row 3 less its black pixel; row 1 is darkened but not labelled
    np.testing.assert_allclose(np.sort(ratios), [0.3] * 5 + [1.0] * 4)


def test_the_generated_shadows_lie_inside_the_default_s_band():
    # the generator darkens a cast shadow to 0.55 of its light (bgsub/synth.py), so no validation shadow is darker
    # than shadow_tau: what the README says of the validation set's coverage
    ratios = shadow_depth.synthetic_ratios("shadows", seed=5)
    assert ratios.size > 10_000
    assert np.median(ratios) == pytest.approx(0.55, abs=0.01)
    assert (ratios < preset_settings("default")["shadow_tau"]).mean() < 0.001
