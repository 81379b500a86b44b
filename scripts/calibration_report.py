"""Print the calibration fit of `baseline` and the history replays (numbers in README.md).

Usage: .venv/bin/python scripts/calibration_report.py
"""

import pandas as pd

import abm


def main() -> None:
    """Run baseline (seed 0), quota_2010 and controls_2025 (seeds 0-4); print the tables."""
    b = abm.simulate("baseline", rng=0)
    y1 = b.iloc[:12]
    rows = [
        ("world mine production, kt REO/yr", "390", y1["production_reo"].sum() / 1e3),
        ("NdPr output, kt/yr", "80-110", y1["production_light"].sum() / 1e3),
        ("Dy+Tb output, kt/yr", "~2.5-3.5", y1["production_heavy"].sum() / 1e3),
        ("China's share of mining", "~0.69", y1["china_share_mining"].mean()),
        ("China's share of refining", "~0.91", y1["china_share_refining"].mean()),
        ("NdPr world price, US$/kg", "55-65", y1["price_light_world"].mean()),
        ("Dy world price, US$/kg", "230-300", y1["price_heavy_world"].mean()),
    ]
    print("baseline, first year (seed 0)")
    print(pd.DataFrame(rows, columns=["quantity", "facts 2024", "model"]).round(3).to_string(
        index=False))
    for col in ("price_light_world", "price_heavy_world"):
        m = y1[col].mean()
        print(f"{col}: 10-year range {b[col].min() / m:.2f}-{b[col].max() / m:.2f}x of year 1")
    runs = [abm.RareEarthModel(scenario="quota_2010", rng=s) for s in range(5)]
    for model in runs:
        for _ in range(model.horizon):
            model.step()
    q = pd.concat(m.results_frame().assign(seed=s) for s, m in enumerate(runs))
    mean = q.groupby("date").mean(numeric_only=True)
    level = mean.loc[mean.index.str.startswith("2009"), "price_light_world"].mean()
    peak = mean["price_light_world"].idxmax()
    top = mean.loc[peak, "price_light_world"]
    print(f"\nquota_2010 (seeds 0-4): 2009 NdPr world {level:.1f}, peak {peak} {top:.1f} = "
          f"{top / level:.1f}x, China at peak {mean.loc[peak, 'price_light_china']:.1f}")
    cols = ["price_light_china", "price_light_world", "price_heavy_world", "china_exports_light",
            "china_import_share_japan", "inventory_light", "substitution_light"]
    print(mean[cols].iloc[::6].round(2).to_string())
    print("\nquota_2010 NdPr world peak by number of firms (mean of seeds 0-4)")
    for n in (1000, 10000):
        qn = pd.concat(abm.simulate("quota_2010", rng=s, n_firms=n) for s in range(5))
        mn = qn.groupby("date").mean(numeric_only=True)["price_light_world"]
        print(f"  n_firms {n:>6,}: peak {mn.idxmax()} {mn.max():.1f} US$/kg; 2010-07 "
              f"{mn['2010-07']:.1f}; 2012-12 {mn['2012-12']:.1f}; 2016 mean "
              f"{mn[mn.index.str.startswith('2016')].mean():.1f}")
    print(f"  n_firms    200: peak {peak} {top:.1f} US$/kg; 2010-07 "
          f"{mean.loc['2010-07', 'price_light_world']:.1f}; 2012-12 "
          f"{mean.loc['2012-12', 'price_light_world']:.1f}; 2016 mean "
          f"{mean.loc[mean.index.str.startswith('2016'), 'price_light_world'].mean():.1f}")
    print("\nquota_2010: first month of each decision of Mountain Pass and Mt Weld, by seed")
    events = pd.DataFrame([{"seed": s, "mine": e["actor"], "action": e["action"],
                            "date": e["date"]} for s, m in enumerate(runs) for e in m.event_log
                           if e["actor"] in ("MTPASS", "MTWELD") and e["action"] in (
                               "invest", "capacity_online", "mothball", "restart", "exit")])
    print(events.groupby(["mine", "action", "seed"])["date"].min().unstack("seed").to_string())
    c = pd.concat(abm.simulate("controls_2025", rng=s).assign(seed=s) for s in range(5))
    cmean = c.groupby("date").mean(numeric_only=True)
    months = ["2025-03", "2025-04", "2025-09", "2025-10", "2025-11", "2026-10"]
    cols = ["price_light_world", "price_light_china", "price_heavy_world", "price_heavy_china",
            "china_import_share_usa"]
    print("\ncontrols_2025 (seeds 0-4)")
    print(cmean.loc[months, cols].round(2).to_string())


if __name__ == "__main__":
    main()
