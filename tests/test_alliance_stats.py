"""The paired statistics of scripts/alliance_comparison.py, by hand."""

import pandas as pd
import pytest
from _scripts import load_script

ac = load_script("scripts/alliance_comparison.py")


def test_paired_ci_is_the_student_t_interval_of_the_seed_differences():
    # 1..10: mean 5.5, sample sd sqrt(82.5 / 9) = 3.02765; t(0.975, 9) = 2.262157 (tables)
    mean, lo, hi = ac.paired_ci(pd.Series(range(1, 11), dtype=float))
    half = 2.262157 * 3.0276504 / 10 ** 0.5
    assert mean == pytest.approx(5.5)
    assert (lo, hi) == pytest.approx((5.5 - half, 5.5 + half), abs=1e-5)


@pytest.mark.parametrize(("cis", "words"), [
    ([(-2, -3, -1), (-1, -1.5, -0.5)], "holds at every size"),
    ([(-2, -3, -1), (1, -1, 3)], "CI spans 0 at some size"),
    ([(0.5, -1, 2), (-0.5, -2, 1)], "CI spans 0 at every size"),
    ([(-2, -3, -1), (2, 1, 3)], "opposite signs (both CIs exclude 0)"),
    ([(2, 1, 3), (3, 2, 4), (-1, -2, 1)], "CI spans 0 at some size"),
])
def test_verdict_calls_a_difference_a_result_only_away_from_zero_at_every_size(cis, words):
    assert ac.verdict(cis) == words
