"""Calibrate the behavioural parameters to the calibration targets only (never the validation).

A Latin hypercube over the parameters the history screening found influential
(``experiments/specs/morris_history.toml``), each point run on the two history scenarios
(``quota_2010``, ``controls_2025``) with the given seeds. Each point is scored on the
calibration targets (``abm/data/observed_history.csv``, read through
:func:`experiments.targets.load_targets`) by the mean absolute log error
``|ln(model / observed)|`` of the seed-mean. The validation targets are not read.

    python scripts/calibrate.py --points 160 --seeds 1 --out results/calibration

writes ``points.csv`` (every point, its parameters, its error per target and its loss) and
``best.toml`` (the best point's values, to copy into ``abm/params.py`` and the scenario).
The ranges and the result are documented in ``docs/validation.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import qmc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: parameter -> (low, high); event fields use the ``event.<id>.<field>`` override form
SPACE: dict[str, tuple[float, float]] = {
    "demand_elasticity": (0.05, 0.6),
    "hoarding_sensitivity": (0.0, 12.0),
    "inventory_adjust_rate": (0.05, 0.6),
    "inventory_price_elasticity": (0.0, 4.0),
    "price_expectation_weight": (0.05, 0.8),
    "base_cover_months": (0.5, 4.0),
    "risk_memory": (0.5, 0.95),
    "trader_capital_share": (0.0, 0.5),
    "leakage_capacity_share": (0.0, 1.0),
    "magnet_switching_cost_frac": (0.0, 1.0),
    "illegal_capacity_share": (0.3, 1.0),
}
SCENARIOS = ("quota_2010", "controls_2025")


def _overrides(point: dict[str, float], scenario: str) -> dict[str, float]:
    """The point's overrides that apply to ``scenario`` (event fields only where it has them)."""
    out = {}
    for k, v in point.items():
        if k.startswith("event.") and scenario != "quota_2010":
            continue
        out[k] = v
    return out


def _run(job: tuple[int, dict[str, float], str, int]) -> tuple[int, str, int, pd.DataFrame | str]:
    import abm

    pid, point, scenario, seed = job
    try:
        df = abm.simulate(scenario, rng=seed, **_overrides(point, scenario))
    except Exception as exc:  # noqa: BLE001 - a failed point is recorded, not fatal
        return pid, scenario, seed, f"{type(exc).__name__}: {exc}"
    df = df.copy()
    df["run_id"] = f"{pid}-{seed}"
    return pid, scenario, seed, df


def _loss(scored: pd.DataFrame) -> tuple[float, dict[str, float]]:
    cal = scored[(scored["role"] == "calibration") & scored["match"].notna()]
    errs = {}
    for _, r in cal.iterrows():
        model, obs = float(r["model"]), float(r["value_num"])
        if model > 0 and obs > 0:
            errs[r["id"]] = abs(np.log(model / obs))
    return (float(np.mean(list(errs.values()))) if errs else np.inf), errs


def main(argv: list[str] | None = None) -> int:
    """Run the hypercube, score it and write ``points.csv`` and ``best.toml``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=160)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--sampler-seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "calibration")
    ap.add_argument("--include-default", action="store_true",
                    help="also score the current defaults (point -1)")
    args = ap.parse_args(argv)

    import abm
    from experiments.targets import load_targets, score

    names = list(SPACE)
    lo = np.array([SPACE[n][0] for n in names])
    hi = np.array([SPACE[n][1] for n in names])
    unit = qmc.LatinHypercube(d=len(names), seed=args.sampler_seed).random(args.points)
    points = {i: dict(zip(names, (lo + u * (hi - lo)).tolist(), strict=True))
              for i, u in enumerate(unit)}
    if args.include_default:
        sc = abm.load_scenario("quota_2010")
        ev = {e.id: e for e in sc.events}
        points[-1] = {n: (float(ev["enforcement_2011"].args["level"]) if n.startswith("event.")
                          else float(abm.PARAMS[n].default)) for n in names}
    jobs = [(pid, p, s, seed) for pid, p in points.items() for s in SCENARIOS
            for seed in range(args.seeds)]
    targets = load_targets()
    frames: dict[int, dict[str, list[pd.DataFrame]]] = {}
    failed: dict[int, str] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for n_done, (pid, scen, _seed, res) in enumerate(pool.map(_run, jobs, chunksize=2), 1):
            if isinstance(res, str):
                failed[pid] = res
            else:
                frames.setdefault(pid, {}).setdefault(scen, []).append(res)
            if n_done % 20 == 0:
                print(f"{n_done}/{len(jobs)} runs", file=sys.stderr)
    rows = []
    for pid, point in points.items():
        if pid in failed or pid not in frames:
            rows.append({"point": pid, **point, "loss": np.inf, "failed": failed.get(pid, "")})
            continue
        ts = {s: pd.concat(v, ignore_index=True) for s, v in frames[pid].items()}
        loss, errs = _loss(score(targets, ts))
        rows.append({"point": pid, **point, "loss": loss, **{f"err_{k}": v for k, v in
                                                             errs.items()}, "failed": ""})
    table = pd.DataFrame(rows).sort_values("loss")
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "points.csv.tmp"
    table.to_csv(tmp, index=False)
    tmp.replace(args.out / "points.csv")
    best = table.iloc[0]
    lines = [f"# best of {len(points)} points (loss {best['loss']:.4f}: mean |ln(model/observed)| "
             f"over the calibration targets, {args.seeds} seed(s))"]
    lines += [f'"{n}" = {best[n]:.4g}' for n in names]
    (args.out / "best.toml").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    cols = ["point", "loss"] + [c for c in table.columns if c.startswith("err_")]
    print(table[cols].head(10).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
