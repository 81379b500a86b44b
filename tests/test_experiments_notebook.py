"""The researcher's tutorial notebook runs top to bottom (so it cannot rot)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "experiments_tutorial.ipynb"


@pytest.mark.slow
def test_tutorial_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = {i: c for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    errors = [o for c in outputs.values() for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    text = "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
                     for c in outputs.values() for o in c.get("outputs", []))
    assert "nothing was written" in text  # the plan
    assert "Scenario discovery" in text and "coverage" in text
    assert "pure_nash" in text and "0.667" in text  # battle of the sexes, mixed 2/3
