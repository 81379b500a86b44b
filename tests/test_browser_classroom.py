"""Browser test of the classroom game: a teacher and three students, each in their own browser
context (own cookies, own storage), offline, on a live server that is restarted mid-game."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from tests.browser_support import PageProbe, serve_dashboard

pytestmark = pytest.mark.browser


def _student(browser, url: str, code: str, role: str, name: str) -> PageProbe:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    probe = PageProbe(context, url + "classroom", wait_for=None)
    page = probe.page
    page.get_by_label("Room code").fill(code.lower())  # typed in any case
    probe.choose("Role", role)
    page.get_by_label("Your name (optional)").fill(name)
    page.get_by_role("button", name="Join").click()
    page.locator(".student-month").wait_for()
    page.wait_for_url("**/classroom?room=*&seat=*")  # a reload keeps the seat
    return probe


def _month(probe: PageProbe) -> str:
    return probe.page.locator(".student-month").get_attribute("data-month")


def _move(probe: PageProbe, label: str, option: str) -> None:
    probe.choose(label, option)


def test_a_class_plays_rounds_and_the_server_restarts(browser, tmp_path):
    log, rooms = tmp_path / "server.log", tmp_path / "rooms"
    with serve_dashboard(log, classroom_dir=rooms) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        teacher = PageProbe(browser.new_context(viewport={"width": 1920, "height": 1080},
                                                accept_downloads=True),
                            url + "classroom", wait_for=None)
        tpage = teacher.page
        tpage.get_by_role("button", name="New room").click()
        tpage.locator(".room-code").wait_for()
        code = tpage.locator(".room-code").inner_text().removeprefix("Room code: ")
        assert len(code) >= 5 and code.isalnum()
        tpage.wait_for_url("**/classroom?room=*&teacher=*")  # the link to keep
        teacher_url = tpage.url
        ana = _student(browser, url, code, "USA", "Ana")
        ben = _student(browser, url, code, "USA", "Ben")
        chen = _student(browser, url, code, "Japan", "Chen")
        students = (ana, ben, chen)
        assert all(_month(s) == "2024-01" for s in students)
        assert "team of 2: Ana, Ben" in ben.page.locator(".team-line").inner_text()
        assert ana.page.get_by_role("button", name="Close round").count() == 0
        # the teacher's board fills in as students join; moves stay secret
        tpage.locator('.seats-table tr[data-role="USA"]', has_text="Ana, Ben").wait_for()
        _move(ana, "Export policy", "licences on light and heavy")
        ana.page.get_by_role("button", name="Submit moves").click()
        ana.page.locator(".submitted-note", has_text="by Ana").wait_for()
        _move(ben, "Alliance", "ally with Japan")
        ben.page.get_by_role("button", name="Submit moves").click()  # replaces Ana's moves
        ana.page.locator(".submitted-note", has_text="by Ben").wait_for()  # Ana sees it live
        _move(chen, "Alliance", "ally with USA")
        _move(chen, "Stockpile", "build up")
        chen.page.get_by_role("button", name="Submit moves").click()
        tpage.locator('.seats-table tr[data-role="JPN"] td.sub-submitted').wait_for()
        board = tpage.locator(".seats-table").inner_text()
        assert "ally" not in board and "licence" not in board  # who, not what
        # a crafted role in the lobby is refused in one line
        lobby = PageProbe(browser.new_context(), url + "classroom", wait_for=None)
        lobby.page.get_by_label("Room code").wait_for()
        assert lobby.craft("Role", "../../etc/passwd") == 1
        refusal = lobby.page.locator(".class-error").inner_text()
        assert refusal.startswith("Refused: '../../etc/passwd' is not a value the 'Role'")
        assert "\n" not in refusal
        lobby.page.goto(url + f"classroom?room={code}&teacher=notthesecretnotthesecret")
        lobby.page.locator(".class-error", has_text="This teacher link is not valid").wait_for()
        assert lobby.page.get_by_role("button", name="Close round").count() == 0
        # close the round: every student sees the new month
        tpage.get_by_role("button", name="Close round").click()
        for s in students:
            s.page.wait_for_function(
                "document.querySelector('.student-month').getAttribute('data-month')"
                " === '2024-07'")
        reveal = tpage.locator(".reveal-table").inner_text()
        assert "alliance with Japan formed (both proposed it)" in reveal
        usa_row = tpage.locator(".reveal-table tr", has_text="USA").first.inner_text()
        assert "open" in usa_row and "licence" not in usa_row  # Ben's submit replaced Ana's
        assert "alliance with USA formed" in chen.page.locator(".reveal-table").inner_text()
        assert "US" in chen.page.locator("table.briefing").inner_text()  # in the alliance
        shot = os.environ.get("CLASSROOM_SCREENSHOT")  # the README's: docs/classroom.png
        if shot:
            tpage.locator("svg[data-chart=network]").wait_for()
            tpage.screenshot(path=shot)
            chen.page.screenshot(path=str(Path(shot).with_name("classroom_student.png")),
                                 full_page=True)
        # a student who reloads gets the seat back
        ana.page.reload()
        ana.page.locator("h1", has_text="You play USA").wait_for()  # the heading can come last
        assert _month(ana) == "2024-07"
        # the game record downloads
        with tpage.expect_download() as record:
            tpage.get_by_text("Download the game record (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(Path(record.value.path()).read_text())))
        assert [r["role"] for r in rows] == ["CHN", "USA", "JPN", "EU", "AUS"]
        assert {r["played_by"] for r in rows} == {"team", "model"}
        for probe in (teacher, *students, lobby):
            probe.assert_offline_clean()
        for probe in (*students, lobby):
            probe.page.context.close()
        teacher.page.context.close()
    # the server restarts: the room is still there, in the same round and month
    with serve_dashboard(log, classroom_dir=rooms, port=port) as url:
        teacher = PageProbe(browser.new_context(viewport={"width": 1920, "height": 1080}),
                            teacher_url, wait_for=None)
        tpage = teacher.page
        tpage.locator(".round-line", has_text="Round 2 of 8 - next month 2024-07").wait_for()
        assert "alliance with Japan formed" in tpage.locator(".reveal-table").inner_text()
        chen = PageProbe(browser.new_context(viewport={"width": 390, "height": 844}),
                         chen.page.url, wait_for=None)
        chen.page.locator(".student-month").wait_for()
        assert _month(chen) == "2024-07"
        tpage.get_by_role("button", name="Close round").click()
        chen.page.wait_for_function("document.querySelector('.student-month')"
                                    ".getAttribute('data-month') === '2025-01'")
        tpage.get_by_role("button", name="End game").click()
        tpage.locator(".debrief", has_text="The model playing every state").wait_for()
        # the chart comes a moment after the table (its frame reports its width first)
        tpage.locator("svg[data-chart=debrief] polyline").nth(3).wait_for(state="attached")
        assert tpage.locator(".debrief .view-error").count() == 0
        chen.page.locator(".student-month", has_text="Game over after 2024-12").wait_for()
        teacher.assert_offline_clean()
        chen.assert_offline_clean()
    assert "Traceback" not in log.read_text()
