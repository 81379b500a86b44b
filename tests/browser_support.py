"""Driving the dashboard in Debian's chromium: shared by the browser tests and the benchmark.

``serve_dashboard`` starts ``solara run app.py --production`` on a free local port;
``PageProbe`` opens it with every request to anything but that server aborted and recorded, so
callers can prove the page works with no internet connection.
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

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWS_DONE_JS = """(n) => {
  const charts = ['prices', 'shares', 'stocks', 'network', 'flows'].every(c => {
    const el = document.querySelector(`svg[data-chart=${c}]`);
    return el && el.getAttribute('data-step') === String(n);
  });
  const status = document.querySelector('.status-line');
  return charts && status && status.textContent.includes(`step ${n} of`);
}"""
# Clicks Step inside the page and resolves, on the first animation frame at which every view
# shows the new step, with the milliseconds elapsed (browser clock: no Playwright round trips).
TIMED_STEP_JS = """(n) => new Promise((resolve, reject) => {
  const done = %s;
  const button = [...document.querySelectorAll('button')]
    .find(b => b.textContent.trim() === 'Step');
  const t0 = performance.now();
  button.click();
  const check = () => {
    if (done(n)) resolve(performance.now() - t0);
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
def serve_dashboard(log_path: Path) -> Iterator[str]:
    """Start the dashboard on a free port; yield its URL; stop it on exit.

    Raises:
        DashboardError: the server exited or did not answer within 60 s.
    """
    subprocess.run([sys.executable, str(ROOT / "scripts" / "setup_frontend.py")], check=True,
                   cwd=ROOT, capture_output=True)
    port = _free_port()
    solara_bin = Path(sys.executable).with_name("solara")
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(solara_bin), "run", "app.py", "--host", "127.0.0.1", "--port", str(port),
             "--production", "--no-open"], cwd=ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 60
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
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise DashboardError("no /usr/bin/chromium: run `make chromium` (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageProbe:
    """A page with offline enforcement and a record of what went wrong."""

    def __init__(self, browser, url: str):
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1600, "height": 1250})
        self.page.set_default_timeout(20_000)
        local = url.rstrip("/")
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
        self.page.wait_for_selector("svg[data-chart=prices]")
        self.page.wait_for_selector("svg[data-chart=network]")

    def step_no(self) -> int:
        return int(self.page.locator("svg[data-chart=prices]").get_attribute("data-step"))

    def click_button(self, label: str) -> None:
        self.page.get_by_role("button", name=label, exact=True).click()

    def step(self) -> float:
        """Click Step and wait until every view is redrawn; return the seconds it took."""
        n = self.step_no() + 1
        start = time.perf_counter()
        self.click_button("Step")
        self.page.wait_for_function(VIEWS_DONE_JS, arg=n, polling="raf")
        return time.perf_counter() - start

    def timed_step(self) -> float:
        """Step from inside the page; return browser-measured seconds until all views show it."""
        return self.page.evaluate(TIMED_STEP_JS, self.step_no() + 1) / 1000.0

    def choose(self, label: str, option: str) -> None:
        self.page.get_by_label(label).first.click(force=True)  # vuetify's field overlays it
        self.page.locator(".v-overlay--active .v-list-item", has_text=option).first.click()

    def assert_offline_clean(self) -> None:
        assert self.external == [], f"page tried to reach the internet: {self.external}"
        assert self.failed == [], f"failed requests: {self.failed}"
        assert self.errors == [], f"browser console errors: {self.errors}"
