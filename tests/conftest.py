"""Shared fixtures: cached scenario runs (the model is deterministic per seed), and the
browser modules' chromium (one per module, replaced if it died).

Property tests (hypothesis) are derandomized by default, so ``make test`` draws the same
examples on every machine and a failure is a regression, never luck;
``HYPOTHESIS_PROFILE=explore`` draws new ones (run it now and then, and turn what it finds into
a fixed test).
"""

import functools
import os

import pytest
from hypothesis import settings

import abm
from tests.browser_support import chromium_keeper

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@functools.cache
def _run(scenario: str, seed: int, steps, items: tuple):
    return abm.simulate(scenario, steps=steps, rng=seed, **dict(items))


@pytest.fixture(scope="session")
def run():
    """run(scenario, seed=0, steps=None, **overrides) -> DataFrame (cached; do not mutate)."""

    def _call(scenario, seed=0, steps=None, **overrides):
        return _run(scenario, seed, steps, tuple(sorted(overrides.items()))).copy()

    return _call


@pytest.fixture(scope="module")
def _chromium():
    with chromium_keeper() as keep:
        yield keep


@pytest.fixture
def browser(_chromium):
    """A headless Debian chromium, shared by the module's tests (a new one if it died)."""
    return _chromium()
