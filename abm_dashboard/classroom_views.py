"""The classroom game's pages (``/classroom``): lobby, student seat, teacher's projector view.

Which page a visitor sees depends only on the link's query (checked server-side):

- ``/classroom``: the lobby: "New room" for a teacher; "Room code", "Role" and "Join" for a
  student;
- ``/classroom?room=CODE&teacher=SECRET``: the teacher's view (only with the room's secret);
- ``/classroom?room=CODE&seat=TOKEN``: a student's seat (a reload keeps it; the token is the
  seat's key, kept in the link).

Pages of one room follow it live: each page waits on the room's versions in a thread
(:meth:`~abm_dashboard.classroom.Classroom.wait`) and redraws when they change, so every
student sees the new month as soon as the teacher closes the round.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import solara
import solara.lab

from abm_dashboard import charts
from abm_dashboard.classroom import (
    ROLES,
    ROUND_MONTHS,
    ROUNDS_TOTAL,
    TIMERS,
    Classroom,
    ClassroomError,
    RoomSnapshot,
    get_classroom,
)
from abm_dashboard.security import lan_addresses
from abm_dashboard.session import (
    COUNTRIES,
    concentration,
    country_name,
    country_values,
    month_to_year,
    observed_history,
    trade_communities,
)
from abm_dashboard.widgets import Countdown, Prose, SafeSelect, SizedChart, guarded

__all__ = ["ClassroomApp", "ClassroomPage", "StudentView", "TeacherView"]

NAMES = {code: country_name(code) for code in COUNTRIES}
TEACHER_FONT = 18.0
WAIT_SECONDS = 2.0


def parse_query(search: str | None) -> dict[str, str]:
    """The first value of each query parameter (empty when absent)."""
    parsed = parse_qs(search or "", keep_blank_values=False)
    return {k: v[0] for k, v in parsed.items() if v}


@solara.component
def ClassroomPage():
    """``/classroom``: reads the link's query and shows the lobby, a seat or the teacher view.

    After "New room" or "Join" the page goes to the room's link (so that a reload keeps the
    seat). The link is also kept in the session: a page that is clicked right after it loads
    can have its address reset by the page's own first location report, and is then put back.
    """
    router = solara.use_router()
    went_to, set_went_to = solara.use_state("")

    def navigate(path: str) -> None:
        set_went_to(path.partition("?")[2])
        router.push(path)

    def restore():
        if went_to and (router.search or "") != went_to:
            router.push(f"/classroom?{went_to}")

    solara.use_effect(restore, [router.search, went_to])
    ClassroomApp(get_classroom(), went_to or router.search or "", navigate)


@solara.component
def ClassroomApp(classroom: Classroom, search: str, navigate: Callable[[str], None]):
    """The classroom for a query string (separate from the router so tests can drive it).

    Args:
        classroom: the server's rooms.
        search: the link's query string (``room=...&seat=...``).
        navigate: goes to another link of the app (``/classroom?...``).
    """
    solara.Title("Rare earths: the classroom game")
    solara.Style(CSS)
    query = parse_query(search)
    code, teacher, seat = query.get("room", ""), query.get("teacher", ""), query.get("seat", "")
    problem = ""
    if code and teacher:
        if classroom.is_teacher(code, teacher):
            TeacherView(classroom, Classroom.clean_code(code), teacher)
            return
        problem = "This teacher link is not valid (wrong room or secret)."
    elif code and seat:
        found = classroom.seat(code, seat)
        if found is not None:
            StudentView(classroom, Classroom.clean_code(code), seat, found[0], found[1])
            return
        problem = "This seat link is not valid; join again with the room code."
    Lobby(classroom, navigate, prefill=code if len(code) <= 12 else "", problem=problem)


@solara.component
def Lobby(classroom: Classroom, navigate: Callable[[str], None], prefill: str = "",
          problem: str = ""):
    """New room (teacher) and Join (students)."""
    code, set_code = solara.use_state(prefill)
    role, set_role = solara.use_state("CHN")
    name, set_name = solara.use_state("")
    message, set_message = solara.use_state(problem)
    guard = guarded(set_message)

    def new_room():
        room, secret = classroom.new_room()
        navigate(f"/classroom?room={room}&teacher={secret}")

    def join():
        try:
            room, token = classroom.join(code, role, name)
        except ClassroomError as exc:
            set_message(str(exc))
            return
        navigate(f"/classroom?room={room}&seat={token}")

    with solara.Div(classes=["classroom", "lobby"]):
        solara.HTML(tag="h1", unsafe_innerHTML="Rare earths: the classroom game")
        Prose("Each team plays a state in the world market for rare earths: China, "
                        "the USA, Japan, the EU or Australia. Every round you choose export "
                        "controls, a stockpile policy and alliances; the model runs the "
                        "months and shows what your choices did. States nobody plays are "
                        "played by the model.")
        if message:
            solara.Error(message, classes=["class-error"])
        with solara.Row(gap="16px", style="flex-wrap: wrap; align-items: flex-start"):
            with solara.Card("Students", margin=0, classes=["join-card"]):
                solara.InputText("Room code", value=code, on_value=set_code,
                                 continuous_update=True)
                SafeSelect("Role", [(r, country_name(r)) for r in ROLES], role,
                           on_value=set_role, on_refuse=set_message)
                solara.InputText("Your name (optional)", value=name, on_value=set_name,
                                 continuous_update=True)
                solara.Button("Join", on_click=guard(join), color="primary")
            with solara.Card("Teachers", margin=0, classes=["teacher-card"]):
                Prose("Start a room for your class; the page shows its code and your "
                                "teacher link (keep it: it is the only way to run the room).")
                solara.Button("New room", on_click=guard(new_room), color="primary")
        solara.HTML(tag="a", unsafe_innerHTML="Back to the dashboard", attributes={"href": "."})


def use_room_versions(classroom: Classroom, code: str, keys: tuple[str, ...]) -> dict:
    """The room's versions of ``keys``, kept current by a thread that waits for changes."""
    initial = solara.use_memo(lambda: {k: classroom.versions(code).get(k, 0) for k in keys},
                              dependencies=[code, keys])
    versions, set_versions = solara.use_state(initial)

    def watch(cancel):
        seen = dict(versions)
        while not cancel.is_set():
            now = classroom.wait(code, keys, seen, timeout=WAIT_SECONDS)
            if now != seen and not cancel.is_set():
                seen = now
                set_versions(now)

    solara.use_thread(watch, dependencies=[code, keys])
    return versions


