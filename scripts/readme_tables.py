"""Regenerate the README's generated tables (parameters, output columns, strategies).

Each table sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers and is
produced by :mod:`abm.catalogue`; ``tests/test_docs.py`` fails when the README is stale.

    .venv/bin/python scripts/readme_tables.py          # rewrite README.md in place
    .venv/bin/python scripts/readme_tables.py --check  # exit 1 if README.md is stale
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from abm import catalogue

README = Path(__file__).resolve().parents[1] / "README.md"
TABLES = {"params": catalogue.params_table, "columns": catalogue.columns_table,
          "strategies": catalogue.strategies_table}


def render(text: str) -> str:
    """The README text with every generated table replaced by its current version."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md lacks the markers for the {name} table")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    """Rewrite (or with --check, compare) the README."""
    text = README.read_text()
    new = render(text)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
