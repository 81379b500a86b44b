"""Load a repository script (scripts/, benchmarks/) as a module, for the tests of its helpers."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str) -> ModuleType:
    """Import ``ROOT/relative_path`` under its file name (its folder goes on ``sys.path``,
    since the benchmark scripts import their shared helpers from there)."""
    path = ROOT / relative_path
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
