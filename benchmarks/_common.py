"""Shared helpers of the benchmark scripts: machine description, timers and table printing.

Imported by the ``bench_*.py`` scripts of this folder (run as ``python benchmarks/NAME.py``,
which puts this folder on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    """One paragraph describing the machine, the interpreter and the library versions."""
    import mesa
    import numpy
    import pandas
    import scipy

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                       .splitlines() if line.startswith("MemTotal"))
        mem = f"{mem_kib / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration):
        mem = "RAM ?"
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {mem}; "
            f"Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"scipy {scipy.__version__}, pandas {pandas.__version__}, mesa {mesa.__version__}; "
            f"load average at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, seconds."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pipes), numbers already formatted by the caller."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    width = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, width, strict=True)) + " |"
            for r in cells]
    line.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in width) + "|")
    return "\n".join(line)


def header(title: str) -> None:
    """Print the benchmark title, the date and the machine."""
    print(f"# {title}\n")
    print(time.strftime("Run %Y-%m-%d %H:%M UTC", time.gmtime()))
    print(f"Machine: {machine()}\n")
