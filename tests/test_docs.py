"""The docs agree with the code: generated README tables, no file cited from outside."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_are_generated_from_the_registries():
    out = subprocess.run([sys.executable, "scripts/readme_tables.py", "--check"], cwd=ROOT)
    assert out.returncode == 0, "README.md is stale: run .venv/bin/python scripts/readme_tables.py"


def test_readme_lists_every_parameter_and_column_family():
    import abm

    text = (ROOT / "README.md").read_text()
    for name in abm.PARAMS:
        assert f"| `{name}` |" in text, name
    for col in abm.COLUMNS:
        assert f"| `{col.name}` |" in text, col.name
