"""docs/validation.md is what `python -m experiments validate` writes today (not a stale copy)."""

import shutil
from pathlib import Path

import pytest

from experiments.validate import GENERATED_MARKER, validate

PAGE = Path(__file__).resolve().parents[1] / "docs" / "validation.md"

pytestmark = pytest.mark.slow


def test_the_validation_page_is_what_the_command_generates(tmp_path):
    page = tmp_path / "docs" / "validation.md"
    page.parent.mkdir()
    shutil.copyfile(PAGE, page)
    validate(tmp_path / "runs", seeds=5, workers=1, progress=False, docs=page)
    committed = PAGE.read_text(encoding="utf-8")
    regenerated = page.read_text(encoding="utf-8")
    assert GENERATED_MARKER in committed, "docs/validation.md has no generated part"
    stale = committed.split(GENERATED_MARKER)[1] != regenerated.split(GENERATED_MARKER)[1]
    assert not stale, ("docs/validation.md is stale: run .venv/bin/python -m experiments "
                       "validate --seeds 5 --out results/validation --docs docs/validation.md")
