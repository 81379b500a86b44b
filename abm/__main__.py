"""Command line: ``python -m abm list`` and ``python -m abm run --scenario NAME ...``.

Bad input (unknown scenario, unknown, repeated or ill-typed ``--set``, a seed or month count
out of range, a scenario path that is not a regular text file, malformed files) prints one line
``error: ...`` to stderr and exits with code 2; no output file is written. A failure inside the
model or a refused write prints one line and exits with code 1. The results and the event log
are written together by :func:`abm.safeio.replace_together`: both new, or both as they were.
A run longer than the scenario's horizon prints one ``warning: ...`` line (it extrapolates).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import pandas as pd

from abm.errors import InputError
from abm.safeio import (
    MAX_MONTHS,
    MAX_SCENARIO_BYTES,
    check_target,
    read_text_limited,
    remove_stale_temporaries,
    replace_together,
)

#: Largest accepted ``--seed`` (seeds are non-negative integers below 2**64).
MAX_SEED = 2**64 - 1
_ASCII_INT = re.compile(r"[+-]?[0-9]+")

SUMMARY_COLUMNS = (
    "production_reo", "price_light_china", "price_light_world", "price_heavy_china",
    "price_heavy_world", "china_share_mining", "china_share_refining",
    "china_import_share_japan", "shortage_usa", "shortage_japan", "n_blocs",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit code 2."""

    def error(self, message: str):  # noqa: D102
        raise InputError(message)


def _bounded_int(lo: int, hi: int):
    """An argparse type: an integer written in ASCII digits within [lo, hi].

    Python's ``int`` also takes full-width or other Unicode digits, underscores and
    surrounding spaces (``int("\uff12\uff10") == 20``); a number on the command line should
    be what it looks like, so only an optional sign and ``0-9`` are accepted.
    """

    def parse(text: str) -> int:
        t = text.strip()
        if not _ASCII_INT.fullmatch(t) or len(t) > 30:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {lo} to {hi} in the digits 0-9, got {text!r}")
        value = int(t)
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {lo} to {hi}, got {text!r}")
        return value

    return parse


def _parse_sets(items: list[str]) -> dict[str, str]:
    """``--set key=value`` items into a dict, refusing repeats and non-ASCII numbers.

    Raises:
        InputError: an item without ``=``, a key given twice, or a value with digits or
            spaces outside ASCII (which ``int``/``float`` would silently accept).
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--set expects key=value, got {item!r}")
        key, value = (part.strip() for part in item.split("=", 1))
        if key in out:
            raise InputError(f"--set {key} is given twice ({key}={out[key]} and {key}={value}); "
                             "give each parameter once")
        odd = next((c for c in value if not c.isascii() and (c.isdecimal() or c.isspace())),
                   None)
        if odd is not None:
            raise InputError(f"--set {key}={value}: write numbers with the ASCII digits 0-9 "
                             f"(found {odd!r}, U+{ord(odd):04X})")
        out[key] = value
    return out


def write_frames_atomic(frames: list[tuple[pd.DataFrame, Path]]) -> None:
    """Write CSV or Parquet files (by extension) together: all new, or all as they were.

    See :func:`abm.safeio.replace_together`: files are written to a hidden directory next to
    their targets and renamed into place; a failed rename undoes the earlier ones.

    Raises:
        InputError: unsupported extension, a missing directory, or a target that is a
            directory.
        OSError: the disk refused a write or a rename (nothing was changed).
    """
    for _, path in frames:
        _check_out_path(path)

    def writer(df: pd.DataFrame, ext: str):
        def write(tmp: Path) -> None:
            if ext == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
        return write

    replace_together([(path, writer(df, path.suffix.lower())) for df, path in frames])


def _check_out_path(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"output file must end in .csv or .parquet, got {path.name!r}")
    if not path.parent.is_dir():  # Path("x.csv").parent is Path(".")
        raise InputError(f"output directory {str(path.parent)!r} does not exist")
    check_target(path)


def _events_path(out: Path) -> Path:
    return out.with_name(out.stem + ".events" + out.suffix)


def cmd_list(_args) -> int:
    """Print the scenarios with their titles."""
    from abm.scenario import list_scenarios, load_scenario

    for name in list_scenarios():
        sc = load_scenario(name)
        print(f"{name:15s} {sc.start} +{sc.horizon_months:3d} months  {sc.title}")
    return 0


def _is_path(scenario: str) -> bool:
    """Whether ``--scenario`` names a file (the rule of :func:`abm.load_scenario`)."""
    return Path(scenario).suffix == ".toml" or Path(scenario).exists()


def cmd_run(args) -> int:
    """Run one scenario, print a summary table and optionally write the results."""
    from abm.model import RareEarthModel

    overrides = _parse_sets(args.set or [])
    out = Path(args.out) if args.out else None
    if out is not None:
        for path in (out, _events_path(out)):
            _check_out_path(path)
        remove_stale_temporaries(out.parent)
    if _is_path(args.scenario):  # a regular text file of bounded size, before the loader
        read_text_limited(args.scenario, MAX_SCENARIO_BYTES, "scenario file")
    t0 = time.perf_counter()
    model = RareEarthModel(scenario=args.scenario, rng=args.seed, **overrides)
    steps = model.horizon if args.steps is None else args.steps
    if steps > MAX_MONTHS:
        raise InputError(f"scenario {model.sc.name!r} runs {steps:,} months (horizon_months), "
                         f"more than the limit of {MAX_MONTHS}; pass --steps N with N <= "
                         f"{MAX_MONTHS}")
    if steps > model.horizon:
        print(f"warning: {steps} months run past the scenario's horizon of {model.horizon} "
              f"months ({model.month_date(0)} to {model.month_date(model.horizon - 1)}); from "
              f"{model.month_date(model.horizon)} the model extrapolates beyond the period its "
              "data and events describe", file=sys.stderr)
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
    run.add_argument("--steps", type=_bounded_int(0, MAX_MONTHS), default=None,
                     help=f"months, at most {MAX_MONTHS} (default: the scenario's horizon)")
    run.add_argument("--seed", type=_bounded_int(0, MAX_SEED), default=0,
                     help="random seed, an integer from 0 to 2**64-1 (default 0)")
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
