"""The rule that chose the default's levers (``benchmarks/validate_levers.py``), on hand-made F tables.

The rule is how every setting of the ``default`` preset was chosen, so its arithmetic and its clauses are
pinned here: the category score, admissibility (no scene more than 0.01 under the default, highway
470-899 at least 0.965), the 0.005 minimum gain, and the clause for one scene mended under that minimum.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import validate_levers as vl

from bgsub.synth import CDNET_CATEGORY, make_scene

#: Every synthetic kind at 0.9 and highway at 0.97: seven categories, baseline holding static and highway.
DEFAULT = {kind: 0.9 for kind in CDNET_CATEGORY} | {"highway": 0.97}


def _choose(**candidates: dict[str, float]) -> str:
    return vl.apply_rule({"default": DEFAULT} | {name: DEFAULT | changes for name, changes in candidates.items()})[0]


def test_the_score_is_the_mean_over_categories_of_their_members_means():
    score, means = vl.category_score(DEFAULT | {"departed": 0.93})
    assert len(means) == 7
    assert means["intermittentObjectMotion"] == pytest.approx((0.9 + 0.93 + 0.9) / 3)  # parked, departed, intermittent
    assert means["baseline"] == pytest.approx((0.9 + 0.97) / 2)  # static and highway
    assert score == pytest.approx((5 * 0.9 + 0.91 + 0.935) / 7)


def test_a_gain_of_the_minimum_on_the_score_is_chosen_and_a_smaller_one_is_not():
    # every scene up by the same amount: the score moves by it, and no scene gains the clause's 0.01
    assert _choose(big={scene: f + 0.0051 for scene, f in DEFAULT.items()}) == "big"
    assert _choose(small={scene: f + 0.0049 for scene, f in DEFAULT.items()}) == "default"


def test_a_candidate_that_drops_a_scene_or_highway_under_its_floor_is_not_admissible():
    assert _choose(drop={"shadows": 1.0, "water": 0.889}) == "default"
    assert _choose(highway={"shadows": 1.0, "highway": 0.964}) == "default"
    assert _choose(within={"shadows": 1.0, "water": 0.891}) == "within"


def test_one_scene_mended_under_the_minimum_gain_is_chosen_when_nothing_else_loses_more_than_the_clause_allows():
    # departed is one of three kinds of a category of seven: +0.025 moves the score by 0.0012, under 0.005
    assert vl.category_score(DEFAULT | {"departed": 0.925})[0] - vl.category_score(DEFAULT)[0] < vl.MIN_GAIN
    assert _choose(mended={"departed": 0.925, "jitter": 0.898}) == "mended"
    assert _choose(costly={"departed": 0.925, "intermittent": 0.894}) == "default"  # a loss over 0.005
    assert _choose(slight={"departed": 0.909}) == "default"  # a gain under 0.01
    assert _choose(lower={"departed": 0.912, "static": 0.896, "shadows": 0.896, "weather": 0.896}) == "default"


def test_the_clause_takes_the_best_score_among_mended_candidates_and_never_overrides_a_full_gain():
    assert _choose(a={"departed": 0.92}, b={"departed": 0.93}) == "b"
    assert _choose(mended={"departed": 0.95}, full={"shadows": 0.9 + 7 * 0.006, "water": 0.893}) == "full"


def test_an_enlarged_scene_is_the_same_scene_with_every_distance_doubled() -> None:
    """``--zoom 2`` (the tenth freeze's run): labels repeated 2x2, frames bilinear, a flat region keeps its value,
    and a zoom of 1 is the scene itself."""
    scene = make_scene("static", seed=0, height=24, width=32, n_train=4, n_test=3)
    assert vl.zoomed(scene, 1) is scene
    big = vl.zoomed(scene, 2)
    assert big.frames.shape == (7, 48, 64, 3) and big.frames.dtype == np.uint8 and big.n_train == scene.n_train
    np.testing.assert_array_equal(big.labels, scene.labels.repeat(2, axis=1).repeat(2, axis=2))
    flat = np.full((1, 6, 6, 3), 77, np.uint8)
    np.testing.assert_array_equal(vl.zoomed(dataclasses.replace(scene, frames=flat), 2).frames, 77)


def test_the_output_names_the_seeds_each_kind_read():
    # the declared seeds (bgsub.synth.SCENE_SEEDS), then seed 1000 + 20 j + the kind's position for the (j+1)th
    assert vl.seeds_read(["static", "jitter"], "validation") == (
        "seeds read (the 1st of each kind's validation seeds): static 0; jitter 107")
    assert vl.seeds_read(["jitter"], "validation", 2, skip_seeds=35) == (
        "seeds read (the 36th-37th of each kind's validation seeds): jitter 1707, 1727")
    assert vl.seeds_read(["trees"], "test", 3, skip_seeds=10) == (
        "seeds read (the 11th-13th of each kind's test seeds): trees 2212, 2232, 2252")
    assert vl.seeds_read(["static"], "test", 3, skip_seeds=20).startswith("seeds read (the 21st-23rd of")