def _fmt_money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.1f}"


def _change(value: float) -> str:
    return f"{value:+.0%}" if value == value else ""


def briefing_html(role: str, b: dict[str, Any]) -> str:
    """A team's briefing as an HTML table (values of the last simulated month)."""
    rows = []
    if "price_light" in b:
        rows += [
            ("NdPr oxide at home", f"{b['price_light']:,.0f} US$/kg "
             f"({_change(b['light_change'])} over the round; outside China "
             f"{b['price_light_world']:,.0f})"),
            ("Dy/Tb oxide at home", f"{b['price_heavy']:,.0f} US$/kg "
             f"({_change(b['heavy_change'])}; outside China {b['price_heavy_world']:,.0f})"),
            ("Your stockpile", f"{b['stockpile']:,.0f} t"),
            ("Shortage last round", f"{b['shortage']:,.1f} t that firms could not buy"),
            ("Bought from China's refiners", f"{b['china_share']:.0%} of purchases"
             if role != "CHN" else "(you are China)"),
            ("Perceived supply risk", f"{b['risk']:.2f} (0 = none, 1 = cut off)"),
        ]
    rows += [
        ("Your exports", f"{b['exports']:,.0f} t/month; controls: {b['export_policy']}"),
        ("Your alliance", b["bloc"] or "none"),
        ("Score last round", f"{_fmt_money(b['score_round'])} US$ million"),
        ("Score so far", f"{_fmt_money(b['score_total'])} US$ million"),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in rows)
    return f'<table class="briefing">{body}</table>'


