"""Command line: ``python -m abm list`` and ``python -m abm run --scenario NAME ...``.

Bad input (unknown scenario, unknown or ill-typed ``--set``, malformed files) prints one line
``error: ...`` to stderr and exits with code 2; no output file is written. A failure inside the
model or a refused write prints one line and exits with code 1. Output files are written to
temporary names and renamed together, so the results are either complete or absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from abm.errors import InputError

SUMMARY_COLUMNS = (
    "production_reo", "price_light_china", "price_light_world", "price_heavy_china",
    "price_heavy_world", "china_share_mining", "china_share_refining",
    "china_import_share_japan", "shortage_usa", "shortage_japan", "n_blocs",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message: str):  # noqa: D102
        raise InputError(message)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def write_frames_atomic(frames: list[tuple[pd.DataFrame, Path]]) -> None:
    """Write CSV or Parquet files (by extension), all or none.

    Each frame goes to a temporary file in its target directory; only when every one is
    complete are they renamed into place, so a failure leaves no partial result behind.

    Raises:
        InputError: unsupported extension or a missing directory.
        OSError: the disk refused a write (temporary files are removed first).
    """
    for _, path in frames:
        ext = path.suffix.lower()
        if ext not in (".csv", ".parquet"):
            raise InputError(f"output file must end in .csv or .parquet, got {path.name!r}")
        if not path.parent.is_dir():  # Path("x.csv").parent is Path(".")
            raise InputError(f"output directory {str(path.parent)!r} does not exist")
    done: list[tuple[str, Path]] = []
    try:
        for df, path in frames:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            done.append((tmp, path))
            if path.suffix.lower() == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
        for tmp, path in done:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in done:
            Path(tmp).unlink(missing_ok=True)
        raise


def _events_path(out: Path) -> Path:
    return out.with_name(out.stem + ".events" + out.suffix)


def cmd_list(_args) -> int:
    """Print the scenarios with their titles."""
    from abm.scenario import list_scenarios, load_scenario

    for name in list_scenarios():
        sc = load_scenario(name)
        print(f"{name:15s} {sc.start} +{sc.horizon_months:3d} months  {sc.title}")
    return 0


def cmd_run(args) -> int:
    """Run one scenario, print a summary table and optionally write the results."""
    from abm.model import RareEarthModel

    overrides = _parse_sets(args.set or [])
    out = Path(args.out) if args.out else None
    if out is not None:
        write_check = out.suffix.lower()
        if write_check not in (".csv", ".parquet"):
            raise InputError(f"output file must end in .csv or .parquet, got {out.name!r}")
        if not (out.parent if str(out.parent) else Path(".")).is_dir():
            raise InputError(f"output directory {str(out.parent)!r} does not exist")
    if args.steps is not None and args.steps < 0:
        raise InputError("--steps must not be negative")
    t0 = time.perf_counter()
    model = RareEarthModel(scenario=args.scenario, rng=args.seed, **overrides)
    steps = model.horizon if args.steps is None else args.steps
    for _ in range(steps):
        model.step()
    df = model.results_frame()
    elapsed = time.perf_counter() - t0
    if out is not None:
        write_frames_atomic([(df, out), (model.event_log_frame(), _events_path(out))])
    print(f"scenario {model.sc.name}: {steps} months from {model.sc.start}, seed {args.seed}, "
          f"{model.firms.size} firms, {elapsed:.2f} s")
    if not df.empty:
        cols = [c for c in SUMMARY_COLUMNS if c in df.columns]
        view = df.set_index("date")[cols]
        every = max(1, len(view) // 12)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(view.iloc[::every].round(2).to_string())
    events = model.event_log_frame()
    print(f"{len(events)} policy events" + (":" if len(events) else ""))
    for _, e in events.head(15).iterrows():
        print(f"  {e['date']} {e['actor']}: {e['detail']}")
    if len(events) > 15:
        print(f"  ... {len(events) - 15} more")
    if out is not None:
        print(f"wrote {out} and {_events_path(out)}")
    return 0


def cmd_catalogue(args) -> int:
    """Print what the model offers: parameters, columns, strategies or a scenario's events."""
    from abm import catalogue

    if args.command == "events":
        print(catalogue.events_table(args.scenario))
    else:
        print(getattr(catalogue, f"{args.command}_table")())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m abm`` argument parser."""
    p = _Parser(prog="python -m abm", description="Rare-earth geopolitics model")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the scenarios")
    run = sub.add_parser("run", help="run a scenario")
    run.add_argument("--scenario", default="baseline", help="name or path of a TOML file")
    run.add_argument("--steps", type=int, default=None, help="months (default: horizon)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a scenario parameter (repeatable)")
    run.add_argument("--out", help="write results to FILE.csv or FILE.parquet")
    events = sub.add_parser("events", help="list a scenario's events, their ids and fields")
    events.add_argument("scenario", help="name or path of a TOML file")
    sub.add_parser("params", help="every parameter (Markdown table)")
    sub.add_parser("columns", help="every output column (Markdown table)")
    sub.add_parser("strategies", help="the states' strategies by decision domain")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return {"list": cmd_list, "run": cmd_run, "events": cmd_catalogue,
                "params": cmd_catalogue, "columns": cmd_catalogue,
                "strategies": cmd_catalogue}[args.command](args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"error: cannot write the results: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a model failure: one line, not a traceback (ABM_DEBUG=1 shows it)
        if os.environ.get("ABM_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: the model failed: {type(exc).__name__}: {first} "
              "(nothing was written; set ABM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
