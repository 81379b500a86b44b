"""Classroom responsiveness: 30 students in one room, from "Close round" to every page updated.

Usage (from the repository root; needs ``make frontend chromium``, which ``make test`` does)::

    .venv/bin/python benchmarks/bench_classroom.py [--students 30] [--rounds 5]

Creates a room with ``--students`` seats spread over the five roles (the seats and the first
round's moves are written to the room's database before the server starts, as if the students
had joined and submitted), starts the app (``solara run app.py --production``) on a free local
port, opens the teacher's view and every student's seat link in its own headless chromium
context (offline: requests that leave the machine are aborted), and then, ``--rounds`` times,
presses "Close round" on the teacher's page and records, in every student's page, the moment
its month line shows the new month (a MutationObserver; wall clock, one machine). Reported:
median and maximum over the students of the time from the click to the update, per round and
over all rounds, and the server's own time to close a round (apply moves, run six months)
measured in this process on the same room for scale.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import header, table

from abm_dashboard.classroom import ROLES, Classroom
from abm_dashboard.store import Store
from tests.browser_support import DashboardError, PageProbe, launch_chromium, serve_dashboard

WATCH_JS = """(target) => {
  window.__seen = null;
  const check = () => {
    const el = document.querySelector('.student-month');
    if (!window.__seen && el && el.getAttribute('data-month') === target) {
      window.__seen = Date.now();
    }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true,
    attributes: true, characterData: true});
  check();
}"""
CLICK_JS = """() => {
  const button = [...document.querySelectorAll('button')]
    .find(b => b.textContent.trim() === 'Close round');
  const t0 = Date.now();
  button.click();
  return t0;
}"""


def _clock_offset(page, samples: int = 7) -> float:
    """How far a page's ``Date.now()`` is ahead of this process's clock, ms (the sample with
    the shortest round trip). Renderer processes keep their own time base, so pages of one
    browser can disagree by a tenth of a second under load; every page time is corrected."""
    best = (float("inf"), 0.0)
    for _ in range(samples):
        before = time.time() * 1000.0
        value = page.evaluate("Date.now()")
        after = time.time() * 1000.0
        best = min(best, (after - before, value - (before + after) / 2.0))
    return best[1]


def _months_after(month: str, n: int) -> str:
    k = int(month[:4]) * 12 + int(month[5:7]) - 1 + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def _prepare(directory: Path, students: int) -> tuple[str, str, list[str]]:
    """A room with seats and first-round moves, written before the server starts."""
    classroom = Classroom(Store(directory / "classroom.sqlite3"))
    code, secret = classroom.new_room(seed=0)
    tokens = []
    for i in range(students):
        role = ROLES[i % len(ROLES)]
        _, token = classroom.join(code, role, f"student{i + 1}")
        tokens.append(token)
        if i < len(ROLES):  # one member of each team submits
            classroom.submit(code, token, {"export": "open", "stockpile": "build",
                                           "alliance": "stay"})
    return code, secret, tokens


def _server_close_time(students: int, rounds: int) -> list[float]:
    """Seconds to close a round in-process (no pages): the server's share of the wait."""
    with tempfile.TemporaryDirectory() as tmp:
        code, secret, _tokens = _prepare(Path(tmp), students)
        classroom = Classroom(Store(Path(tmp) / "classroom.sqlite3"))
        out = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            classroom.close_round(code, secret)
            classroom.snapshot(code)
            out.append(time.perf_counter() - t0)
        return out


def _server_with_pages(students: int, rounds: int) -> list[float]:
    """Seconds from a close until every student's page, rendered in this process (the
    server's side of a page, no browser), shows the new month (polled every 10 ms)."""
    import re

    import ipywidgets
    import solara

    from abm_dashboard.classroom_views import ClassroomApp

    def month(rc) -> str | None:
        stack = [rc.find(ipywidgets.Widget).widget]
        while stack:
            w = stack.pop()
            text = getattr(w, "unsafe_innerHTML", None)
            if isinstance(text, str) and "student-month" in text:
                return re.search(r'data-month="([^"]+)"', text).group(1)
            stack += [c for c in getattr(w, "children", None) or []
                      if isinstance(c, ipywidgets.Widget)]
        return None

    with tempfile.TemporaryDirectory() as tmp:
        code, secret, tokens = _prepare(Path(tmp), students)
        classroom = Classroom(Store(Path(tmp) / "classroom.sqlite3"))
        pages = [solara.render(ClassroomApp(classroom, f"room={code}&seat={t}", lambda _: None),
                               handle_error=False)[1] for t in tokens]
        out, target = [], "2024-01"
        for _ in range(rounds):
            target = _months_after(target, 6)
            t0 = time.perf_counter()
            classroom.close_round(code, secret)
            while not all(month(rc) == target for rc in pages):
                time.sleep(0.01)
            out.append(time.perf_counter() - t0)
        for rc in pages:
            rc.close()
        return out


