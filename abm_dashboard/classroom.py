"""The classroom game: rooms, seats, secret moves, rounds, and the reveal (no Solara here).

A teacher creates a room (a code of six letters and digits, and a secret for the teacher's
link); students join it with the code and a role (China, USA, Japan, EU, Australia; several
students on one role form a team). Each round (default 6 months) every team submits an export,
a stockpile and an alliance move; moves stay secret until the teacher closes the round (or the
timer does). Then:

1. each role is played by its team (its latest submission; a team that submitted last round
   but not this one keeps its moves) or, when nobody plays it (no seat taken, or no moves for
   two rounds: a team that dropped out), by the model's learning state;
2. alliances form only with the other side's consent: both teams propose each other, or the
   other seat is the model's and its perceived supply risk makes joining pay for it
   (:func:`~abm_dashboard.session.consent_risk_threshold`);
3. the moves are applied through :class:`~abm_dashboard.session.GameWorld` (the model's
   ``play_strategy`` / ``release_strategy``), the model runs the round's months, and every
   page is told (:meth:`Classroom.wait`).

Rooms persist in SQLite (:mod:`abm_dashboard.store`): each closed round stores the model calls
it made, and a restarted server rebuilds a room by replaying them on a model with the same seed
(the model is deterministic), so the game resumes where it was.

Scores: a team's score is its state's payoff (US$ million per month, the model's own measure of
how well a state does: refiners' revenue, industry advantage, leverage, minus shortage,
stockpile and alliance costs and retaliation risk) summed over the months played.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from abm_dashboard.session import (
    CLASSROOM_ROLES,
    DOMAINS,
    GameWorld,
    Run,
    Settings,
    country_name,
)
from abm_dashboard.store import Store, digest

__all__ = [
    "ROLES",
    "Classroom",
    "ClassroomError",
    "RoomSnapshot",
    "get_classroom",
    "move_options",
]

ROLES = CLASSROOM_ROLES
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: easy to read aloud
CODE_LENGTH = 6
CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
NAME_RE = re.compile(r"^[\w .'-]{0,24}$", re.UNICODE)
ROUND_MONTHS = (1, 2, 3, 6, 12)
ROUNDS_TOTAL = (2, 4, 6, 8, 10, 12, 16, 20)
TIMERS = (0, 60, 120, 180, 300, 600)
DEFAULTS = {"round_months": 6, "rounds_total": 8, "timer_seconds": 0}
DROPOUT_ROUNDS = 2  # rounds without moves after which a team's seat falls back to the model
HISTORY_SCENARIO = "controls_2025"  # the 2025 controls replayed: "history" in the debrief


class ClassroomError(ValueError):
    """A refused classroom action, with one line for the page."""


def move_options(world: GameWorld, role: str) -> dict[str, list[tuple[str, str]]]:
    """The moves a role may submit, per domain: ``(value, label)`` pairs.

    Export and stockpile moves are the model's strategies (``model.strategy_names``); the
    alliance moves are ``stay``, ``leave`` and ``join:<role>`` (a proposal to one other role).
    """
    labels = {"open": "open: no controls", "licence_heavy": "licences on heavy (Dy/Tb) only",
              "licence": "licences on light and heavy", "quota": "quota (60% of normal)",
              "ban": "ban", "build": "build up", "hold": "hold", "release": "sell off",
              "stay": "stay as we are", "leave": "leave our alliance"}
    out = {domain: [(name, labels.get(name, name)) for name in world.strategy_options(domain)]
           for domain in ("export", "stockpile")}
    alliance = [("stay", labels["stay"]), ("leave", labels["leave"])]
    alliance += [(f"join:{other}", f"ally with {country_name(other)}") for other in ROLES
                 if other != role]
    out["alliance"] = alliance
    return out


@dataclass
class Seat:
    """One role's team as the pages show it."""

    role: str
    members: list[str] = field(default_factory=list)
    submitted: bool = False
    controller: str = "model"
    score_total: float = 0.0
    score_round: float = 0.0


