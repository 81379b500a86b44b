"""Driving the app in Debian's chromium: shared by the browser tests and the benchmarks.

``serve_dashboard`` starts ``solara run app.py --production`` on a free local port (with the
classroom's database in a directory of the caller's choice); ``PageProbe`` opens a page with
every request to anything but that server aborted and recorded, so callers can prove the page
works with no internet connection; ``craft`` sets a widget's value from the page's own
JavaScript and sends it over the websocket, as an attacker's script would.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# --disable-dev-shm-usage: in containers /dev/shm is often 64 MB, too small for chromium's
# shared memory, and a renderer that runs out of it takes the whole browser down
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
DASHBOARD_CHARTS = ("prices", "dependence", "outside", "shares", "stocks", "network", "flows")
VIEWS_DONE_JS = """([n, charts]) => {
  const drawn = charts.every(c => {
    const el = document.querySelector(`svg[data-chart=${c}]`);
    return el && el.getAttribute('data-step') === String(n);
  });
  const status = document.querySelector('.status-line');
  return drawn && status && status.textContent.includes(`step ${n} of`);
}"""
# Clicks Step inside the page and resolves, on the first animation frame at which every view
# shows the new step, with the milliseconds elapsed (browser clock: no Playwright round trips).
TIMED_STEP_JS = """([n, charts]) => new Promise((resolve, reject) => {
  const done = %s;
  const button = [...document.querySelectorAll('button')]
    .find(b => b.textContent.trim() === 'Step');
  const t0 = performance.now();
  button.click();
  const check = () => {
    if (done([n, charts])) resolve(performance.now() - t0);
    else if (performance.now() - t0 > 15000) reject(new Error('step timed out'));
    else requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})""" % VIEWS_DONE_JS  # noqa: UP031 - JavaScript braces make str.format unreadable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardError(RuntimeError):
    """The dashboard server did not start (the message holds the end of its log)."""


@contextlib.contextmanager
def serve_dashboard(log_path: Path, classroom_dir: Path | None = None,
                    port: int | None = None) -> Iterator[str]:
    """Start the app on a free port (or ``port``); yield its URL; stop it on exit.

    Args:
        log_path: the server's output goes here (appended).
        classroom_dir: ``ABM_CLASSROOM_DIR`` for the server (default: next to the log).
        port: a port to reuse (to restart a server at the same address).

    Raises:
        DashboardError: the server exited or did not answer within 60 s.
    """
    subprocess.run([sys.executable, str(ROOT / "scripts" / "setup_frontend.py")], check=True,
                   cwd=ROOT, capture_output=True)
    port = port or _free_port()
    solara_bin = Path(sys.executable).with_name("solara")
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
           "ABM_CLASSROOM_DIR": str(classroom_dir or log_path.parent / "classroom")}
    with open(log_path, "a") as log:
        proc = subprocess.Popen(
            [str(solara_bin), "run", "app.py", "--host", "127.0.0.1", "--port", str(port),
             "--production", "--no-open"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 180  # a loaded CI machine starts solara slowly
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise DashboardError(
                        f"dashboard server did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def launch_chromium() -> Iterator[object]:
    """A headless Debian chromium (never a Playwright-downloaded browser)."""
    with chromium_keeper() as keep:
        yield keep()


@contextlib.contextmanager
def chromium_keeper() -> Iterator[object]:
    """A function that returns a live headless chromium, launching a new one if it died.

    A module's tests share one browser; if it crashes in one test, the next test gets a new
    browser instead of failing on the dead one (the crash is reported on stderr).
    """
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise DashboardError("no /usr/bin/chromium: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as pw:
        live = []

        def keep():
            if live and not live[-1].is_connected():
                print("chromium disconnected: launching a new one", file=sys.stderr)
                live.pop()
            if not live:
                live.append(pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
            return live[-1]

        try:
            yield keep
        finally:
            for b in live:
                with contextlib.suppress(Exception):  # a dead browser cannot be closed
                    b.close()


# What a failure message reports: the control's shown value and menu state, the open menus'
# options, the status line and any notice or error on the page.
DESCRIBE_JS = """(field) => {
  const text = sel => [...document.querySelectorAll(sel)].map(e => e.textContent.trim())
    .filter(Boolean).join(' / ');
  const box = field && field.querySelector('.v-field');
  return [
    'shows ' + JSON.stringify(field && (field.querySelector('.v-select__selection-text')
      || {}).textContent),
    'expanded=' + (box && box.getAttribute('aria-expanded')),
    'open menus: ' + ([...document.querySelectorAll('.v-overlay--active')]
      .map(o => o.id + ' [' + [...o.querySelectorAll('[role=option]')]
        .map(e => e.textContent.trim()).join(', ') + ']').join('; ') || 'none'),
    'status: ' + text('.status-line'),
    'notices: ' + (text('.app-notice, .field-error, .v-alert') || 'none'),
  ].join('; ');
}"""
CRAFT_JS = """async ([label, value]) => {
  // what a script in the page can do: find the widget by its label, set any value, send it
  const manager = solara.debug.widgetManager();
  let hit = 0;
  for (const promise of Object.values(manager._models)) {
    const model = await promise;
    if (model.get('label') === label && model.get('v_model') !== undefined) {
      model.set('v_model', value);
      model.save_changes();
      hit += 1;
    }
  }
  return hit;
}"""


class PageProbe:
    """A page with offline enforcement and a record of what went wrong.

    Args:
        browser: a Playwright browser (or context: anything with ``new_page``).
        url: the page to open.
        viewport: its size (CSS px).
        wait_for: a selector to wait for after loading (``None``: do not wait).
    """

    def __init__(self, browser, url: str, viewport: dict | None = None,
                 wait_for: str | None = "svg[data-chart=network]"):
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        if hasattr(browser, "new_context"):  # a browser: the page gets its own context
            self.page = browser.new_page(viewport=viewport or {"width": 1600, "height": 1250},
                                         accept_downloads=True)
        else:  # a context: it decides the viewport unless one is given
            self.page = browser.new_page()
            if viewport:
                self.page.set_viewport_size(viewport)
        self.page.set_default_timeout(90_000)  # generous: CI machines are shared
        parts = urlsplit(url)
        local = f"{parts.scheme}://{parts.netloc}"  # the server, whatever page is opened
        ws_local = local.replace("http://", "ws://")

        def route(r):
            u = r.request.url
            if u.startswith((local, ws_local, "data:", "blob:")):
                r.continue_()
            else:
                self.external.append(u)
                r.abort()

        self.page.route("**/*", route)
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(
            f"{r.url} HTTP {r.status}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        if wait_for:
            self.page.wait_for_selector("svg[data-chart=prices]")
            self.page.wait_for_selector(wait_for)

    def step_no(self) -> int:
        return int(self.page.locator("svg[data-chart=prices]").get_attribute("data-step"))

    def click_button(self, label: str) -> None:
        self.page.get_by_role("button", name=label, exact=True).click()

    def step(self, charts=DASHBOARD_CHARTS) -> float:
        """Click Step and wait until every view is redrawn; return the seconds it took."""
        n = self.step_no() + 1
        start = time.perf_counter()
        self.click_button("Step")
        self.page.wait_for_function(VIEWS_DONE_JS, arg=[n, list(charts)], polling="raf")
        return time.perf_counter() - start

    def timed_step(self, charts=DASHBOARD_CHARTS) -> float:
        """Step from inside the page; return browser-measured seconds until all views show it."""
        return self.page.evaluate(TIMED_STEP_JS, [self.step_no() + 1, list(charts)]) / 1000.0

    def choose(self, label: str, option: str) -> None:
        """Open the select labelled ``label``, pick the option with this text, and wait until
        the select shows it (a click while the page is busy may be lost: then again).

        The option is looked for in this select's own menu (the one its combobox controls),
        by its exact text, so a menu of another select still fading out cannot take the click.

        Raises:
            DashboardError: not chosen after five tries; the message says what the page showed.
        """
        field = self.page.locator(".v-select", has=self.page.get_by_label(label)).first
        box = field.locator(".v-field[role=combobox]").first
        shown = field.locator(".v-select__selection-text", has_text=option)
        for attempt in range(5):
            if shown.count():  # an earlier click took effect late (a busy server)
                return
            try:
                box.click(force=attempt % 2 == 1, timeout=10_000 * (attempt + 1))
                menu = box.get_attribute("aria-controls") or ""
                item = (self.page.locator(f"[id='{menu}']") if menu else
                        self.page.locator(".v-overlay--active"))
                item = item.get_by_role("option", name=option, exact=True).first
                item.wait_for(timeout=5_000 * (attempt + 1))
                item.click()
                shown.wait_for(timeout=10_000 * (attempt + 1))
                return
            except Exception:  # noqa: BLE001 - Playwright's timeout: try again
                self.page.keyboard.press("Escape")
                self.page.wait_for_timeout(500 * (attempt + 1))
        if shown.count():
            return
        raise DashboardError(f"could not choose {option!r} in {label!r}: {self.describe(field)}")

    def describe(self, field) -> str:
        """One line on the page's state around a control, for a failure message."""
        try:
            return self.page.evaluate(DESCRIBE_JS, field.element_handle(timeout=5_000))
        except Exception as exc:  # noqa: BLE001 - a dead page: say so
            return f"page not readable ({type(exc).__name__})"

    def craft(self, label: str, value) -> int:
        """Set the value of every widget labelled ``label`` from the page's JavaScript and
        send it to the server; return how many widgets were hit."""
        return self.page.evaluate(CRAFT_JS, [label, value])

    def assert_offline_clean(self) -> None:
        assert self.external == [], f"page tried to reach the internet: {self.external}"
        assert self.failed == [], f"failed requests: {self.failed}"
        assert self.errors == [], f"browser console errors: {self.errors}"