def reveal_html(reveal: dict[str, Any], highlight: str = "") -> str:
    """A closed round's moves and outcomes as an HTML table."""
    head = ("<tr><th>State</th><th>Played by</th><th>Export</th><th>Stockpile</th>"
            "<th>Alliance</th><th>Round score</th></tr>")
    rows = []
    for r in reveal["rows"]:
        cls = ' class="mine"' if r["role"] == highlight else ""
        if r["played_by"] == "model":
            moves = (f'<td colspan="3">{html.escape(r.get("model_choices") or "kept its course")}'
                     "</td>")
        else:
            alliance = r["alliance"].replace("join:", "ally with ")
            outcome = f" - {r['alliance_outcome']}" if r.get("alliance_outcome") else ""
            moves = (f"<td>{html.escape(r['export'])}</td><td>{html.escape(r['stockpile'])}"
                     f"</td><td>{html.escape(alliance + outcome)}</td>")
        rows.append(f"<tr{cls}><td>{html.escape(country_name(r['role']))}</td>"
                    f"<td>{html.escape(r['played_by'])}</td>{moves}"
                    f"<td>{_fmt_money(float(r['score_round']))}</td></tr>")
    title = (f"Round {reveal['round']}: {reveal['first_month']} to {reveal['last_month']} - "
             "moves revealed")
    return (f'<div class="reveal"><b>{html.escape(title)}</b><div class="table-wrap">'
            f'<table class="reveal-table">{head}{"".join(rows)}</table></div></div>')


MOVE_HELP = {
    "export": "Export controls on your refiners' sales to states outside your alliance.",
    "stockpile": "Buy for your strategic reserve, hold it, or sell it off.",
    "alliance": "An alliance forms only if the other side agrees (its team proposes you too; "
                "a state the model plays agrees when it feels supply risk).",
}


@solara.component
def StudentView(classroom: Classroom, code: str, token: str, role: str, name: str):
    """A student's seat: briefing, last reveal, and the moves form.

    What changes every round (month, briefing, reveal) is one HTML block, so that a round's
    update costs each of 30 pages little on the server; the form is its own component.
    """
    versions = use_room_versions(classroom, code, ("world", f"team:{role}"))
    snap = solara.use_memo(lambda: classroom.snapshot(code), dependencies=[versions])
    message, set_message = solara.use_state("")
    seat = snap.seats[role]
    finished = snap.status == "finished"
    month_text = (f"Game over after {snap.last_month}" if finished else
                  f"Month {snap.month} - round {snap.round} of {snap.rounds_total}")
    head = (f"<h1>You play {html.escape(country_name(role))}</h1>"
            f'<div class="team-line">Room {html.escape(code)} | team of {len(seat.members)}: '
            f"{html.escape(', '.join(seat.members))}</div>"
            f'<div class="student-month" data-month="{html.escape(snap.month)}" '
            f'data-round="{snap.round}">{html.escape(month_text)}</div>')
    with solara.Div(classes=["classroom", "student"]):
        solara.HTML(tag="div", unsafe_innerHTML=head, classes=["student-head"])
        if snap.deadline and not finished:
            Countdown(remaining_ms=max(snap.deadline - time.time(), 0.0) * 1000.0)
        if message:
            solara.Error(message, classes=["class-error"])
        with solara.Div(classes=["student-grid"]):
            solara.HTML(tag="div", classes=["briefing-card", "plain-card"], unsafe_innerHTML=(
                "<h2>Your briefing</h2>" + briefing_html(role, snap.briefings[role])))
            if not finished:
                MovesForm(classroom, code, token, role, snap.round, snap.options[role],
                          snap.team_moves.get(role), snap.defaults[role], set_message)
            if snap.reveals:
                solara.HTML(tag="div", classes=["reveal-card", "plain-card"], unsafe_innerHTML=(
                    "<h2>What happened last round</h2>" + reveal_html(snap.reveals[-1], role)))


