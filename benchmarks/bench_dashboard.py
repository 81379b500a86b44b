"""Dashboard responsiveness: one step, including the redraw of every view, in a real browser.

Usage (from the repository root; needs ``make frontend chromium``, which ``make test`` does)::

    .venv/bin/python benchmarks/bench_dashboard.py [--steps 30] [--scenario controls_2025]

Starts the dashboard (``solara run app.py --production``) on a free local port, opens it in
Debian's headless chromium through Playwright (offline: every request that is not to the local
server is aborted), selects the scenario and measures, on the browser's own clock, the time
from a click on Step to the first animation frame at which every view (the seven charts and
the status line) shows the new month. It does so with the default settings, then with compare
mode on (two runs stepped and drawn), then in projector mode (one chart, large type). For
scale, the same months of the model alone, and the drawing of every chart in this process
(the Python share of a redraw), are timed too.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import header, table
from playwright.sync_api import Error as PlaywrightError

import abm
from abm_dashboard.session import Run, Settings, scenario_info
from abm_dashboard.svg import Layout
from abm_dashboard.views import CHARTS, DashboardState
from tests.browser_support import DashboardError, PageProbe, launch_chromium, serve_dashboard


def _stats(seconds: list[float]) -> list[str]:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return [str(len(ms)), f"{statistics.median(ms):.0f}", f"{p90:.0f}", f"{ms[-1]:.0f}"]


def _model_only(scenario: str, steps: int) -> list[float]:
    model = abm.RareEarthModel(scenario=scenario, rng=0)
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.step()
        out.append(time.perf_counter() - t0)
    return out


def _draw_times(scenario: str, steps: int) -> list[list[str]]:
    """Milliseconds to draw each chart at 1,000 px after ``steps`` months (best of 5)."""
    state = DashboardState(scenario)
    run = Run(Settings(scenario=scenario))
    for _ in range(steps):
        run.step()
    rows = []
    for title, draw in CHARTS.values():
        best, size = float("inf"), 0
        for _ in range(5):
            t0 = time.perf_counter()
            svg = draw(state, run, None, Layout(width=1000))
            best = min(best, time.perf_counter() - t0)
            size = len(svg)
        rows.append([title, f"{best * 1000:.1f}", f"{size / 1000:.0f}"])
    return rows


def main() -> int:
    """Measure and print the tables; 2 when the dashboard or the browser cannot start."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per setting")
    ap.add_argument("--scenario", default="controls_2025")
    args = ap.parse_args()
    if not 1 <= args.steps <= 40:
        ap.error("--steps must be between 1 and 40 (two phases must fit in the scenario)")
    header("bench_dashboard: one step + redraw of every view, in chromium")
    rows = []
    phase = "start"
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                serve_dashboard(Path(tmp) / "server.log") as url, launch_chromium() as browser:
            probe = PageProbe(browser, url)
            page = probe.page
            title = scenario_info(args.scenario).title
            probe.choose("Scenario (starts at once)", title)
            page.wait_for_function("(t) => document.querySelector('.status-line')"
                                   ".textContent.startsWith(t)", arg=title)
            for _ in range(2):  # warm-up through Playwright clicks (not counted)
                probe.step()
            phase = "default settings"
            default = [probe.timed_step() for _ in range(args.steps)]
            rows.append(["default settings (200 firms)", *_stats(default)])
            phase = "compare mode"
            page.get_by_label("Compare with run B (faded)").check(force=True)
            page.locator('svg[data-chart=prices] polyline[data-series$="(B)"]').first.wait_for(
                state="attached")
            compare = [probe.timed_step() for _ in range(args.steps)]
            rows.append(["compare mode (runs A and B)", *_stats(compare)])
            phase = "projector mode"
            page.get_by_label("Compare with run B (faded)").uncheck(force=True)
            probe.click_button("Reset")  # the scenario has 84 months: start again
            page.wait_for_function("document.querySelector('svg[data-chart=prices]')"
                                   ".getAttribute('data-step') === '0'")
            page.get_by_role("button", name="Projector mode").click()
            page.wait_for_function("document.querySelector('svg[data-chart=prices]')"
                                   "?.getAttribute('data-font') === '22'")
            projector = [probe.timed_step(["prices"]) for _ in range(args.steps)]
            rows.append(["projector mode (one chart, 22 px)", *_stats(projector)])
            probe.assert_offline_clean()
            page.close()
    except (DashboardError, AssertionError, PlaywrightError) as exc:
        print(f"error in {phase}: {str(exc).splitlines()[0]}")
        return 2
    model = _model_only(args.scenario, 2 + 2 * args.steps)[2:]
    rows.append(["model.step() alone, in this process", *_stats(model)])
    print(f"## Step + redraw, {args.scenario}, browser clock (click to every view redrawn)\n")
    print(table(["setting", "steps", "median ms", "p90 ms", "max ms"], rows))
    share = statistics.median(model) / statistics.median(default)
    print(f"\nThe model's own step is {share:.0%} of the median step with the default settings; "
          "the rest is Solara's round trip and the redraw of the views.\n")
    steps_drawn = 2 + 2 * args.steps
    print(f"## Drawing each chart in Python ({args.scenario}, {steps_drawn} months, 1,000 px "
          "wide, best of 5)\n")
    print(table(["chart", "ms", "kB of SVG"], _draw_times(args.scenario, steps_drawn)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
