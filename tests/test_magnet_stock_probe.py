"""scripts/magnet_stock_probe.py: its cases, its counts and tables on hand-made rows, and the
tables docs/validation.md quotes."""

from pathlib import Path

import pandas as pd
import pytest
from _scripts import load_script

import abm

ROOT = Path(__file__).resolve().parents[1]
probe = load_script("scripts/magnet_stock_probe.py")


def test_each_scenario_starts_with_the_published_model_and_the_cases_name_real_parameters():
    firsts = {}
    for scenario, licensed, overrides in probe.CASES:
        firsts.setdefault(scenario, (licensed, overrides))
        assert scenario in probe.PATTERNS
        for name, value in overrides.items():
            param = abm.PARAMS[name]
            assert param.lo <= value <= param.hi
    assert firsts == {"controls_2025": (False, {}), "quota_2010": (False, {})}
    assert probe.MAGNET_LICENCE["product"] == "magnet" and probe.MAGNET_LICENCE["date"] == \
        "2025-04"


def test_counts_leave_out_targets_the_run_cannot_score():
    scored = pd.DataFrame({"match": [True, False, None, True]})
    assert probe._count(scored) == "2 of 3"
    assert probe._pct(0.456) == "46%" and probe._pct(float("nan")) == "-"


def test_one_table_per_scenario_with_a_column_per_pattern():
    rows = [{"scenario": "quota_2010", "case": "defaults", "calibration": "5 of 7",
             "validation": "20 of 66 (50%)", "magnet_cycle_2010_2013": "0 of 3 (42%)",
             "decline_2012_2015": "0 of 14 (91%)"}]
    lines = probe.table(rows).splitlines()
    assert lines[0].startswith("`quota_2010` (seeds 0-1)")
    assert lines[2] == ("| case | calibration | validation | `magnet_cycle_2010_2013` | "
                        "`decline_2012_2015` |")
    assert lines[4] == "| defaults | 5 of 7 | 20 of 66 (50%) | 0 of 3 (42%) | 0 of 14 (91%) |"
    assert "controls_2025" not in probe.table(rows)  # no rows, no table


@pytest.mark.slow
def test_the_tables_in_the_validation_page_are_the_probes():
    rows = [probe.row(case) for case in probe.CASES]
    text = (ROOT / "docs" / "validation.md").read_text()
    assert probe.table(rows) in text, "docs/validation.md is stale: run the probe"

    def error(case, column):  # "4 of 16 (81%)" -> "81%"
        return next(r[column] for r in rows if r["case"] == case).split("(")[1].rstrip(")")

    published = error("defaults", "validation")  # controls_2025's row comes first
    licensed = error("`magnet_stock_cover_months` = 3 + magnets licensed", "validation")
    decline = [r["decline_2012_2015"].split("(")[1].rstrip(")") for r in rows
               if r["scenario"] == "quota_2010"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    page = " ".join(text.split())
    for doc, name, quoted in (
            (readme, "README.md", f"validation error from {published} to {licensed}"),
            (readme, "README.md", f"({decline[1]} against {decline[0]})"),
            (page, "docs/validation.md", f"`controls_2025` from {published} to {licensed}"),
            (page, "docs/validation.md", f"(mean error {decline[1]} against {decline[0]})")):
        assert quoted in doc, f"{name} is stale: {quoted}"