@solara.component
def MovesForm(classroom: Classroom, code: str, token: str, role: str, round_no: int,
              options: dict, latest: tuple | None, fallback: dict[str, str],
              report: Callable[[str], None]):
    """The three moves and "Submit moves" (drafts start from the team's moves this round)."""
    guard = guarded(report)
    defaults = latest[0] if latest else fallback
    draft, set_draft = solara.use_state(defaults)
    draft_round, set_draft_round = solara.use_state(round_no)
    if draft_round != round_no:  # a new round: start from the team's moves so far
        set_draft_round(round_no)
        set_draft(defaults)

    def submit():
        try:
            classroom.submit(code, token, draft)
        except ClassroomError as exc:
            report(str(exc))
            return
        report("")

    def choose(domain: str, value: str):
        set_draft({**draft, domain: value})

    with solara.Card(f"Your moves for round {round_no}", margin=0, classes=["moves-card"]):
        for domain, label in (("export", "Export policy"), ("stockpile", "Stockpile"),
                              ("alliance", "Alliance")):
            SafeSelect(label, options[domain], draft.get(domain),
                       on_value=guard(lambda value, d=domain: choose(d, value)),
                       on_refuse=report, hint=MOVE_HELP[domain])
        solara.Button("Submit moves", on_click=guard(submit), color="primary",
                      classes=["submit-moves"])
        if latest:
            moves, who, at = latest
            note = (f"Your team's moves: {moves['export']}, {moves['stockpile']}, "
                    f"{moves['alliance'].replace('join:', 'ally with ')} (by {who} at "
                    f"{time.strftime('%H:%M:%S', time.localtime(at))}). They stay secret until "
                    "the round closes; a new submit replaces them.")
        else:
            note = "Nothing submitted yet for your team this round."
        solara.HTML(tag="div", classes=["submitted-note"], unsafe_innerHTML=html.escape(note))


def _base_url() -> str:
    headers = solara.lab.headers.value or {}
    host = (headers.get("host") or ["127.0.0.1:8765"])[0]
    return f"http://{host}"


def _student_urls(base: str) -> list[str]:
    host = base.split("//", 1)[1]
    name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    if name in ("127.0.0.1", "localhost", "[::1]"):
        return [f"http://{ip}{':' + port if port else ''}/classroom" for ip in lan_addresses()]
    return [f"{base}/classroom"]


def _xlim(snap: RoomSnapshot, months: int) -> tuple[float, float]:
    start = month_to_year("2024-01") - 0.5 / 12.0
    return start, start + max(months, snap.round_months * snap.rounds_total) / 12.0


