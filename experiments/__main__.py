"""Command line: ``python -m experiments {run,report,validate}``.

Bad input (a malformed spec, an unknown option, a directory of another experiment) prints one
line ``experiments: error: ...`` on stderr and exits with status 2, without a traceback and
without writing anything. ``run`` exits with 0 when every run of this invocation finished ok,
1 when some failed (their errors are in the result files) or were lost (rerun to finish), and
130 when interrupted.
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
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from experiments.errors import ExperimentError  # noqa: E402

EXIT_BAD_INPUT = 2


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
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
                + f"; {summary.elapsed_s:.1f} s with {summary.workers} worker(s) -> {args.out}"
            )
            return 1 if summary.lost or summary.failed else 0
        if args.command == "report":
            from experiments.report import make_report

            path = make_report(args.dir, args.out)
            print(f"report written to {path}")
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
            )
            print(f"validation report written to {path}")
            return 0
    except ExperimentError as exc:
        print(f"experiments: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("experiments: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