def main() -> int:
    """Measure and print the tables; 2 when the app or the browser cannot start."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.students < 1 or args.rounds < 1:
        ap.error("--students and --rounds must be at least 1")
    header(f"bench_classroom: {args.students} students, Close round to every page updated")
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)\n")
    rows, every = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rooms = Path(tmp) / "rooms"
            rooms.mkdir()
            code, secret, tokens = _prepare(rooms, args.students)
            with serve_dashboard(Path(tmp) / "server.log", classroom_dir=rooms) as url, \
                    launch_chromium() as browser:
                teacher = PageProbe(browser.new_context(viewport={"width": 1920, "height": 1080}),
                                    f"{url}classroom?room={code}&teacher={secret}",
                                    wait_for=None)
                teacher.page.locator(".room-code").wait_for()
                pages = []
                t_open = time.perf_counter()
                for token in tokens:
                    context = browser.new_context(viewport={"width": 390, "height": 844})
                    probe = PageProbe(context, f"{url}classroom?room={code}&seat={token}",
                                      wait_for=None)
                    pages.append(probe)
                for probe in pages:
                    probe.page.locator(".student-month").wait_for(timeout=120_000)
                opened = time.perf_counter() - t_open
                month = "2024-01"
                for r in range(1, args.rounds + 1):
                    target = _months_after(month, 6)
                    offsets = [_clock_offset(p.page) for p in pages]
                    for probe in pages:
                        probe.page.evaluate(WATCH_JS, target)
                    t0 = teacher.page.evaluate(CLICK_JS) - _clock_offset(teacher.page)
                    deadline = time.monotonic() + 120
                    seen: list[float] = []
                    while time.monotonic() < deadline:
                        seen = [p.page.evaluate("window.__seen") for p in pages]
                        if all(seen):
                            break
                        time.sleep(0.05)
                    if not all(seen):
                        raise DashboardError(f"round {r}: not every page showed {target}")
                    lat = [(s - off - t0) / 1000.0 for s, off in zip(seen, offsets, strict=True)]
                    if os.environ.get("BENCH_DEBUG"):
                        closed = len(Store(rooms / "classroom.sqlite3").rounds(code))
                        print(r, closed, sorted(round(x * 1000) for x in lat))
                    every += lat
                    rows.append([f"round {r} ({month} -> {target})", str(len(lat)),
                                 f"{statistics.median(lat) * 1000:.0f}",
                                 f"{max(lat) * 1000:.0f}"])
                    month = target
                for probe in (teacher, *pages):
                    probe.assert_offline_clean()
    except (DashboardError, AssertionError) as exc:
        print(f"error: {str(exc).splitlines()[0]}")
        return 2
    rows.append(["all rounds", str(len(every)), f"{statistics.median(every) * 1000:.0f}",
                 f"{max(every) * 1000:.0f}"])
    print(f"{args.students} student pages opened in {opened:.1f} s (each its own context)\n")
    print("## Close round -> every student's page shows the new month (wall clock)\n")
    print(table(["round", "pages", "median ms", "max ms"], rows))
    server = _server_close_time(args.students, args.rounds)
    print(f"\nServer alone (in this process, no pages): close a round and rebuild the room's "
          f"view: median {statistics.median(server) * 1000:.0f} ms, max "
          f"{max(server) * 1000:.0f} ms over {len(server)} rounds.")
    sides = _server_with_pages(args.students, args.rounds)
    print(f"Server with the {args.students} pages' server side rendered in this process (no "
          f"browser): close to every page redrawn: median {statistics.median(sides) * 1000:.0f}"
          f" ms, max {max(sides) * 1000:.0f} ms over {len(sides)} rounds.")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
