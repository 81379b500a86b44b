"""Browser tests of the dashboard: Debian's chromium driven by Python Playwright, offline.

The app is started with ``solara run app.py --production`` on a free local port. Every request
the page makes to anything but that server is aborted and recorded, so the tests prove the page
works with no internet connection. ``make chromium`` installs /usr/bin/chromium; the front-end
assets are installed by ``scripts/setup_frontend.py`` (run here too; fast when done).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import socket
import statistics
import uuid
from pathlib import Path

import pytest

from tests.browser_support import DASHBOARD_CHARTS, PageProbe, serve_dashboard

pytestmark = pytest.mark.browser

CONTROLS_2025 = "2025: China's licences, the US price floor and the US-Japan framework"


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dashboard") / "server.log"


@pytest.fixture(scope="module")
def server(server_log):
    """The app on a free local port (its URL)."""
    with serve_dashboard(server_log) as url:
        yield url


def _screenshot_path(tmp_path: Path) -> Path:
    """Where the screenshot goes: ``$DASHBOARD_SCREENSHOT`` (the README's comes from
    ``DASHBOARD_SCREENSHOT=docs/screenshot.png``), else the test's temporary directory."""
    return Path(os.environ.get("DASHBOARD_SCREENSHOT") or tmp_path / "screenshot.png")


