"""The docs agree with the code: generated README tables, no file cited from outside."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_are_generated_from_the_registries():
    out = subprocess.run([sys.executable, "scripts/readme_tables.py", "--check"], cwd=ROOT)
    assert out.returncode == 0, "README.md is stale: run .venv/bin/python scripts/readme_tables.py"


@pytest.mark.slow
@pytest.mark.parametrize("script", ["strategic_summary.py", "alliance_comparison.py"])
def test_readme_tables_from_scenario_runs_are_what_the_scripts_print(script):
    # the tables of the `strategic` summary and of the 200-firm alliance comparison are copied
    # into the README by hand: every table row the script prints must be there verbatim
    out = subprocess.run([sys.executable, f"scripts/{script}"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) >= 8
    text = (ROOT / "README.md").read_text()
    stale = [row for row in rows if row not in text]
    assert not stale, f"README.md is stale: paste the output of scripts/{script}: {stale}"


def test_readme_lists_every_parameter_and_column_family():
    import abm

    text = (ROOT / "README.md").read_text()
    for name in abm.PARAMS:
        assert f"| `{name}` |" in text, name
    for col in abm.COLUMNS:
        assert f"| `{col.name}` |" in text, col.name


def test_nothing_cites_a_file_outside_the_repository():
    outside = ("DESIGN" + ".md", "rare-earth-" + "facts", "shared/" + "reference")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    hits = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".png", ".parquet") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        hits += [f"{name}: {w}" for w in outside if w in text]
    assert not hits, hits


def test_docs_exist_and_name_the_modules_they_describe():
    arch = (ROOT / "docs" / "architecture.md").read_text()
    for module in ("market.py", "policy.py", "actions.py", "strategies.py", "exchange.py",
                   "agents/state.py", "agents/miner.py", "agents/firms.py", "model.py",
                   "columns.py", "params.py"):
        assert module in arch, module
    odd = (ROOT / "docs" / "odd.md").read_text()
    for element in ("Purpose", "Entities, state variables", "Process overview", "Design concepts",
                    "Initialization", "Input data", "Submodels"):
        assert re.search(element, odd), element
