"""scripts/panic_probe.py: its cases and its table, on hand-made rows."""

from _scripts import load_script

import abm

probe = load_script("scripts/panic_probe.py")


def test_the_first_case_is_the_model_as_it_is_and_every_case_names_real_parameters():
    assert probe.CASES[0] == {}
    for case in probe.CASES[1:]:
        assert case["panic_weight"] > 0
        for name, value in case.items():
            param = abm.PARAMS[name]
            assert param.lo <= value <= param.hi


def test_the_table_has_a_row_per_case_in_order():
    rows = [{"case": "defaults", "calibration": "5 of 7", "decline": "0 of 14",
             "decline_error": "91%", "all": "20 of 66", "all_error": "50%", "peak": "2012Q3",
             "path": "55, 150"},
            {"case": "`panic_weight` = 0.7", "calibration": "5 of 7", "decline": "6 of 14",
             "decline_error": "36%", "all": "23 of 66", "all_error": "44%", "peak": "2011Q2",
             "path": "121, 210"}]
    lines = probe.table(rows).splitlines()
    assert len(lines) == 4 and lines[1].count("|") == 9
    assert lines[2] == "| defaults | 5 of 7 | 0 of 14 | 91% | 20 of 66 | 50% | 2012Q3 | 55, 150 |"
    assert lines[3].startswith("| `panic_weight` = 0.7 | 5 of 7 | 6 of 14 | 36% |")
