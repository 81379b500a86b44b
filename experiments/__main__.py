"""Command line: ``python -m experiments {run,plan,report,discover,game,consolidate,validate}``.

Bad input (a malformed spec, an unknown option, a directory of another experiment, an
``--out`` that cannot be written) prints one line ``experiments: error: ...`` on stderr and
exits with status 2, without a traceback and without writing anything. ``run`` and ``game``
exit with 0 when every run of this invocation finished ok, 1 when some failed (their errors
are in the result files) or were lost (rerun to finish), or when the store could not be
written (e.g. a full disk: one line, the sweep stops, finished runs are kept), and 130 when
interrupted.
"""

from __future__ import annotations

import os

# Set before numpy and pyarrow load (a user's setting wins): one BLAS/OpenMP thread per process
# (runs are parallel across processes), and no jemalloc background thread in pyarrow, so this
# process stays single-threaded and can fork its workers safely (see experiments.runner).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("JE_ARROW_MALLOC_CONF", "background_thread:false")

import argparse  # noqa: E402
import errno  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from experiments.errors import ExperimentError, StoreError  # noqa: E402

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print one line naming the problem and exit with status 2."""
        print(f"experiments: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m experiments``."""
    parser = _Parser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run (or resume) an experiment spec")
    run.add_argument("spec", help="experiment spec (TOML)")
    run.add_argument("--out", required=True, help="result directory (created; reruns resume)")
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="local worker processes (default: number of cores)",
    )
    run.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786",
    )
    run.add_argument("--retry-failed", action="store_true", help="redo runs recorded as failed")
    run.add_argument(
        "--allow-model-change",
        action="store_true",
        help="resume although the model's code or data changed since DIR was started",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--simulate", default="abm:simulate", help=argparse.SUPPRESS)

    plan = sub.add_parser("plan", help="runs, storage and expected time of a spec; writes nothing")
    plan.add_argument("spec", help="experiment spec (TOML)")
    plan.add_argument("--workers", type=_positive_int, default=None,
                      help="local worker processes to plan for (default: number of cores)")
    plan.add_argument("--timed-runs", type=_positive_int, default=3,
                      help="runs timed to estimate the time per run (default 3)")
    plan.add_argument("--out", default=None,
                      help="result directory of an earlier run: plan only what is missing")
    plan.add_argument("--simulate", default="abm:simulate", help=argparse.SUPPRESS)

    disc = sub.add_parser("discover", help="scenario discovery (PRIM) and feature scores")
    disc.add_argument("dir", help="result directory of `run`")
    disc.add_argument("--metric", required=True, help="the outcome metric to explain")
    side = disc.add_mutually_exclusive_group(required=True)
    side.add_argument("--above", type=float, default=None, help="cases: metric > X")
    side.add_argument("--below", type=float, default=None, help="cases: metric < X")
    disc.add_argument("--threshold", type=float, default=0.8,
                      help="PRIM's minimum density of the box (default 0.8)")
    disc.add_argument("--peel-alpha", type=float, default=0.05,
                      help="share of points PRIM peels per step (default 0.05)")
    disc.add_argument("--out", default=None, help="report directory (default DIR/report)")

    game = sub.add_parser("game", help="run a [game] spec's profiles and solve the game")
    game.add_argument("spec", help="experiment spec (TOML) with a [game] section")
    game.add_argument("--out", required=True, help="result directory (created; reruns resume)")
    game.add_argument("--workers", type=_positive_int, default=None)
    game.add_argument("--scheduler", default=None)
    game.add_argument("--no-progress", action="store_true")
    game.add_argument("--solver-timeout", type=float, default=60.0,
                      help="seconds each equilibrium solver may take (default 60)")
    game.add_argument("--simulate", default="abm:simulate", help=argparse.SUPPRESS)

    cons = sub.add_parser("consolidate", help="pack finished run files into the Parquet dataset")
    cons.add_argument("dir", help="result directory of `run`")

    rep = sub.add_parser("report", help="ensemble statistics, tables and figures of a result dir")
    rep.add_argument("dir", help="result directory of `run`")
    rep.add_argument("--out", default=None, help="report directory (default DIR/report)")

    val = sub.add_parser("validate", help="replay history scenarios against observed data")
    val.add_argument("--out", required=True, help="output directory (runs and report)")
    val.add_argument("--seeds", type=_positive_int, default=5, help="seeds per scenario")
    val.add_argument("--workers", type=_positive_int, default=None)
    val.add_argument("--scheduler", default=None)
    val.add_argument("--no-progress", action="store_true")
    val.add_argument("--simulate", default="abm:simulate", help=argparse.SUPPRESS)
    val.add_argument("--docs", default=None,
                     help="also write the scored targets into this page (docs/validation.md)")
    return parser


def _os_error(exc: OSError) -> tuple[str, int]:
    """One line and exit status for an OSError that reached the command line."""
    where = f" {exc.filename}" if exc.filename else ""
    text = f"cannot write{where}: {exc.strerror or exc}"
    bad_input = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                              errno.EISDIR, errno.ENOENT)
    return text, EXIT_BAD_INPUT if bad_input else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ExperimentError as exc:
        print(f"experiments: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreError as exc:
        print(f"experiments: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        text, code = _os_error(exc)
        print(f"experiments: error: {text}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("experiments: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    """Run one subcommand; return the exit status."""
    if args.command == "run":
        from experiments.runner import run_experiment
        from experiments.spec import load_spec

        spec = load_spec(args.spec)
        summary = run_experiment(
            spec,
            args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            simulate=args.simulate,
            progress=not args.no_progress,
            retry_failed=args.retry_failed,
            allow_model_change=args.allow_model_change,
        )
        print(
            f"{spec.name}: {summary.total} runs; {summary.skipped} already done, "
            f"{summary.done} ok and {summary.failed} failed now"
            + (f", {summary.lost} lost (rerun to finish)" if summary.lost else "")
            + f"; {summary.elapsed_s:.2f} s with {summary.workers} worker(s) -> {args.out}"
        )
        return 1 if summary.lost or summary.failed else 0
    if args.command == "plan":
        from experiments.plan import format_plan, plan_spec
        from experiments.spec import load_spec

        print(format_plan(plan_spec(load_spec(args.spec), workers=args.workers,
                                    timed_runs=args.timed_runs, out=args.out,
                                    simulate=args.simulate)))
        return 0
    if args.command == "report":
        from experiments.report import make_report

        path = make_report(args.dir, args.out)
        print(f"report written to {path}")
        return 0
    if args.command == "discover":
        from experiments.discovery import discover_dir

        path = discover_dir(args.dir, args.metric, above=args.above, below=args.below,
                            threshold=args.threshold, peel_alpha=args.peel_alpha,
                            report_dir=args.out)
        print(f"discovery report written to {path}")
        return 0
    if args.command == "game":
        from experiments.game import run_game
        from experiments.spec import load_spec

        result = run_game(load_spec(args.spec), args.out, workers=args.workers,
                          scheduler=args.scheduler, simulate=args.simulate,
                          progress=not args.no_progress, timeout=args.solver_timeout)
        print(result.message)
        return result.exit_code
    if args.command == "consolidate":
        from experiments.runner import consolidate_dir

        n = consolidate_dir(args.dir)
        print(f"{n} run files packed into {args.dir}/dataset")
        return 0
    if args.command == "validate":
        from experiments.validate import validate

        path = validate(
            args.out,
            seeds=args.seeds,
            workers=args.workers,
            scheduler=args.scheduler,
            simulate=args.simulate,
            progress=not args.no_progress,
            docs=args.docs,
        )
        print(f"validation report written to {path}")
        return 0
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
