"""scripts/decline_sensitivity.py: its cases from the screening's ranges, and its table rows."""

import numpy as np
import pandas as pd
from _scripts import load_script

decline = load_script("scripts/decline_sensitivity.py")


def test_cases_are_the_defaults_then_each_parameter_low_then_high(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('[sweep]\ndesign = "morris"\n[sweep.parameters]\n'
                    'b_first = { min = 0.5, max = 4.0 }\na_second = { min = 0, max = 1 }\n')
    assert decline.cases(spec, extra=[]) == [{}, {"b_first": 0.5}, {"b_first": 4.0},
                                             {"a_second": 0}, {"a_second": 1}]
    # further cases come last, as given
    assert decline.cases(spec, extra=[{"c": 2}])[-2:] == [{"a_second": 1}, {"c": 2}]


def test_the_repository_cases_cover_every_screened_parameter_at_both_ends():
    cases = decline.cases(extra=[])
    assert cases[0] == {}
    names = [next(iter(c)) for c in cases[1:]]
    # each parameter twice in a row, with its low end first
    assert names[::2] == names[1::2]
    for k in range(0, len(names), 2):
        assert cases[k + 1][names[k]] < cases[k + 2][names[k]]
    assert len(set(names)) == 24
    # then the magnet makers' Dy/Tb thrift switched off
    assert decline.cases()[-1:] == [{"magnet_heavy_thrift_rate_per_yr": 0.0}]


def test_joint_cases_are_every_pair_with_the_first_name_slowest():
    got = decline.joint_cases({"a": (1, 2), "b": (10, 20, 30)})
    assert got == [{"a": 1, "b": 10}, {"a": 1, "b": 20}, {"a": 1, "b": 30},
                   {"a": 2, "b": 10}, {"a": 2, "b": 20}, {"a": 2, "b": 30}]
    assert len(decline.joint_cases()) == 9
    assert decline.joint_cases()[-1] == {"substitution_threshold": 2.5,
                                         "magnet_heavy_thrift_rate_per_yr": 0.1}  # defaults


def _scored():
    # three targets of the decline pattern (one matched, one missed, one not comparable),
    # one other target (matched) and the peak quarter (missed)
    return pd.DataFrame({
        "id": ["V04", "V05", "V06", "V07", "V19"],
        "variable": ["price_light_world", "price_heavy_china", "price_light_world",
                     "price_light_world", "price_light_world"],
        "pattern": ["decline_2012_2015"] * 3 + ["post_wto_2015", "peak_2011_q3"],
        "match": [True, False, np.nan, True, False],
        "rel_error": [0.10, -0.50, np.nan, 0.20, np.nan],
        "model": [80.0, 30.0, np.nan, 50.0, 2011.5],
    })


def test_summary_counts_matches_and_averages_errors_of_comparable_targets():
    row = decline.summary({"substitution_threshold": 1.5}, _scored())
    assert row == {
        "case": "`substitution_threshold` = 1.5",
        # decline: V04 matched of V04, V05; mean of |0.10| and |-0.50| = 30%
        "decline": "1 of 2", "decline_error": "30%",
        # signed, by product: NdPr V04 +10% (V06 not comparable), Dy/Tb V05 -50%
        "ndpr_bias": "+10%", "dy_bias": "-50%",
        # all: V04 and V07 matched of V04, V05, V07, V19; mean of 0.10, 0.50, 0.20 = 27%
        "all": "2 of 4", "all_error": "27%",
        "peak": "2011Q3",
    }


def test_the_defaults_row_and_the_table_layout():
    row = decline.summary({}, _scored())
    assert row["case"] == "defaults"
    lines = decline.table([row]).splitlines()
    assert len(lines) == 3
    assert lines[1] == "|---|---|---|---|---|---|---|---|"
    assert lines[2] == "| defaults | 1 of 2 | 30% | +10% | -50% | 2 of 4 | 27% | 2011Q3 |"
