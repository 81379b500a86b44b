"""Code fingerprints: which model produced a result set.

A result directory records the SHA-256 of everything a run's numbers depend on besides the
spec: the ``abm`` package's code and data (``.py``, ``.toml``, ``.csv``), the module of a
``--simulate`` hook, the modules of custom outcomes (``[[metrics]] function``), and scenario
TOML files given by path (with the CSVs of their ``data_dir``). A resumed sweep refuses to mix
results of two fingerprints, and every worker (local or Dask) computes the fingerprint of the
code *it* imports and refuses to run when it differs from the submitter's.

The submitter computes the fingerprint from the files; a worker computes it once per process
(:func:`imported_code_fingerprint`), so it pays once.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import tomllib
from pathlib import Path

CODE_SUFFIXES = (".py", ".toml", ".csv")


def module_files(module_name: str) -> tuple[Path, list[Path]]:
    """Return (root, files) of an importable module: its package's files, or its own file.

    Raises:
        ImportError: The module cannot be imported.
    """
    module = importlib.import_module(module_name)
    path = Path(module.__file__ or "").resolve()
    root = path.parent if path.name == "__init__.py" else path
    if root.is_file():
        return root.parent, [root]
    files = sorted(
        p for p in root.rglob("*")
        if p.suffix in CODE_SUFFIXES and p.is_file() and "__pycache__" not in p.parts
    )
    return root.parent, files


def scenario_files(scenario: str) -> list[Path]:
    """Return the files a scenario given by path depends on ([] for a shipped name).

    The TOML itself and, when it names a ``data_dir``, that folder's CSV files.
    """
    path = Path(scenario)
    if not (path.suffix == ".toml" or path.exists()) or not path.is_file():
        return []
    files = [path.resolve()]
    try:
        data_dir = tomllib.loads(path.read_text(encoding="utf-8")).get("data_dir")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return files  # the model reports the problem; the file's bytes still count
    if isinstance(data_dir, str):
        folder = (path.parent / data_dir).resolve()
        if folder.is_dir():
            files += sorted(p for p in folder.glob("*.csv") if p.is_file())
    return files


def _module_of(path: str) -> str:
    return path.partition(":")[0]


@functools.cache
def imported_code_fingerprint(simulate: str, scenarios: tuple[str, ...] = (),
                              functions: tuple[str, ...] = ()) -> str:
    """:func:`code_fingerprint`, computed once per process: the code a worker imported.

    Python does not reload a module whose file changes, so what a worker process runs is
    what it imported; the files' state at its first check stands for that.
    """
    return code_fingerprint(simulate, scenarios, functions)


def code_fingerprint(simulate: str, scenarios: tuple[str, ...] = (),
                     functions: tuple[str, ...] = ()) -> str:
    """Return the SHA-256 of the code and data a sweep's runs depend on.

    Args:
        simulate: ``"module:function"`` of the simulate callable (``abm:simulate``).
        scenarios: Scenario names or TOML paths the design runs.
        functions: ``"module:callable"`` of custom outcomes.

    Returns:
        A hex digest over the ``abm`` package, the simulate module's package (a hook's file),
        the outcome modules and the scenario files given by path (names and bytes).

    Raises:
        ImportError: A module cannot be imported.
        OSError: A file cannot be read.
    """
    digest = hashlib.sha256()
    modules = list(dict.fromkeys(["abm", _module_of(simulate), *map(_module_of, functions)]))
    seen: set[Path] = set()
    for name in modules:
        root, files = module_files(name)
        for p in files:
            if p in seen:
                continue
            seen.add(p)
            digest.update(f"module {name} {p.relative_to(root)}\0".encode())
            digest.update(p.read_bytes())
    for scenario in scenarios:
        for p in scenario_files(scenario):
            digest.update(f"scenario {scenario} {p.name}\0".encode())
            digest.update(p.read_bytes())
    return digest.hexdigest()