def test_controls_2025_steps_draws_views_and_takes_away_offline(server, browser, tmp_path):
    context = browser.new_context(accept_downloads=True,
                                  viewport={"width": 1600, "height": 1000})
    probe = PageProbe(context, server)
    page = probe.page
    probe.choose("Scenario (starts at once)", CONTROLS_2025)
    page.wait_for_function(
        "document.querySelector('.status-line').textContent.startsWith('2025: China')")
    assert probe.step_no() == 0
    assert page.locator("h1.page-title, .page-title h1").first.inner_text() == (
        "Rare earths: a geopolitical market game")
    prices_before = page.locator("svg[data-chart=prices]").inner_html()
    timings = [probe.step() for _ in range(2)]  # through Playwright's click (wall clock)
    timings += [probe.timed_step() for _ in range(20)]  # 2024-03 .. 2025-10, browser clock
    prices = page.locator("svg[data-chart=prices]")
    assert prices.locator("polyline").count() >= 8  # world + 3 countries x 2 products
    world = prices.locator('polyline[data-series="World (outside China)"]').first
    assert len(world.get_attribute("points").split()) == 22
    assert prices.inner_html() != prices_before
    assert prices.locator("line[data-marker]").count() >= 6  # the 2025 events, numbered
    for name in DASHBOARD_CHARTS:  # every view shows the month
        assert page.locator(f"svg[data-chart={name}]").get_attribute("data-step") == "22"
    net = page.locator("svg[data-chart=network]")
    assert net.locator("rect[data-node]").count() >= 3 and net.locator("line[data-edge]").count()
    assert page.locator("svg[data-chart=flows] path[data-blocked]").count() >= 1
    events = page.locator(".view-events")
    assert "2025-04 China: licences on heavy rare earths" in events.inner_text()
    # hover: the value of every line that month
    zone = prices.locator("rect.hover-zone").first  # the light oxide panel
    edges = [float(e) for e in zone.get_attribute("data-hover-x").split(",")]
    scale = page.evaluate("() => { const s = document.querySelector('svg[data-chart=prices]');"
                          " return s.getBoundingClientRect().width / s.viewBox.baseVal.width; }")
    box = prices.bounding_box()
    x = box["x"] + (edges[14] + edges[15]) / 2 * scale  # the 16th month: 2025-04
    zbox = zone.bounding_box()
    page.mouse.move(x, zbox["y"] + zbox["height"] / 2)
    tip = page.locator(".chart-frame-prices .chart-tip")
    tip.wait_for(state="visible")
    shown = tip.inner_text()
    assert shown.startswith("2025-04  (US$/kg)") and "China:" in shown and "Japan:" in shown
    # take-aways: each chart as SVG and PNG, the run as CSV
    frame = page.locator(".chart-frame-prices")
    with page.expect_download() as svg_download:
        frame.locator("button[data-format=svg]").click()
    svg_text = Path(svg_download.value.path()).read_text()
    assert svg_text.startswith("<svg") and 'data-chart="prices"' in svg_text
    with page.expect_download() as png_download:
        frame.locator("button[data-format=png]").click()
    png = Path(png_download.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    assert png_download.value.suggested_filename == "controls_2025_seed0_2025-10_prices.png"
    with page.expect_download() as csv_download:
        page.get_by_text("Download the run (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
    assert len(rows) == 22 and rows[-1]["date"] == "2025-10"
    april = next(r for r in rows if r["date"] == "2025-04")
    china = float(shown.split("China: ")[1].split("\n")[0].replace(",", ""))
    assert china == round(float(april["price_light_china"]))  # hover = the run's data
    assert float(rows[-1]["price_heavy_world"]) > 2 * float(rows[0]["price_heavy_world"])
    # a view setting applies at once: the price axis turns logarithmic (decade ticks)
    linear = prices.inner_html()
    page.get_by_label("log scale").check(force=True)
    page.wait_for_function(
        "(old) => document.querySelector('svg[data-chart=prices]').innerHTML !== old", arg=linear)
    assert ">1,000<" in prices.inner_html() or ">100<" in prices.inner_html()
    # compare: run B with another elasticity, caught up and drawn faded beside run A
    page.get_by_label("Compare with run B (faded)").check(force=True)
    probe.choose("Run B changes", "Demand elasticity")
    page.locator(".view-compare", has_text="B: Demand elasticity 1.0").wait_for()
    faded = prices.locator('polyline[data-series="World (outside China) (B)"]').first
    faded.wait_for(state="attached")
    page.evaluate("document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; });"
                  "window.scrollTo(0, 0)")
    page.mouse.move(1, 1)  # no tooltip in the picture
    shot = _screenshot_path(tmp_path)
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 50_000  # a real page, not a blank one
    probe.assert_offline_clean()
    assert probe.step_no() == 22 and len(timings) == 22
    print(f"\nstep + redraw of every view (browser clock): median "
          f"{statistics.median(timings[2:]) * 1000:.0f} ms over {len(timings) - 2} steps")
    context.close()


def test_run_to_the_next_event_and_a_month(server, browser):
    probe = PageProbe(browser, server)
    page = probe.page
    page.get_by_role("button", name="Run to next event (2024-01)").click()  # China's quotas
    page.get_by_role("button", name="Run to next event (2025-01)").click()  # Mountain Pass
    page.wait_for_function("document.querySelector('svg[data-chart=prices]')"
                           ".getAttribute('data-step') === '13'")
    page.get_by_role("button", name="Run to next event (2025-04)").click()
    page.wait_for_function("document.querySelector('svg[data-chart=prices]')"
                           ".getAttribute('data-step') === '16'")
    assert "month 2025-04" in page.locator(".status-line").inner_text()
    page.get_by_label("Run to (YYYY-MM)").fill("2026-01")
    page.get_by_role("button", name="Run to", exact=True).click()
    page.wait_for_function("document.querySelector('.status-line').textContent"
                           ".includes('month 2026-01')")
    page.get_by_label("Run to (YYYY-MM)").fill("1999-99")
    page.get_by_role("button", name="Run to", exact=True).click()
    page.locator(".app-error", has_text="Run to: type a month as YYYY-MM").wait_for()
    probe.assert_offline_clean()
    page.close()


def test_bad_input_is_refused_with_a_visible_message(server, browser):
    probe = PageProbe(browser, server)
    page = probe.page
    field = page.get_by_label("Demand elasticity (abs.)")
    field.fill("lots")
    field.press("Enter")
    error = page.locator(".field-error")
    error.wait_for()
    assert "Demand elasticity (abs.): must be a number between 0 and 2, got 'lots'" in (
        error.inner_text())
    probe.click_button("Reset")
    page.locator(".app-error", has_text="Not reset: fix the marked fields first").wait_for()
    field.fill("0.5")
    field.press("Enter")
    page.locator(".field-error").wait_for(state="detached")
    page.locator(".pending-note", has_text="demand elasticity").wait_for()
    probe.click_button("Reset")
    page.locator(".pending-note").wait_for(state="detached")
    probe.step()  # the page still works after refusing input (waits for every view)
    probe.assert_offline_clean()
    page.close()


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "trap.toml"
    os.mkfifo(path)
    return path


def _opened_by_someone(fifo: Path) -> bool:
    """Whether a process holds the FIFO open for reading (opening it would block the server:
    a non-blocking open for writing succeeds only while a reader waits)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        assert exc.errno == errno.ENXIO
        return False
    os.close(fd)
    return True


def test_crafted_values_over_the_websocket_are_refused(server, server_log, browser, tmp_path):
    probe = PageProbe(browser, server)
    page = probe.page
    fifo = _fifo(tmp_path)
    before = page.locator(".status-line").inner_text()
    for label, value in (("Scenario (starts at once)", "/etc/passwd"),
                         ("Scenario (starts at once)", str(fifo)),
                         ("Scenario (starts at once)", "/dev/zero"),
                         ("Speed (months per second)", "fast"),
                         ("To USA: heavy", "nuke"),
                         ("US-Japan framework (Oct 2025)", "maybe"),
                         ("log scale", "/etc/shadow")):
        assert probe.craft(label, value) >= 1, label
        message = page.locator(".app-error", has_text="Refused:").last
        message.wait_for()
        text = message.inner_text()
        assert text.count("\n") == 0 and "is not a value the" in text, text
    page_text = page.locator("body").inner_text()
    assert "Traceback" not in page_text and 'File "' not in page_text
    assert page.locator(".status-line").inner_text() == before  # nothing changed
    assert not _opened_by_someone(fifo)  # the server never tried to read it
    probe.step()  # and it still works
    probe.assert_offline_clean()
    log = server_log.read_text()
    assert "Traceback" not in log and "passwd" not in log
    page.close()


def _handshake(url: str, origin: str | None) -> str:
    host = url.split("//", 1)[1].rstrip("/")
    lines = [f"GET /jupyter/api/kernels/{uuid.uuid4()}/channels?session_id=x HTTP/1.1",
             f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if origin:
        lines.append(f"Origin: {origin}")
    name, port = host.rsplit(":", 1)
    with socket.create_connection((name, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(1024).decode("latin-1").split("\r\n", 1)[0]


def test_the_websocket_refuses_other_origins(server):
    assert " 403 " in _handshake(server, "http://evil.example") + " "
    assert " 403 " in _handshake(server, "null") + " "
    assert " 101 " in _handshake(server, server.rstrip("/")) + " "


SIZED_JS = """(name) => {
  const s = document.querySelector(`svg[data-chart=${name}]`);
  return s && Math.abs(s.viewBox.baseVal.width - s.getBoundingClientRect().width) < 2;
}"""
FONT_JS = """(name) => {
  const svg = document.querySelector(`svg[data-chart=${name}]`);
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const sizes = [...svg.querySelectorAll('text')].map(t => parseFloat(t.getAttribute('font-size'))
    * scale);
  return {min: Math.min(...sizes), count: sizes.length, dpr: window.devicePixelRatio,
          width: svg.getBoundingClientRect().width, inner: window.innerWidth};
}"""


def test_projector_mode_is_readable_from_the_back_and_grows_with_zoom(server, browser):
    probe = PageProbe(browser, server, viewport={"width": 1920, "height": 1080})
    page = probe.page
    for _ in range(3):
        probe.step()
    page.get_by_role("button", name="Projector mode").click()
    page.wait_for_function("document.querySelector('svg[data-chart=prices]')"
                           "?.getAttribute('data-font') === '22'")
    # one chart at a time (the other views leave with the next render)
    page.wait_for_function("document.querySelectorAll('svg[data-chart]').length === 1")
    page.wait_for_function(SIZED_JS, arg="prices")  # redrawn for its frame's width
    fonts = page.evaluate(FONT_JS, "prices")
    assert fonts["min"] >= 18 and fonts["count"] > 20
    assert fonts["width"] > 0.9 * 1920  # full width
    page.get_by_role("button", name="Next >").click()
    page.wait_for_function("document.querySelector('svg[data-chart=dependence]')"
                           "?.getAttribute('data-font') === '22'")
    page.wait_for_function(SIZED_JS, arg="dependence")
    assert page.evaluate(FONT_JS, "dependence")["min"] >= 18
    probe.assert_offline_clean()
    page.close()
    # browser zoom 150% on the same screen = a 1280 px wide page on a 1.5x display: the
    # charts are redrawn for the narrower page with text of the same CSS size, so on the screen
    # it is 1.5 times larger
    zoomed = browser.new_context(viewport={"width": 1280, "height": 720},
                                 device_scale_factor=1.5)
    probe = PageProbe(zoomed, server)
    page = probe.page
    page.get_by_role("button", name="Projector mode").click()
    page.wait_for_function("document.querySelector('svg[data-chart=prices]')"
                           "?.getAttribute('data-font') === '22'")
    page.wait_for_function(SIZED_JS, arg="prices")
    fonts = page.evaluate(FONT_JS, "prices")
    assert fonts["dpr"] == 1.5 and fonts["min"] >= 18  # >= 27 device pixels
    probe.assert_offline_clean()
    zoomed.close()


def test_a_phone_stacks_the_columns_and_clips_nothing(server, browser):
    probe = PageProbe(browser, server, viewport={"width": 390, "height": 844})
    page = probe.page
    probe.step()
    layout = page.evaluate("""() => {
      const controls = document.querySelector('.controls').getBoundingClientRect();
      const main = document.querySelector('.main').getBoundingClientRect();
      const charts = [...document.querySelectorAll('svg[data-chart]')]
        .map(s => s.getBoundingClientRect().right);
      return {controlsBottom: controls.bottom, mainTop: main.top, right: Math.max(...charts),
              scroll: document.documentElement.scrollWidth, width: window.innerWidth};
    }""")
    assert layout["mainTop"] >= layout["controlsBottom"] - 1  # stacked, not side by side
    assert layout["right"] <= layout["width"] and layout["scroll"] <= layout["width"]
    prices = page.locator("svg[data-chart=prices]")
    # the two price panels are stacked, not squeezed side by side
    titles = prices.locator("text", has_text="oxide")
    first, second = titles.nth(0).bounding_box(), titles.nth(1).bounding_box()
    assert second["y"] > first["y"] + 100
    assert page.evaluate(FONT_JS, "prices")["min"] >= 10.5  # 0.85 x 13 px, nothing smaller
    probe.assert_offline_clean()
    page.close()


def test_play_runs_and_pause_stops(server, browser):
    probe = PageProbe(browser, server)
    page = probe.page
    probe.click_button("Play")
    page.wait_for_function(
        "Number(document.querySelector('svg[data-chart=prices]').getAttribute('data-step')) >= 3")
    probe.click_button("Pause")
    # a month already under way when Pause arrives still finishes (on a loaded machine that
    # can take a while): wait for the button to turn back, then for that month to land
    page.get_by_role("button", name="Play", exact=True).wait_for()
    page.wait_for_function("!document.querySelector('.status-line').textContent"
                           ".includes('| playing')")
    page.wait_for_timeout(1000)
    stopped = probe.step_no()
    page.wait_for_timeout(1500)
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
    page.get_by_label("history").uncheck(force=True)
    page.get_by_label("model choices").uncheck(force=True)
    page.wait_for_function("!document.querySelector('.view-events').textContent"
                           ".includes('licences')")
    assert "-> ban (user)" in page.locator(".view-events").inner_text()  # yours only
    probe.assert_offline_clean()
    page.close()


def test_downloads_are_named_by_the_server(server, browser):
    """No control names a file: downloads are built in memory and named from offered values."""
    probe = PageProbe(browser, server)
    page = probe.page
    names = page.evaluate("""async () => {
      const manager = solara.debug.widgetManager();
      const out = [];
      for (const p of Object.values(manager._models)) {
        const m = await p;
        if (m.get('filename') !== undefined) out.push(m.get('filename'));
      }
      return out;
    }""")
    assert names and all("/" not in n and ".." not in n for n in names)
    assert "controls_2025_seed0_start.csv" in names
    page.close()


def test_a_browser_that_died_is_replaced_for_the_next_test(_chromium):
    first = _chromium()
    assert _chromium() is first  # shared while it lives
    first.close()  # as a crash would leave it: disconnected
    second = _chromium()
    assert second is not first and second.is_connected()
    assert second.new_page().evaluate("1 + 1") == 2
