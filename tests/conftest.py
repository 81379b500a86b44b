"""Shared fixtures: cached scenario runs (the model is deterministic per seed)."""

import functools

import pytest

import abm


@functools.cache
def _run(scenario: str, seed: int, steps, items: tuple):
    return abm.simulate(scenario, steps=steps, rng=seed, **dict(items))


@pytest.fixture(scope="session")
def run():
    """run(scenario, seed=0, steps=None, **overrides) -> DataFrame (cached; do not mutate)."""

    def _call(scenario, seed=0, steps=None, **overrides):
        return _run(scenario, seed, steps, tuple(sorted(overrides.items()))).copy()

    return _call