@solara.component
def TeacherView(classroom: Classroom, code: str, secret: str):
    """The teacher's projector view: room code, seats, close round, world, reveal, debrief."""
    versions = use_room_versions(classroom, code, ("world", "board"))
    snap = solara.use_memo(lambda: classroom.snapshot(code), dependencies=[versions])
    message, set_message = solara.use_state("")
    guard = guarded(set_message)
    base = _base_url()

    def act(fn, *args):
        try:
            fn(code, secret, *args)
        except ClassroomError as exc:
            set_message(str(exc))
            return
        set_message("")

    finished = snap.status == "finished"
    with solara.Div(classes=["classroom", "teacher"]):
        with solara.Row(gap="24px", style="flex-wrap: wrap; align-items: baseline"):
            solara.HTML(tag="div", classes=["room-code"],
                        unsafe_innerHTML=f"Room code: {html.escape(code)}")
            state = ("Game over" if finished else
                     f"Round {snap.round} of {snap.rounds_total} - next month {snap.month}")
            solara.HTML(tag="div", classes=["round-line"], unsafe_innerHTML=html.escape(state))
            if snap.deadline and not finished:
                Countdown(remaining_ms=max(snap.deadline - time.time(), 0.0) * 1000.0)
        students = ", ".join(_student_urls(base)) or f"{base}/classroom"
        solara.HTML(tag="div", classes=["join-help"], unsafe_innerHTML=(
            f"Students: open <b>{html.escape(students)}</b>, type the room code, pick a role, "
            "press Join."))
        teacher_link = f"{base}/classroom?room={code}&teacher={secret}"
        solara.HTML(tag="details", classes=["teacher-link"], unsafe_innerHTML=(
            "<summary>Teacher link (keep it private: it runs this room)</summary>"
            f"<code>{html.escape(teacher_link)}</code>"))
        if message:
            solara.Error(message, classes=["class-error"])
        with solara.Row(gap="8px", style="flex-wrap: wrap; align-items: center"):
            SafeSelect("Months per round", [(m, f"{m} months") for m in ROUND_MONTHS],
                       snap.round_months, disabled=snap.started or finished,
                       on_value=guard(lambda v: act(classroom.configure_months, v)),
                       on_refuse=set_message)
            SafeSelect("Rounds", [(n, f"{n} rounds") for n in ROUNDS_TOTAL], snap.rounds_total,
                       disabled=finished,
                       on_value=guard(lambda v: act(classroom.configure_rounds, v)),
                       on_refuse=set_message)
            SafeSelect("Timer", [(t, f"{t // 60} min" if t else "none") for t in TIMERS],
                       snap.timer_seconds, disabled=finished,
                       on_value=guard(lambda v: act(classroom.configure_timer, v)),
                       on_refuse=set_message)
            solara.Button("Start timer", on_click=guard(lambda: act(classroom.start_timer)),
                          disabled=finished or not snap.timer_seconds)
            solara.Button("Close round", on_click=guard(lambda: act(classroom.close_round)),
                          color="primary", disabled=finished, classes=["close-round"])
            solara.Button("End game", on_click=guard(lambda: act(classroom.end_game)),
                          disabled=finished)
        SeatsTable(snap)
        if snap.reveals:
            solara.HTML(tag="div", classes=["reveal-card"],
                        unsafe_innerHTML=reveal_html(snap.reveals[-1]))
        if finished:
            Debrief(classroom, code, versions)
        with solara.Div(classes=["teacher-charts"]):
            frame = snap.frame
            xlim = _xlim(snap, len(frame))
            with solara.Card("Prices", margin=0):
                SizedChart("game-prices", "Prices", lambda lay: charts.price_chart(
                    frame, values=country_values, observed=observed_history(), xlim=xlim,
                    layout=lay, step=len(frame)), dependencies=[versions["world"]],
                    font=TEACHER_FONT)
            with solara.Card("Scores", margin=0):
                SizedChart("scores", "Scores", lambda lay: charts.scores_chart(
                    frame, values=country_values, roles=ROLES, names=NAMES, xlim=xlim,
                    layout=lay, step=len(frame)), dependencies=[versions["world"]],
                    font=TEACHER_FONT)
            with solara.Card("Blocs", margin=0):
                graph, bloc, size, country = snap.network
                states = [n for n, d in graph.nodes(data=True) if d.get("kind") == "state"]
                SizedChart("game-network", "Blocs", lambda lay: charts.network_chart(
                    graph, charts.network_layout(graph), bloc, size, country,
                    title=snap.last_month or "start", step=len(frame), layout=lay,
                    trade=trade_communities(frame, states), concentration=concentration(frame)),
                    dependencies=[versions["world"]], font=TEACHER_FONT)
        with solara.Row(gap="12px", style="flex-wrap: wrap"):
            solara.FileDownload(data=lambda: classroom.record_csv(code),
                                filename=f"classroom_{code}_record.csv",
                                label="Download the game record (CSV)")
            solara.FileDownload(data=lambda: snap.frame.drop(columns=["year"],
                                                             errors="ignore").to_csv(
                index=False).encode(), filename=f"classroom_{code}_months.csv",
                label="Download the monthly results (CSV)")


@solara.component
def SeatsTable(snap: RoomSnapshot):
    """Each team: members, whether it has submitted, who plays it, its score."""
    head = ("<tr><th>State</th><th>Team</th><th>Moves this round</th><th>Played by</th>"
            "<th>Score last round</th><th>Score so far</th></tr>")
    rows = []
    for role in ROLES:
        seat = snap.seats[role]
        members = ", ".join(seat.members) or "-"
        status = ("submitted" if seat.submitted else "waiting") if seat.members else "-"
        played = {"team": "team", "kept": "team (last moves)", "model": "model"}[
            seat.controller]
        rows.append(f'<tr data-role="{role}"><td>{html.escape(country_name(role))}</td>'
                    f"<td>{html.escape(members)}</td>"
                    f'<td class="sub-{status}">{status}</td><td>{played}</td>'
                    f"<td>{_fmt_money(seat.score_round)}</td>"
                    f"<td>{_fmt_money(seat.score_total)}</td></tr>")
    solara.HTML(tag="div", classes=["seats", "table-wrap"],
                unsafe_innerHTML=f'<table class="seats-table">{head}{"".join(rows)}</table>')


