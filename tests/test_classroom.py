"""The classroom game without a browser: rooms, seats, secret moves, rounds, consent,
drop-outs, persistence and replay, the record, the debrief, and the pages via solara.render."""

from __future__ import annotations

import io
import itertools
import re
import sqlite3
import time

import ipyvuetify as v
import pandas as pd
import pytest
import solara

import abm
from abm_dashboard import classroom as cls_mod
from abm_dashboard.classroom import ROLES, Classroom, ClassroomError, move_options
from abm_dashboard.classroom_views import ClassroomApp
from abm_dashboard.session import GameWorld, consent_risk_threshold, country_values
from abm_dashboard.store import Store, data_dir, digest

MOVES = {"export": "open", "stockpile": "hold", "alliance": "stay"}


@pytest.fixture
def room(tmp_path):
    """A classroom on a fresh database, a room (seed 3) and its teacher secret."""
    classroom = Classroom(Store(tmp_path / "classroom.sqlite3"))
    code, secret = classroom.new_room(seed=3)
    return classroom, code, secret


def test_room_code_and_teacher_secret(room):
    classroom, code, secret = room
    assert re.fullmatch(r"[A-Z2-9]{6}", code) and not set(code) & set("01OIL")
    assert classroom.is_teacher(code, secret)
    assert classroom.is_teacher(code.lower(), secret)  # codes are typed in any case
    assert not classroom.is_teacher(code, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not classroom.is_teacher(code, "../../etc/passwd")
    assert not classroom.is_teacher("ZZZZZZ", secret)
    row = classroom.store.room(code)
    assert row.secret == digest(secret) and secret not in row.secret  # only the hash is kept
    with pytest.raises(ClassroomError, match="Only the teacher's link can do that"):
        classroom.close_round(code, "not-the-secret-at-all")


@pytest.mark.parametrize(("code", "role", "name", "message"), [
    ("12", "USA", "", "Room code: type the 6 letters and digits"),
    ("/etc/passwd", "USA", "", "Room code: type the 6 letters and digits"),
    ("AAAAAA", "USA", "", "there is no room AAAAAA"),
    (None, "Mars", "", "Role: choose one of China, USA, Japan, EU, Australia"),
    (None, "usa", "", "Role: choose one of"),
    (None, "USA", "<script>", "Name: up to 24 letters"),
    (None, "USA", "x" * 25, "Name: up to 24 letters"),
])
def test_join_refuses_what_the_page_did_not_offer(room, code, role, name, message):
    classroom, real, _ = room
    with pytest.raises(ClassroomError, match=re.escape(message)) as info:
        classroom.join(real if code is None else code, role, name)
    assert "\n" not in str(info.value)
    assert classroom.store.players(real) == []


def test_seats_and_teams(room):
    classroom, code, _ = room
    _, ana = classroom.join(code, "USA", "Ana")
    _, ben = classroom.join(f" {code.lower()} ", "USA", "Ben")
    assert classroom.seat(code, ana) == ("USA", "Ana")
    assert classroom.seat(code, ben) == ("USA", "Ben")
    assert classroom.seat(code, "x" * 24) is None and classroom.seat(code, None) is None
    assert classroom.snapshot(code).seats["USA"].members == ["Ana", "Ben"]


def test_move_options_are_the_models_strategies(room):
    classroom, code, _ = room
    world = classroom.room(code).world
    opts = move_options(world, "USA")
    assert [o[0] for o in opts["export"]] == list(world.model.strategy_names("export"))
    assert [o[0] for o in opts["stockpile"]] == list(world.model.strategy_names("stockpile"))
    assert [o[0] for o in opts["alliance"]] == ["stay", "leave", "join:CHN", "join:JPN",
                                                "join:EU", "join:AUS"]


@pytest.mark.parametrize("bad", [
    {"export": "nuke", "stockpile": "hold", "alliance": "stay"},
    {"export": "open", "stockpile": "/etc/passwd", "alliance": "stay"},
    {"export": "open", "stockpile": "hold", "alliance": "join:USA"},  # with itself
    {"export": "open", "stockpile": "hold"},
    {"export": ["open"], "stockpile": "hold", "alliance": "stay"},
])
def test_crafted_moves_are_refused(room, bad):
    classroom, code, _ = room
    _, token = classroom.join(code, "USA", "Ana")
    with pytest.raises(ClassroomError, match="is not a .* move this page offers") as info:
        classroom.submit(code, token, bad)
    assert "\n" not in str(info.value)
    assert classroom.team_moves(code, "USA") is None


def test_a_second_submit_replaces_the_first_and_moves_stay_secret(room):
    classroom, code, secret = room
    _, ana = classroom.join(code, "CHN", "Ana")
    _, ben = classroom.join(code, "CHN", "Ben")
    classroom.submit(code, ana, {**MOVES, "export": "open"})
    classroom.submit(code, ben, {**MOVES, "export": "ban"})
    moves, who, _ = classroom.team_moves(code, "CHN")
    assert moves["export"] == "ban" and who == "Ben"
    snap = classroom.snapshot(code)
    assert snap.seats["CHN"].submitted and not snap.seats["USA"].submitted
    assert snap.reveals == []  # nothing is revealed before the round closes
    reveal = classroom.close_round(code, secret)
    china = next(r for r in reveal["rows"] if r["role"] == "CHN")
    assert (china["played_by"], china["export"]) == ("team", "ban")


def test_closing_a_round_applies_the_moves_and_runs_the_months(room):
    classroom, code, secret = room
    _, token = classroom.join(code, "CHN", "Ana")
    classroom.submit(code, token, {"export": "ban", "stockpile": "hold", "alliance": "stay"})
    classroom.close_round(code, secret)
    world = classroom.room(code).world
    assert world.months_done == 6 and world.month == "2024-07"
    for target in ("USA", "JPN", "EU", "AUS"):
        for product in ("light", "heavy"):
            assert world.model.export_instrument("CHN", target, product) == "ban"
    flows = world.model.last_flows
    assert flows["light"].loc["CHN", "JPN"] == 0 and flows["heavy"].loc["CHN", "USA"] == 0
    assert world.pinned("CHN") >= {"export", "stockpile", "alliance"}
    snap = classroom.snapshot(code)
    assert (snap.round, snap.month, snap.last_month) == (2, "2024-07", "2024-06")


def test_seats_nobody_takes_are_played_by_the_models_learning_states(room):
    classroom, code, secret = room
    _, token = classroom.join(code, "USA", "Ana")
    for _ in range(3):
        classroom.submit(code, token, MOVES)  # the USA's team plays every round
        classroom.close_round(code, secret)
    world = classroom.room(code).world
    for role in ("CHN", "JPN", "EU", "AUS"):
        assert not world.pinned(role) & {"export", "stockpile"}, role
    choices = world.events()
    choices = choices[choices["source"] == "choice"]
    # the model's states decided at the start of each round (interval = round length)
    assert set(choices["actor"]) >= {"CHN", "AUS"}
    assert set(choices["step"]) <= {0, 6, 12}
    assert "USA" not in set(choices[choices["action"] == "stockpile"]["actor"])


def test_the_model_alone_matches_the_plain_model_run():
    world = GameWorld(seed=5, round_months=6)
    world.advance(18)
    expected = abm.simulate("strategic", steps=18, rng=5, decision_interval_months=6)
    got = world.frame()[expected.columns]
    pd.testing.assert_frame_equal(got, expected)


def test_alliances_need_both_teams(room):
    classroom, code, secret = room
    _, usa = classroom.join(code, "USA", "Ana")
    _, jpn = classroom.join(code, "JPN", "Ben")
    _, eu = classroom.join(code, "EU", "Chen")
    classroom.submit(code, usa, {**MOVES, "alliance": "join:JPN"})
    classroom.submit(code, jpn, {**MOVES, "alliance": "join:USA"})
    classroom.submit(code, eu, {**MOVES, "alliance": "join:USA"})  # the USA did not ask the EU
    reveal = classroom.close_round(code, secret)
    world = classroom.room(code).world
    assert world.bloc("USA") == world.bloc("JPN") != ""
    assert world.bloc("EU") == ""
    outcome = {r["role"]: r["alliance_outcome"] for r in reveal["rows"]}
    assert outcome["USA"] == "alliance with Japan formed (both proposed it)"
    assert outcome["EU"] == "no alliance with USA: USA did not propose it"
    assert world.model.alliance_graph.has_edge("USA", "JPN")


def test_a_seat_the_model_plays_consents_when_its_risk_makes_joining_pay(room, monkeypatch):
    # the model's own rule (strategies.forgone_payoffs): joining pays when
    # security_weight x alliance_effectiveness x risk > membership_cost_share, i.e. above
    # 0.02 / (0.5 x 0.5) = 0.08 with the documented default weights
    assert consent_risk_threshold() == pytest.approx(0.08)
    classroom, code, secret = room
    _, usa = classroom.join(code, "USA", "Ana")
    classroom.submit(code, usa, {**MOVES, "alliance": "join:EU"})
    monkeypatch.setattr(GameWorld, "would_consent", lambda self, role: False)
    reveal = classroom.close_round(code, secret)
    assert classroom.room(code).world.bloc("EU") == ""
    assert "no alliance with EU: the model, playing it, saw too little supply risk" in [
        r["alliance_outcome"] for r in reveal["rows"] if r["role"] == "USA"][0]
    classroom.submit(code, usa, {**MOVES, "alliance": "join:EU"})
    monkeypatch.setattr(GameWorld, "would_consent", lambda self, role: True)
    classroom.close_round(code, secret)
    world = classroom.room(code).world
    assert world.bloc("EU") == world.bloc("USA") != ""


def test_would_consent_reads_the_risk_column():
    world = GameWorld(seed=3, round_months=6)
    assert not world.would_consent("JPN")  # no month yet: no risk
    world.advance(6)
    risk = country_values(world.frame(), "risk", "JPN")[-1]
    assert world.would_consent("JPN") == (risk > 0.08)


def test_model_seats_do_not_walk_into_a_teams_bloc(room):
    classroom, code, secret = room
    _, usa = classroom.join(code, "USA", "Ana")
    _, jpn = classroom.join(code, "JPN", "Ben")
    for _ in range(4):  # both teams play every round
        classroom.submit(code, usa, {**MOVES, "alliance": "join:JPN"})
        classroom.submit(code, jpn, {**MOVES, "alliance": "join:USA"})
        classroom.close_round(code, secret)
    world = classroom.room(code).world
    team_bloc = world.bloc("USA")
    assert team_bloc and world.bloc("JPN") == team_bloc
    for role in ("CHN", "EU", "AUS"):
        assert world.bloc(role) != team_bloc, role
        assert "alliance" in world.pinned(role)


def test_a_team_that_drops_out_falls_back_to_the_model(room):
    classroom, code, secret = room
    _, token = classroom.join(code, "JPN", "Ana")
    classroom.submit(code, token, {**MOVES, "stockpile": "build"})
    played = []
    for _ in range(3):  # moves in round 1 only
        reveal = classroom.close_round(code, secret)
        played.append(next(r["played_by"] for r in reveal["rows"] if r["role"] == "JPN"))
    assert played == ["team", "team (last round's moves)", "model"]
    assert not classroom.room(code).world.pinned("JPN") & {"export", "stockpile"}
    classroom.submit(code, token, MOVES)  # back in the game
    reveal = classroom.close_round(code, secret)
    assert next(r["played_by"] for r in reveal["rows"] if r["role"] == "JPN") == "team"


def test_scores_are_the_states_payoffs_summed(room):
    classroom, code, secret = room
    _, token = classroom.join(code, "AUS", "Ana")
    classroom.submit(code, token, MOVES)
    first = classroom.close_round(code, secret)
    second = classroom.close_round(code, secret)
    payoff = country_values(classroom.room(code).world.frame(), "payoff", "AUS")
    row1 = next(r for r in first["rows"] if r["role"] == "AUS")
    row2 = next(r for r in second["rows"] if r["role"] == "AUS")
    assert row1["score_round"] == pytest.approx(payoff[:6].sum())
    assert row2["score_round"] == pytest.approx(payoff[6:12].sum())
    assert row2["score_total"] == pytest.approx(row1["score_round"] + row2["score_round"])


def test_a_restarted_server_resumes_the_game(room, tmp_path):
    classroom, code, secret = room
    _, usa = classroom.join(code, "USA", "Ana")
    _, jpn = classroom.join(code, "JPN", "Ben")
    classroom.submit(code, usa, {"export": "open", "stockpile": "build", "alliance": "join:JPN"})
    classroom.submit(code, jpn, {"export": "open", "stockpile": "hold", "alliance": "join:USA"})
    classroom.close_round(code, secret)
    classroom.submit(code, usa, {"export": "licence", "stockpile": "release",
                                 "alliance": "leave"})
    classroom.close_round(code, secret)
    classroom.submit(code, jpn, MOVES)  # an open submission survives too
    before = classroom.snapshot(code)
    restarted = Classroom(Store(tmp_path / "classroom.sqlite3"))
    after = restarted.snapshot(code)
    pd.testing.assert_frame_equal(before.frame, after.frame)
    assert (after.round, after.month) == (before.round, before.month) == (3, "2025-01")
    assert after.seats["JPN"].submitted and after.reveals == before.reveals
    assert restarted.seat(code, usa) == ("USA", "Ana")
    assert restarted.is_teacher(code, secret)
    restarted.close_round(code, secret)  # and it goes on
    assert restarted.snapshot(code).month == "2025-07"


def test_round_length_rounds_and_timer_settings(room):
    classroom, code, secret = room
    classroom.configure_months(code, secret, 3)
    with pytest.raises(ClassroomError,
                       match="Months per round must be one of 1, 2, 3, 6, 12, got 5"):
        classroom.configure_months(code, secret, 5)
    classroom.configure_rounds(code, secret, 2)
    classroom.close_round(code, secret)
    assert classroom.room(code).world.months_done == 3
    with pytest.raises(ClassroomError, match="fixed once a round has closed"):
        classroom.configure_months(code, secret, 6)
    classroom.close_round(code, secret)
    snap = classroom.snapshot(code)
    assert snap.status == "finished" and snap.last_month == "2024-06"
    with pytest.raises(ClassroomError, match="The game has ended"):
        classroom.close_round(code, secret)
    with pytest.raises(ClassroomError, match="This game has ended"):
        classroom.join(code, "USA", "late")


def test_the_timer_closes_the_round(tmp_path):
    ticks = itertools.count(1000.0, 60.0)  # every reading of the clock is a minute later
    classroom = Classroom(Store(tmp_path / "c.sqlite3"), clock=lambda: next(ticks))
    code, secret = classroom.new_room(seed=1, timer_seconds=60)
    deadline = classroom.start_timer(code, secret)
    assert deadline == 1060.0  # the first reading plus one minute
    for _ in range(100):  # the timer thread closes the round at once (a minute has passed)
        if classroom.snapshot(code).round == 2:
            break
        time.sleep(0.05)
    snap = classroom.snapshot(code)
    assert snap.round == 2 and snap.deadline is None and snap.month == "2024-07"


def test_pages_are_told_when_the_round_closes(room):
    classroom, code, secret = room
    seen = classroom.versions(code)
    assert classroom.wait(code, ["world"], seen, timeout=0.05) == {"world": seen["world"]}
    _, token = classroom.join(code, "USA", "Ana")
    assert classroom.wait(code, ["world"], seen, timeout=0.05) == {"world": seen["world"]}
    now = classroom.wait(code, ["team:USA"], seen, timeout=0.05)
    assert now["team:USA"] == seen.get("team:USA", 0) + 1  # the team's page hears of a join
    classroom.close_round(code, secret)
    assert classroom.wait(code, ["world"], seen, timeout=0.05)["world"] == seen["world"] + 1


def test_game_record_csv(room):
    classroom, code, secret = room
    _, token = classroom.join(code, "CHN", "Ana")
    classroom.submit(code, token, {"export": "quota", "stockpile": "build", "alliance": "stay"})
    classroom.close_round(code, secret)
    classroom.close_round(code, secret)
    record = pd.read_csv(io.BytesIO(classroom.record_csv(code)))
    assert len(record) == 2 * len(ROLES)
    china = record[record["role"] == "CHN"].reset_index(drop=True)
    assert list(china["played_by"]) == ["team", "team (last round's moves)"]
    assert list(china["export"]) == ["quota", "quota"]
    frame = classroom.room(code).world.frame().set_index("date")
    assert china.loc[1, "price_heavy_world"] == pytest.approx(
        frame.loc["2024-12", "price_heavy_world"])


def test_debrief_compares_the_class_with_the_model_and_history(room):
    classroom, code, secret = room
    _, token = classroom.join(code, "CHN", "Ana")
    classroom.submit(code, token, {"export": "ban", "stockpile": "hold", "alliance": "stay"})
    classroom.close_round(code, secret)
    data = classroom.debrief(code)
    assert len(data["class"]) == len(data["reference"]) == len(data["history"]) == 6
    expected = abm.simulate("strategic", steps=6, rng=3, decision_interval_months=6)
    pd.testing.assert_frame_equal(data["reference"][expected.columns], expected)
    history = abm.simulate("controls_2025", steps=6, rng=3)
    pd.testing.assert_frame_equal(data["history"][history.columns], history)
    team, model = data["scores"]["CHN"]
    assert team == pytest.approx(country_values(data["class"], "payoff", "CHN").sum())
    assert model == pytest.approx(country_values(data["reference"], "payoff", "CHN").sum())


def test_the_database_lives_where_the_server_says(tmp_path, monkeypatch):
    monkeypatch.setenv("ABM_CLASSROOM_DIR", str(tmp_path / "rooms"))
    assert data_dir() == tmp_path / "rooms"
    store = Store()
    assert store.path == tmp_path / "rooms" / "classroom.sqlite3" and store.path.exists()
    monkeypatch.delenv("ABM_CLASSROOM_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert data_dir() == tmp_path / "state" / "rare-earth-abm"
    with sqlite3.connect(store.path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"rooms", "players", "submissions", "rounds"} <= tables


# ---------------------------------------------------------------------- the pages
def _html(rc) -> str:
    from tests.test_app_components import _text

    return _text(rc)


def _eventually(check, seconds: float = 3.0) -> bool:
    """Whether ``check()`` becomes true within a few seconds (pages redraw from threads)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _button(rc, label):
    found = [b for b in rc.find(v.Btn).widgets if label in b.children]
    assert len(found) == 1, f"{len(found)} buttons labelled {label!r}"
    return found[0]


def test_lobby_new_room_and_join(room):
    classroom, _, _ = room
    pushed = []
    box, rc = solara.render(ClassroomApp(classroom, "", pushed.append), handle_error=False)
    _button(rc, "New room").click()
    new_code, secret = re.fullmatch(r"/classroom\?room=([A-Z2-9]{6})&teacher=(\S+)",
                                    pushed[-1]).groups()
    assert classroom.is_teacher(new_code, secret)
    rc.find(v.TextField, label="Room code").widget.v_model = new_code.lower()
    role = [w for w in rc.find(v.Select).widgets if w.label == "Role"][0]
    assert [i["value"] for i in role.items] == list(ROLES)
    role.v_model = "JPN"
    _button(rc, "Join").click()
    _, token = re.fullmatch(rf"/classroom\?room=({new_code})&seat=(\S+)", pushed[-1]).groups()
    assert classroom.seat(new_code, token)[0] == "JPN"
    role.v_model = "/etc/passwd"  # crafted over the websocket
    assert "Refused: '/etc/passwd' is not a value the 'Role' control offers" in _html(rc)
    rc.close()


def test_teacher_page_and_student_page(room):
    classroom, code, secret = room
    _, token = classroom.join(code, "USA", "Ana")
    box, teacher = solara.render(ClassroomApp(classroom, f"room={code}&teacher={secret}",
                                              lambda _: None), handle_error=False)
    text = _html(teacher)
    assert f"Room code: {code}" in text and "Close round" in text and "Ana" in text
    box, student = solara.render(ClassroomApp(classroom, f"room={code}&seat={token}",
                                              lambda _: None), handle_error=False)
    text = _html(student)
    assert "You play USA" in text and "Month 2024-01 - round 1 of 8" in text
    assert "Close round" not in text  # teacher actions only on the teacher's link
    export = [w for w in student.find(v.Select).widgets if w.label == "Export policy"][0]
    export.v_model = "licence"
    _button(student, "Submit moves").click()
    assert classroom.team_moves(code, "USA")[0]["export"] == "licence"
    time.sleep(0.3)  # the page's watcher thread redraws it after the submit
    export = [w for w in student.find(v.Select).widgets if w.label == "Export policy"][0]
    export.v_model = "embargo-everything"
    assert _eventually(lambda: "Refused: 'embargo-everything'" in _html(student))
    assert classroom.team_moves(code, "USA")[0]["export"] == "licence"
    _button(teacher, "Close round").click()
    assert classroom.snapshot(code).round == 2
    teacher.close()
    student.close()


def test_wrong_links_show_the_lobby_with_one_line(room):
    classroom, code, secret = room
    for search, line in ((f"room={code}&teacher=wrongwrongwrongwrong",
                          "This teacher link is not valid"),
                         (f"room={code}&seat=wrongwrongwrongwrong", "This seat link is not valid"),
                         ("room=../../etc&seat=x", "This seat link is not valid")):
        box, rc = solara.render(ClassroomApp(classroom, search, lambda _: None),
                                handle_error=False)
        text = _html(rc)
        assert line in text and "Traceback" not in text and "Close round" not in text
        rc.close()
    assert cls_mod.CODE_RE.match(code)


def test_the_timer_counts_down_on_every_page(tmp_path):
    classroom = Classroom(Store(tmp_path / "c.sqlite3"))
    code, secret = classroom.new_room(seed=1, timer_seconds=300)
    _, token = classroom.join(code, "EU", "Ana")
    classroom.start_timer(code, secret)
    for search in (f"room={code}&teacher={secret}", f"room={code}&seat={token}"):
        box, rc = solara.render(ClassroomApp(classroom, search, lambda _: None),
                                handle_error=False)
        left = [w.remaining_ms for w in rc.find(v.VuetifyTemplate).widgets
                if hasattr(w, "remaining_ms")]
        assert len(left) == 1 and 290_000 < left[0] <= 300_000  # five minutes, ticking
        rc.close()
    classroom.end_game(code, secret)  # stops the timer thread