@dataclass
class RoomSnapshot:
    """What the pages draw, taken under the room's lock."""

    code: str
    round: int
    rounds_total: int
    round_months: int
    timer_seconds: int
    deadline: float | None
    status: str
    month: str
    last_month: str
    seats: dict[str, Seat]
    reveals: list[dict[str, Any]]
    frame: pd.DataFrame
    network: tuple
    briefings: dict[str, dict[str, Any]]
    options: dict[str, dict[str, list[tuple[str, str]]]]
    started: bool
    versions: dict[str, int]
    team_moves: dict[str, tuple[dict[str, str], str, float]]
    defaults: dict[str, dict[str, str]]


class Room:
    """A room in memory: its model, its lock and the versions pages wait on."""

    def __init__(self, row, world: GameWorld):
        self.code = row.code
        self.row = row
        self.world = world
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.versions: dict[str, int] = {"world": 0, "board": 0}
        self.played: dict[tuple[str, str], str] = {}  # (role, domain) -> strategy last played
        self.round_starts: list[int] = [0]  # month index at which each round began
        self.timer: threading.Timer | None = None
        self.reference: GameWorld | None = None
        self.history: pd.DataFrame | None = None
        self.snapshot: tuple[tuple, RoomSnapshot] | None = None  # for the current versions
        self.options: dict[str, dict[str, list[tuple[str, str]]]] | None = None

    def bump(self, *keys: str) -> None:
        """Tell waiting pages that something they show changed."""
        with self.changed:
            for key in keys:
                self.versions[key] = self.versions.get(key, 0) + 1
            self.changed.notify_all()


