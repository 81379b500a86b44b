"""scripts/magnet_licence_probe.py: its figures on a hand-made frame, and its added event."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _scripts import load_script

import abm

ROOT = Path(__file__).resolve().parents[1]
probe = load_script("scripts/magnet_licence_probe.py")


def test_ratios_shares_and_cover_from_a_hand_made_frame():
    dates = [f"2024-{m:02d}" for m in range(1, 13)] + [f"2025-{m:02d}" for m in range(1, 7)]
    exports = [100.0] * 12 + [100.0, 100.0, 100.0, 50.0, 25.0, 75.0]
    frame = pd.DataFrame({
        "china_exports_magnet": exports,
        "price_heavy_world": [300.0] * 15 + [900.0, 1200.0, 600.0],
        "consumption_heavy": [100.0] * 18, "magnet_use_heavy": [70.0] * 18,
        "inventory_heavy": [60.0] * 18, "price_magnet_world": [50.0] * 16 + [150.0, 100.0],
        "magnet_capacity_use_outside_china": [0.5] * 16 + [1.0, 0.9]},
        index=pd.Index(dates, name="date"))
    got = probe.summary(frame, choke=7950.0)
    assert got["magnet exports May 2025 / May 2024"] == 0.25
    assert got["magnet exports May 2025 / April 2025"] == 0.5
    assert got["magnet exports June 2025 / June 2024"] == 0.75
    assert got["magnet exports June 2025 / May 2025"] == 3.0
    assert got["Dy/Tb price outside China, May 2025 (US$/kg)"] == 1200.0
    assert got["Dy/Tb choke price (US$/kg)"] == 7950.0
    assert got["magnet price outside China, May 2025 / 2024 mean"] == 3.0
    assert got["magnet makers' capacity use outside China, 2024"] == 0.5
    assert got["magnet makers' capacity use outside China, May 2025"] == 1.0
    assert np.isclose(got["2024: magnet makers' share of world Dy/Tb use"], 0.7)
    assert np.isclose(got["2024: firms' Dy/Tb inventory, months of their own use"], 2.0)


def test_the_added_event_licenses_magnets_from_april_2025_only():
    model = abm.RareEarthModel(scenario=probe.with_magnet_licences(0), rng=0)
    while model.date != "2025-04":
        model.step()
    assert model.regime.get("CHN", "all", "magnet") is None  # open before April
    model.step()
    policy = model.regime.get("CHN", "all", "magnet")
    assert policy.instrument == "licence"
    assert model.regime.get("CHN", "all", "heavy").instrument == "licence"
    assert model.regime.get("CHN", "all", "light") is None  # NdPr stays open in April


@pytest.mark.slow
def test_the_figures_quoted_in_the_readme_and_the_validation_page_are_the_probes():
    shipped = probe.summary(*probe.run_case(False, 3))
    lic = probe.summary(*probe.run_case(True, 3))
    held = probe.summary(*probe.run_case(True, 3, probe.STOCK))
    held_dy = "-".join(f"{held[f'Dy/Tb price outside China, {m} 2025 (US$/kg)']:,.0f}"
                       for m in ("April", "May"))
    dy = {(case, month): f"{figures[f'Dy/Tb price outside China, {month} 2025 (US$/kg)']:,.0f}"
          for case, figures in (("shipped", shipped), ("licensed", lic))
          for month in ("April", "May")}
    use_2025 = lic["magnet makers' capacity use outside China, May 2025"]
    use_2024 = lic["magnet makers' capacity use outside China, 2024"]
    share = lic["2024: magnet makers' share of world Dy/Tb use"]
    cover = lic["2024: firms' Dy/Tb inventory, months of their own use"]
    may = f"{lic['magnet exports May 2025 / May 2024']:.2f} of a year earlier"
    dy_licensed = f"{dy['licensed', 'April']}-{dy['licensed', 'May']} US$/kg in April-May"
    readme = [f"{may} in May 2025", dy_licensed, f"China is {held_dy} US$/kg in April-May"]
    assert held["magnet exports May 2025 / May 2024"] == pytest.approx(
        lic["magnet exports May 2025 / May 2024"], abs=0.005)  # "the exports fall as far"
    validation = [f"May falls to {may}", dy_licensed,
                  f"June to {lic['magnet exports June 2025 / June 2024']:.2f}",
                  f"{dy['shipped', 'April']}-{dy['shipped', 'May']} as shipped",
                  f"choke price of {lic['Dy/Tb choke price (US$/kg)']:,.0f}",
                  f"({use_2025:.2f} in May 2025, {use_2024:.2f} in 2024)",
                  f"{lic['magnet price outside China, May 2025 / 2024 mean']:.2f} times its 2024",
                  f"{share:.0%} of the world's", f"hold {cover:.1f} months",
                  f"China is {held_dy} US$/kg in April-May 2025", f"({may} in May)"]
    for doc, quoted in (("README.md", readme), ("docs/validation.md", validation)):
        text = " ".join((ROOT / doc).read_text().split())
        stale = [q for q in quoted if q not in text]
        assert not stale, f"{doc} is stale: run scripts/magnet_licence_probe.py: {stale}"
