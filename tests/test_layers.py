"""Layers point one way and nothing imports in a cycle (lazy imports included)."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    # the contracts (pyproject.toml [tool.importlinter]) cover function-level imports too
    out = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def _related(a: str, b: str) -> bool:
    """Whether one module is a package that contains the other (re-exports are not cycles)."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def test_no_module_imports_itself_through_others():
    # imports under `if TYPE_CHECKING:` are for annotations only and never run
    graph = grimp.build_graph("abm", "experiments", "abm_dashboard",
                              exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if _related(module, imported):
                continue
            if graph.chain_exists(importer=imported, imported=module, as_packages=False):
                cycles.append((module, imported))
    assert not cycles, cycles


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    # a planted two-module cycle through a function-level import is found
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyc import a\n    return a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyc")
    assert graph.chain_exists(importer="cyc.b", imported="cyc.a", as_packages=False)
    assert graph.chain_exists(importer="cyc.a", imported="cyc.b", as_packages=False)