@solara.component
def Debrief(classroom: Classroom, code: str, versions: dict):
    """The end: the class's path against an all-model run and against history, and scores."""
    data = solara.use_memo(lambda: classroom.debrief(code), dependencies=[versions["world"]])
    frame = data["class"]
    start = month_to_year("2024-01") - 0.5 / 12.0
    xlim = (start, start + max(len(frame), 12) / 12.0)
    with solara.Card("Debrief: your class, the model, and history", margin=0,
                     classes=["debrief"]):
        SizedChart("debrief", "Debrief", lambda lay: charts.game_chart(
            frame, reference=data["reference"], history=data["history"],
            observed=observed_history(), xlim=xlim, layout=lay, step=len(frame)),
            dependencies=[versions["world"]], font=TEACHER_FONT)
        rows = []
        for role in ROLES:
            team, model = data["scores"][role]
            rows.append(f"<tr><td>{html.escape(country_name(role))}</td>"
                        f"<td>{_fmt_money(team)}</td><td>{_fmt_money(model)}</td>"
                        f"<td>{_fmt_money(team - model)}</td></tr>")
        solara.HTML(tag="div", unsafe_innerHTML=(
            "<table class='debrief-table'><tr><th>State</th><th>Score in your game</th>"
            "<th>The model playing every state</th><th>Difference</th></tr>"
            + "".join(rows) + "</table>"))
        Prose(
            "**Talk about it.** Did restricting exports pay off for China, and for how long? "
            "Which alliances formed, and did they make their members safer? Where did your "
            "prices go compared with the model's own players (dashed) and with the history of "
            "2025 (dotted)? The model's players are bounded-rational learners with the same "
            "payoffs as yours: where did your class choose differently, and why?")


CSS = """
.classroom { padding: 8px 12px; font-size: 17px; max-width: 1800px; }
.classroom h1 { font-size: 1.6em; font-weight: 500; margin: 6px 0; }
.teacher { font-size: 20px; }
.room-code { font-size: 2.4em; font-weight: 700; letter-spacing: 0.08em; }
.round-line { font-size: 1.3em; }
.student-month { font-size: 1.4em; font-weight: 600; margin: 6px 0; }
.student-grid { display: grid; grid-template-columns: repeat(auto-fill,
  minmax(min(100%, 420px), 1fr)); gap: 12px; align-items: start; }
.teacher-charts { display: grid; grid-template-columns: repeat(auto-fill,
  minmax(min(100%, 760px), 1fr)); gap: 12px; margin-top: 12px; }
table.briefing, table.seats-table, table.reveal-table, table.debrief-table {
  border-collapse: collapse; width: 100%; }
table.briefing th { text-align: left; font-weight: 500; padding: 3px 8px 3px 0;
  vertical-align: top; }
table.briefing td, table.seats-table td, table.seats-table th, table.reveal-table td,
table.reveal-table th, table.debrief-table td, table.debrief-table th {
  padding: 3px 8px; border-bottom: 1px solid #e3e3e3; text-align: left; }
td.sub-submitted { color: #006d4f; font-weight: 600; }
td.sub-waiting { color: #a15c00; }
tr.mine { background: #eef5ff; }
.table-wrap { overflow-x: auto; max-width: 100%; }
.submitted-note { display: block; font-size: 0.9em; color: #333; margin-top: 6px; }
.plain-card { background: #fff; border-radius: 4px; padding: 12px 16px;
  box-shadow: 0 1px 3px rgba(0,0,0,0.2); min-width: 0; }
.plain-card h2 { font-size: 1.15em; font-weight: 500; margin: 0 0 8px; }
.team-line { margin-bottom: 4px; }
.prose ul, .prose ol { padding-left: 1.6em; }
.countdown { font-size: 1.2em; font-weight: 600; color: #a15c00; }
.join-help { margin: 4px 0; }
.teacher-link code { word-break: break-all; }
"""