class Classroom:
    """All rooms of one server, backed by a :class:`~abm_dashboard.store.Store`.

    Args:
        store: the database.
        clock: the time function (tests pass a fake).
    """

    def __init__(self, store: Store, clock=time.time):
        self.store = store
        self.clock = clock
        self._rooms: dict[str, Room] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ rooms
    def new_room(self, seed: int | None = None, **settings: int) -> tuple[str, str]:
        """Create a room.

        Args:
            seed: the model's seed (random when None).
            **settings: ``round_months``, ``rounds_total``, ``timer_seconds`` (checked).

        Returns:
            ``(code, teacher secret)``.
        """
        values = {**DEFAULTS, **settings}
        self._check_settings(values)
        seed = secrets.randbelow(2**31) if seed is None else int(seed)
        for _ in range(20):
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if not self.store.room_exists(code):
                break
        else:  # pragma: no cover - 887 million codes
            raise ClassroomError("could not find a free room code; try again")
        secret = secrets.token_urlsafe(18)
        self.store.create_room(code, secret, seed, values["round_months"],
                               values["rounds_total"], values["timer_seconds"])
        return code, secret

    @staticmethod
    def _check_settings(values: Mapping[str, Any]) -> None:
        for key, label, allowed in (("round_months", "Months per round", ROUND_MONTHS),
                                    ("rounds_total", "Rounds", ROUNDS_TOTAL),
                                    ("timer_seconds", "Timer (seconds)", TIMERS)):
            value = values.get(key)
            if key in values and (isinstance(value, bool) or value not in allowed):
                raise ClassroomError(f"{label} must be one of "
                                     f"{', '.join(map(str, allowed))}, got {value!r}")
        unknown = set(values) - {"round_months", "rounds_total", "timer_seconds"}
        if unknown:
            raise ClassroomError(f"Unknown room setting {sorted(unknown)[0]!r}")

    @staticmethod
    def clean_code(text: Any) -> str:
        """A room code as typed (any case, spaces) -> the code, or one-line refusal."""
        raw = "".join(str(text).split()).upper()[:20]
        if not CODE_RE.match(raw):
            raise ClassroomError(f"Room code: type the {CODE_LENGTH} letters and digits the "
                                 f"teacher shows, got {str(text)[:20]!r}")
        return raw

    def room(self, code: str) -> Room:
        """The room in memory, loaded and replayed from the database on first use.

        Raises:
            ClassroomError: no such room.
        """
        code = self.clean_code(code)
        with self._lock:
            room = self._rooms.get(code)
            if room is not None:
                return room
            row = self.store.room(code)
            if row is None:
                raise ClassroomError(f"Room code: there is no room {code}")
            room = Room(row, GameWorld(row.seed, row.round_months))
            self._replay(room)
            self._rooms[code] = room
        self._arm_timer(room)
        return room

    def _replay(self, room: Room) -> None:
        """Rebuild a room's model from its closed rounds (same seed, same calls, same months)."""
        for rec in self.store.rounds(room.code):
            for call in rec["calls"]:
                room.world.execute(tuple(call))
                self._note_call(room, tuple(call))
            room.world.advance(int(rec["months"]))
            room.round_starts.append(room.world.months_done)

    @staticmethod
    def _note_call(room: Room, call: tuple) -> None:
        if call[0] == "play":
            room.played[(call[1], call[2])] = call[3]
        elif call[0] == "release":
            room.played.pop((call[1], call[2]), None)

    def is_teacher(self, code: str, secret: Any) -> bool:
        """Whether ``secret`` is the teacher's secret of room ``code`` (constant-time)."""
        try:
            row = self.room(code).row
        except ClassroomError:
            return False
        if not isinstance(secret, str) or not TOKEN_RE.match(secret):
            return False
        return hmac.compare_digest(row.secret, digest(secret))

    def _teacher(self, code: str, secret: Any) -> Room:
        if not self.is_teacher(code, secret):
            raise ClassroomError("Only the teacher's link can do that")
        return self.room(code)

    def _fresh_row(self, room: Room) -> None:
        room.row = self.store.room(room.code)

    # ------------------------------------------------------------------ seats
    def join(self, code: Any, role: Any, name: Any = "") -> tuple[str, str]:
        """Give a student a seat.

        Args:
            code: the room code as typed.
            role: one of :data:`ROLES`.
            name: an optional first name (up to 24 letters, digits, spaces, ``.-'``).

        Returns:
            ``(room code, seat token)``.

        Raises:
            ClassroomError: a code, role or name the page did not offer, or a finished game.
        """
        room = self.room(code)
        if role not in ROLES:
            raise ClassroomError(f"Role: choose one of {', '.join(map(country_name, ROLES))}")
        name = " ".join(str(name or "").split())
        if not NAME_RE.match(name):
            raise ClassroomError("Name: up to 24 letters, digits and spaces")
        with room.lock:
            if room.row.status == "finished":
                raise ClassroomError("This game has ended; ask the teacher for a new room")
            token = secrets.token_urlsafe(18)
            self.store.add_player(room.code, token, role, name or "student")
        room.bump("board", f"team:{role}")
        return room.code, token

    def seat(self, code: Any, token: Any) -> tuple[str, str] | None:
        """``(role, name)`` of a seat token in a room, or None for anything else."""
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            return None
        try:
            room = self.room(code)
        except ClassroomError:
            return None
        return self.store.player(room.code, token)

    # ------------------------------------------------------------------ moves
    def submit(self, code: Any, token: Any, moves: Mapping[str, Any]) -> None:
        """Record a team's moves for the open round (a second submit replaces the first).

        Raises:
            ClassroomError: an unknown seat, a finished game, or a move not offered.
        """
        seat = self.seat(code, token)
        if seat is None:
            raise ClassroomError("This seat link is not valid; join again with the room code")
        room = self.room(code)
        role = seat[0]
        with room.lock:
            if room.row.status == "finished":
                raise ClassroomError("The game has ended; moves are closed")
            options = move_options(room.world, role)
            clean = {}
            for domain in DOMAINS:
                value = moves.get(domain)
                if value not in [o[0] for o in options[domain]]:
                    raise ClassroomError(f"Refused: {str(value)[:40]!r} is not a {domain} move "
                                         "this page offers; nothing was submitted")
                clean[domain] = value
            self.store.submit(room.code, room.row.round, role, token, clean)
        room.bump("board", f"team:{role}")

    def team_moves(self, code: str, role: str) -> tuple[dict[str, str], str, float] | None:
        """A role's latest submission in the open round (moves, who, when), or None."""
        room = self.room(code)
        latest = self.store.latest_moves(room.code, room.row.round).get(role)
        if latest is None:
            return None
        names = {tok: name for tok, _r, name in self.store.players(room.code)}
        return latest[0], names.get(latest[1], "?"), latest[2]

    # ------------------------------------------------------------------ teacher settings
    def configure(self, code: str, secret: Any, **settings: Any) -> None:
        """Change months per round, rounds or the timer.

        Months per round only before the first round closes: the model's states decide once
        per round.

        Raises:
            ClassroomError: not the teacher, a value not offered, or too late.
        """
        room = self._teacher(code, secret)
        self._check_settings(settings)
        with room.lock:
            if "round_months" in settings and settings["round_months"] != room.row.round_months:
                if room.row.round > 1:
                    raise ClassroomError("Months per round are fixed once a round has closed")
                room.world = GameWorld(room.row.seed, int(settings["round_months"]))
            if settings:
                self.store.update_room(room.code, **settings)
            self._fresh_row(room)
        room.bump("world", "board")

    def configure_months(self, code: str, secret: Any, months: Any) -> None:
        """Set the months per round (see :meth:`configure`)."""
        self.configure(code, secret, round_months=months)

    def configure_rounds(self, code: str, secret: Any, rounds: Any) -> None:
        """Set the number of rounds (see :meth:`configure`)."""
        self.configure(code, secret, rounds_total=rounds)

    def configure_timer(self, code: str, secret: Any, seconds: Any) -> None:
        """Set the timer length in seconds, 0 for none (see :meth:`configure`)."""
        self.configure(code, secret, timer_seconds=seconds)

    def start_timer(self, code: str, secret: Any) -> float:
        """Start the round's timer (the round closes by itself when it ends).

        Returns:
            The deadline (seconds since the epoch).
        """
        room = self._teacher(code, secret)
        with room.lock:
            if room.row.timer_seconds <= 0:
                raise ClassroomError("Choose a timer length first")
            if room.row.status == "finished":
                raise ClassroomError("The game has ended")
            deadline = self.clock() + room.row.timer_seconds
            self.store.update_room(room.code, deadline=deadline)
            self._fresh_row(room)
        self._arm_timer(room)
        room.bump("board", "world")
        return deadline

    def _arm_timer(self, room: Room) -> None:
        with room.lock:
            if room.timer is not None:
                room.timer.cancel()
                room.timer = None
            deadline = room.row.deadline
            if deadline is None or room.row.status == "finished":
                return
            round_no = room.row.round
            timer = threading.Timer(max(deadline - self.clock(), 0.0), self._timer_fired,
                                    args=(room.code, round_no))
            timer.daemon = True
            room.timer = timer
            timer.start()

    def _timer_fired(self, code: str, round_no: int) -> None:
        room = self.room(code)
        with room.lock:
            if room.row.round != round_no or room.row.deadline is None:
                return
            self._close(room)

    # ------------------------------------------------------------------ rounds
    def close_round(self, code: str, secret: Any) -> dict[str, Any]:
        """The teacher closes the round: apply the moves, run the months, reveal.

        Returns:
            The round's reveal.
        """
        room = self._teacher(code, secret)
        with room.lock:
            return self._close(room)

    def end_game(self, code: str, secret: Any) -> None:
        """The teacher ends the game now (the debrief opens)."""
        room = self._teacher(code, secret)
        with room.lock:
            self.store.update_room(room.code, status="finished", deadline=None)
            self._fresh_row(room)
            if room.timer is not None:
                room.timer.cancel()
        room.bump("world", "board")

    def _controllers(self, room: Room, latest: Mapping[str, Any]) -> dict[str, str]:
        """Who plays each role this round.

        ``team`` (moves now), ``kept`` (last round's moves) or ``model`` (no seat, or no moves
        for DROPOUT_ROUNDS rounds).
        """
        recent: set[str] = set()
        for back in range(1, DROPOUT_ROUNDS):
            if room.row.round - back >= 1:
                recent |= set(self.store.latest_moves(room.code, room.row.round - back))
        return {role: "team" if role in latest else "kept" if role in recent else "model"
                for role in ROLES}

    def _close(self, room: Room) -> dict[str, Any]:
        row = room.row
        if row.status == "finished":
            raise ClassroomError("The game has ended")
        world = room.world
        if world.finished:
            raise ClassroomError("The scenario's last month is reached")
        latest = {r: v[0] for r, v in self.store.latest_moves(row.code, row.round).items()}
        control = self._controllers(room, latest)
        calls: list[tuple] = []
        reveal_rows = []
        for role in ROLES:
            how = control[role]
            if how == "model":
                calls += [("release", role, d) for d in ("export", "stockpile")
                          if d in world.pinned(role)]
                continue
            if how == "kept":
                continue
            moves = latest[role]
            for domain in ("export", "stockpile"):
                if room.played.get((role, domain)) != moves[domain] or \
                        domain not in world.pinned(role):
                    calls.append(("play", role, domain, moves[domain]))
            alliance = moves["alliance"]
            calls.append(("play", role, "alliance",
                          "leave" if alliance == "leave" else "stay"))
        outcomes = self._alliances(room, latest, control, calls)
        first_month = world.month
        for call in calls:
            world.execute(call)
            self._note_call(room, call)
        extra = self._model_alliances(room, control)
        for call in extra:
            world.execute(call)
            self._note_call(room, call)
        calls += extra
        before = world.months_done
        months = world.advance(row.round_months)
        room.round_starts.append(world.months_done)
        events = world.events()
        chosen = events[(events["step"] >= before) & (events["source"] == "choice")]
        for role in ROLES:
            how = control[role]
            moves = latest.get(role) or self._last_moves(room, role)
            model_did = _model_summary(world, role, chosen[chosen["actor"] == role])
            reveal_rows.append({
                "role": role, "played_by": {"team": "team", "kept": "team (last round's moves)",
                                            "model": "model"}[how],
                "export": moves.get("export", "") if how != "model" else "",
                "stockpile": moves.get("stockpile", "") if how != "model" else "",
                "alliance": moves.get("alliance", "") if how != "model" else "",
                "alliance_outcome": outcomes.get(role, ""),
                "model_choices": model_did if how == "model" else "",
                "score_round": world.payoffs(role, before),
                "score_total": world.payoffs(role),
            })
        finished = world.finished or row.round >= row.rounds_total
        reveal = {"round": row.round, "first_month": first_month,
                  "last_month": str(world.frame()["date"].iloc[-1]) if months else first_month,
                  "months": months, "rows": reveal_rows}
        self.store.close_round(row.code, row.round, first_month, months,
                               [list(c) for c in calls], reveal,
                               row.round + (0 if finished else 1),
                               "finished" if finished else "open")
        self._fresh_row(room)
        if room.timer is not None:
            room.timer.cancel()
            room.timer = None
        room.bump("world", "board", *[f"team:{r}" for r in ROLES])
        return reveal

    @staticmethod
    def _model_alliances(room: Room, control: Mapping[str, str]) -> list[tuple]:
        """Alliance calls for the seats the model plays, after the teams' alliances are set.

        While a team is in a bloc, the model's seats keep their alliance as it is (pinned
        ``stay``): the model's own ``join`` would enter the largest bloc, a team's bloc
        included, without the team's consent; a team can still propose to them. With no team
        in a bloc, the model's seats choose their alliances themselves.
        """
        world = room.world
        team_blocs = {world.bloc(r) for r in ROLES if control[r] != "model" and world.bloc(r)}
        calls: list[tuple] = []
        for role in ROLES:
            if control[role] != "model":
                continue
            pinned = "alliance" in world.pinned(role)
            if team_blocs:
                if not pinned or room.played.get((role, "alliance")) != "stay":
                    calls.append(("play", role, "alliance", "stay"))
            elif pinned:
                calls.append(("release", role, "alliance"))
        return calls

    def _last_moves(self, room: Room, role: str) -> dict[str, str]:
        for rec in reversed(self.store.rounds(room.code)):
            for r in rec["reveal"]["rows"]:
                if r["role"] == role and r["played_by"] != "model":
                    return {d: r[d] for d in DOMAINS}
        return {}

    def _alliances(self, room: Room, latest: Mapping[str, dict[str, str]],
                   control: Mapping[str, str], calls: list[tuple]) -> dict[str, str]:
        """Alliance proposals -> ``ally`` calls where the other side consents; outcomes."""
        world = room.world
        proposals = {role: latest[role]["alliance"][5:] for role in ROLES
                     if control[role] == "team" and latest[role]["alliance"].startswith("join:")}
        outcomes: dict[str, str] = {}
        done: set[frozenset[str]] = set()
        for a in ROLES:
            b = proposals.get(a)
            if b is None or frozenset((a, b)) in done:
                continue
            done.add(frozenset((a, b)))
            if world.bloc(a) and world.bloc(a) == world.bloc(b):
                outcomes[a] = f"already allied with {country_name(b)}"
                continue
            if control[b] == "model":
                agreed = world.would_consent(b)
                why = ("the model, playing it, saw enough supply risk to join" if agreed else
                       "the model, playing it, saw too little supply risk to join")
            else:
                agreed = proposals.get(b) == a
                why = "both proposed it" if agreed else f"{country_name(b)} did not propose it"
            if agreed:
                bloc = world.bloc(a) or world.bloc(b) or f"{a}-{b}"
                calls.append(("ally", a, b, bloc))
                outcomes[a] = f"alliance with {country_name(b)} formed ({why})"
                if b in proposals:
                    outcomes[b] = f"alliance with {country_name(a)} formed ({why})"
            else:
                outcomes[a] = f"no alliance with {country_name(b)}: {why}"
        return outcomes

    # ------------------------------------------------------------------ views
    def snapshot(self, code: str) -> RoomSnapshot:
        """Everything the pages draw, consistent with one version of the room."""
        room = self.room(code)
        with room.lock:
            key = tuple(sorted(room.versions.items()))
            if room.snapshot is not None and room.snapshot[0] == key:
                return room.snapshot[1]
            snap = self._snapshot(room)
            room.snapshot = (key, snap)
            return snap

    def _snapshot(self, room: Room) -> RoomSnapshot:
        row = room.row
        world = room.world
        latest = self.store.latest_moves(room.code, row.round)
        control = self._controllers(room, {r: v[0] for r, v in latest.items()})
        seats = {role: Seat(role) for role in ROLES}
        names = {}
        for tok, role, name in self.store.players(room.code):
            names[tok] = name
            if role in seats:
                seats[role].members.append(name)
        team_moves = {role: (moves, names.get(tok, "?"), at)
                      for role, (moves, tok, at) in latest.items()}
        start = room.round_starts[-2] if len(room.round_starts) > 1 else 0
        for role, seat in seats.items():
            seat.submitted = role in latest
            seat.controller = control[role] if seat.members else "model"
            seat.score_total = world.payoffs(role)
            seat.score_round = world.payoffs(role, start)
        frame = world.frame()
        briefings = {role: world.briefing(role, start) for role in ROLES}
        if room.options is None:  # the strategy sets never change: one copy for every page
            room.options = {role: move_options(world, role) for role in ROLES}
        options = room.options
        reveals = [rec["reveal"] for rec in self.store.rounds(room.code)]
        last = str(frame["date"].iloc[-1]) if len(frame) else ""
        return RoomSnapshot(
            code=room.code, round=row.round, rounds_total=row.rounds_total,
            round_months=row.round_months, timer_seconds=row.timer_seconds,
            deadline=row.deadline, status=row.status, month=world.month, last_month=last,
            seats=seats, reveals=reveals, frame=frame, network=_copy_network(world.network()),
            briefings=briefings, options=options, started=world.months_done > 0,
            versions=dict(room.versions), team_moves=team_moves,
            defaults={role: _first_moves(reveals, role) for role in ROLES})

    def versions(self, code: str) -> dict[str, int]:
        """The room's current versions (what pages compare to know they are stale)."""
        room = self.room(code)
        with room.lock:
            return dict(room.versions)

    def wait(self, code: str, keys: Iterable[str], seen: Mapping[str, int],
             timeout: float) -> dict[str, int]:
        """Block until one of ``keys`` has a version other than ``seen``, or the timeout.

        Returns:
            The versions of ``keys`` now.
        """
        room = self.room(code)
        keys = list(keys)

        def now():
            return {k: room.versions.get(k, 0) for k in keys}

        with room.changed:
            room.changed.wait_for(lambda: now() != {k: seen.get(k, 0) for k in keys},
                                  timeout=timeout)
            return now()

    def debrief(self, code: str) -> dict[str, Any]:
        """The class's path, an all-model run with the same seed, and history, for the end.

        Returns:
            ``class``, ``reference`` (every state played by the model, the same months) and
            ``history`` (the 2025 controls replayed, same seed) frames, and per role the
            team's score against the model's score for the same state.
        """
        room = self.room(code)
        with room.lock:
            months = room.world.months_done
            row = room.row
            frame = room.world.frame()
            scores = {role: room.world.payoffs(role) for role in ROLES}
        reference = room.reference
        if reference is None or reference.months_done < months:
            reference = GameWorld(row.seed, row.round_months)
            reference.advance(months)
            room.reference = reference
        if room.history is None or len(room.history) < months:
            hist = Run(Settings(scenario=HISTORY_SCENARIO, seed=row.seed))
            for _ in range(min(months, hist.horizon)):
                hist.step()
            room.history = hist.frame()
        ref_frame = reference.frame()
        return {"class": frame, "reference": ref_frame, "history": room.history,
                "scores": {role: (scores[role], reference.payoffs(role)) for role in ROLES}}

    def record_csv(self, code: str) -> bytes:
        """The game's record as CSV.

        One row per round and role: who played, moves, outcomes, scores, and the world prices
        at the round's end.
        """
        room = self.room(code)
        with room.lock:
            rounds = self.store.rounds(room.code)
            frame = room.world.frame()
        by_month = frame.set_index("date") if len(frame) else pd.DataFrame()
        rows = []
        for rec in rounds:
            rev = rec["reveal"]
            last = rev.get("last_month", "")
            for r in rev["rows"]:
                row = {"round": rev["round"], "first_month": rev["first_month"],
                       "last_month": last, **r}
                for col in ("price_light_world", "price_heavy_world", "price_light_china",
                            "price_heavy_china"):
                    row[col] = (float(by_month.loc[last, col])
                                if last in by_month.index and col in by_month else "")
                rows.append(row)
        return pd.DataFrame(rows).to_csv(index=False).encode()


