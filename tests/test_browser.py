"""Browser tests: the dashboard in Debian's chromium, driven by Python Playwright, offline.

The app is started with ``solara run app.py --production`` on a free local port. Every request
the page makes to anything but that server is aborted and recorded, so the tests prove the page
works with no internet connection. ``make chromium`` installs /usr/bin/chromium; the front-end
assets are installed by ``scripts/setup_frontend.py`` (run here too; fast when done).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest

from tests.browser_support import (
    PageProbe,
    launch_chromium,
    serve_dashboard,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard on a free local port (its URL)."""
    with serve_dashboard(tmp_path_factory.mktemp("dashboard") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """A headless Debian chromium."""
    with launch_chromium() as b:
        yield b


def _screenshot_path(tmp_path: Path) -> Path:
    """Where the screenshot goes: ``$DASHBOARD_SCREENSHOT`` (the README's comes from
    ``DASHBOARD_SCREENSHOT=docs/screenshot.png``), else the test's temporary directory."""
    return Path(os.environ.get("DASHBOARD_SCREENSHOT") or tmp_path / "screenshot.png")


def test_controls_2025_steps_draws_views_lists_events_offline(server, browser, tmp_path):
    probe = PageProbe(browser, server)
    page = probe.page
    probe.choose("Scenario (starts at once)", "controls_2025")
    page.wait_for_function(
        "document.querySelector('.status-line').textContent.startsWith('controls_2025')")
    assert probe.step_no() == 0
    prices_before = page.locator("svg[data-chart=prices]").inner_html()
    network_before = page.locator("svg[data-chart=network]").inner_html()
    timings = [probe.step() for _ in range(2)]  # through Playwright's click (wall clock)
    timings += [probe.timed_step() for _ in range(20)]  # 2024-03 .. 2025-10, browser clock
    # the price chart has content and changed: 4 series x 2 products drawn as lines
    prices = page.locator("svg[data-chart=prices]")
    assert prices.locator("polyline").count() >= 8
    points = prices.locator('polyline[data-series="World (outside China)"]').first
    assert len(points.get_attribute("points").split()) == 22
    assert prices.inner_html() != prices_before
    # the bloc network is drawn (states, miners, ties) and changed
    net = page.locator("svg[data-chart=network]")
    assert net.locator("rect[data-node]").count() >= 3  # China, USA, Japan at least
    assert net.locator("circle[data-node]").count() >= 5  # miners
    assert net.locator("line[data-edge]").count() >= 2
    box = net.bounding_box()
    assert box["width"] > 250 and box["height"] > 200
    assert net.inner_html() != network_before
    # trade flows: this month's matrix, with the licensed links crossed out
    flows = page.locator("svg[data-chart=flows]")
    assert flows.locator("path[data-blocked]").count() >= 1
    # a China export-control event is listed in the timeline
    events = page.locator(".view-events")
    assert "2025-04 China: licences on heavy rare earths" in events.inner_text()
    # a view setting applies at once: the price axis turns logarithmic (decade ticks)
    linear = prices.inner_html()
    page.get_by_label("log scale").check(force=True)
    page.wait_for_function(
        "(old) => document.querySelector('svg[data-chart=prices]').innerHTML !== old", arg=linear)
    assert ">1,000<" in prices.inner_html() or ">100<" in prices.inner_html()
    # compare mode: run B (alliance off) is caught up and drawn dashed next to run A
    page.get_by_label("Compare with run B (dashed)").check(force=True)
    prices.locator('polyline[data-series="World (outside China) (B)"]').first.wait_for()
    assert "alliance off" in page.locator(".view-compare").inner_text()
    page.evaluate("document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; })")
    shot = _screenshot_path(tmp_path)
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 50_000  # a real page, not a blank one
    probe.assert_offline_clean()
    # every timed step completed (each waits until all views show the new month); how long
    # they take is measured by benchmarks/bench_dashboard.py, not asserted here
    assert probe.step_no() == 22 and len(timings) == 22
    print(f"\nstep + redraw of every view (browser clock): median "
          f"{statistics.median(timings[2:]) * 1000:.0f} ms over {len(timings) - 2} steps")
    page.close()


def test_bad_input_is_refused_with_a_visible_message(server, browser):
    probe = PageProbe(browser, server)
    page = probe.page
    field = page.get_by_label("Number of firms")
    field.fill("lots")
    field.press("Enter")
    error = page.locator(".field-error")
    error.wait_for()
    assert "Number of firms: must be a whole number between 1 and 20000, got 'lots'" in (
        error.inner_text())
    field.fill("-5")
    field.press("Enter")
    page.wait_for_function(
        "document.querySelector('.field-error')?.textContent.includes('out of range')")
    probe.click_button("Reset")
    page.locator(".app-error", has_text="Not reset: fix the marked fields first").wait_for()
    field.fill("150")
    field.press("Enter")
    page.locator(".field-error").wait_for(state="detached")
    page.locator(".pending-note", has_text="number of firms").wait_for()
    probe.click_button("Reset")
    page.locator(".pending-note").wait_for(state="detached")
    probe.step()  # the page still works after refusing input (waits for every view)
    probe.assert_offline_clean()
    page.close()


def test_play_runs_and_pause_stops(server, browser):
    probe = PageProbe(browser, server)
    page = probe.page
    probe.click_button("Play")
    page.wait_for_function(
        "Number(document.querySelector('svg[data-chart=prices]').getAttribute('data-step')) >= 3")
    probe.click_button("Pause")
    page.wait_for_timeout(600)
    stopped = probe.step_no()
    page.wait_for_timeout(800)
    assert probe.step_no() == stopped >= 3
    probe.assert_offline_clean()
    page.close()


def test_live_china_export_lever_blocks_the_link_next_month(server, browser):
    probe = PageProbe(browser, server)
    page = probe.page
    probe.step()
    probe.choose("To USA: heavy", "ban")
    page.locator(".app-notice", has_text="applies from the next simulated month").wait_for()
    assert probe.step_no() == 1  # live: no reset happened
    probe.step()
    flows = page.locator("svg[data-chart=flows]")
    assert flows.locator('path[data-blocked="CHN|USA"]').count() >= 1
    timeline = page.locator(".view-events").inner_text()
    assert "China: exports of heavy to USA -> ban (user)" in timeline
    probe.assert_offline_clean()
    page.close()
