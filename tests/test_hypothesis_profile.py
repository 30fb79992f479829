"""The Hypothesis profile: derandomized under CI, random exploration locally (tests/conftest.py)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import hypothesis_profile


def test_profile_is_chosen_by_ci_and_overridden_by_hypothesis_profile():
    assert hypothesis_profile({"CI": "true"}) == "ci"
    assert hypothesis_profile({}) == "dev"
    assert hypothesis_profile({"CI": "false"}) == "dev"
    assert hypothesis_profile({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}) == "dev"
    assert hypothesis_profile({"HYPOTHESIS_PROFILE": "ci"}) == "ci"


def test_ci_profile_draws_the_same_examples_every_run_and_dev_does_not():
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.deadline is None  # a slow shared CI machine: no deadline
    assert not settings.get_profile("dev").derandomize
    assert settings.get_profile("dev").deadline is None  # a first example loads numba kernels: no clock in tests
    assert settings.default.derandomize == (hypothesis_profile(os.environ) == "ci")

    def draws(profile: str) -> list[int]:
        seen: list[int] = []

        @settings(settings.get_profile(profile), max_examples=20)
        @given(st.integers(0, 10**9))
        def record(x: int) -> None:
            seen.append(x)

        record()
        return seen

    assert draws("ci") == draws("ci")
    assert draws("dev") != draws("dev")