_DEFAULT: Classroom | None = None
_DEFAULT_LOCK = threading.Lock()


def get_classroom() -> Classroom:
    """The server's classroom (database in :func:`~abm_dashboard.store.data_dir`)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Classroom(Store())
        return _DEFAULT


def _first_moves(reveals: list[dict[str, Any]], role: str) -> dict[str, str]:
    """The moves a team's form starts from: its moves of the last round, else none."""
    if reveals:
        for row in reveals[-1]["rows"]:
            if row["role"] == role and row["played_by"] != "model":
                return {d: row[d] for d in DOMAINS}
    return {"export": "open", "stockpile": "hold", "alliance": "stay"}


def _model_summary(world: GameWorld, role: str, chosen: pd.DataFrame) -> str:
    """What the model did with a seat it played.

    Its export controls now in force, and its stockpile and alliance choices of the round.
    """
    parts = [f"exports: {world.export_policy_text(role)}"]
    for action in ("stockpile", "alliance", "leave_alliance"):
        details = chosen[chosen["action"] == action]["detail"].astype(str)
        parts += [d.split(": ", 1)[-1] for d in details.head(1)]
    if world.bloc(role):
        parts.append(f"in alliance {world.bloc(role)}")
    return "; ".join(parts)


def _copy_network(network: tuple) -> tuple:
    """The network view with its graph copied (the model changes its own graph later)."""
    graph, *rest = network
    return (graph.copy(), *rest)
