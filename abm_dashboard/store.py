"""Where classroom games live between server restarts: one SQLite file (stdlib ``sqlite3``).

The file is ``classroom.sqlite3`` in a data directory chosen by the server, never by a page:
``$ABM_CLASSROOM_DIR`` when set, else ``$XDG_STATE_HOME/rare-earth-abm`` (by default
``~/.local/state/rare-earth-abm``). Tables:

- ``rooms``: one row per room (code, the SHA-256 of the teacher's secret, seed, months per
  round, rounds, current round, timer, deadline, status);
- ``players``: one row per seat (the SHA-256 of the seat token, room, role, name);
- ``submissions``: every "Submit moves" (the latest per room, round and role counts);
- ``rounds``: each closed round: the model calls it made (JSON; replayed in order to rebuild
  the game after a restart) and its reveal (JSON).

Secrets and seat tokens are stored only as hashes. Every statement uses parameters, and every
write is one transaction, so a killed server leaves the last complete state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RoomRow", "Store", "data_dir", "digest"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
  code TEXT PRIMARY KEY, secret TEXT NOT NULL, seed INTEGER NOT NULL,
  round_months INTEGER NOT NULL, rounds_total INTEGER NOT NULL, round INTEGER NOT NULL,
  timer_seconds INTEGER NOT NULL, deadline REAL, status TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS players (
  token TEXT PRIMARY KEY, room TEXT NOT NULL REFERENCES rooms(code), role TEXT NOT NULL,
  name TEXT NOT NULL, joined REAL NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, round INTEGER NOT NULL,
  role TEXT NOT NULL, token TEXT NOT NULL, moves TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
  room TEXT NOT NULL, round INTEGER NOT NULL, first_month TEXT NOT NULL,
  months INTEGER NOT NULL, calls TEXT NOT NULL, reveal TEXT NOT NULL, closed REAL NOT NULL,
  PRIMARY KEY (room, round));
CREATE INDEX IF NOT EXISTS players_room ON players(room);
CREATE INDEX IF NOT EXISTS submissions_room ON submissions(room, round, role);
"""


def data_dir() -> Path:
    """The directory of the classroom database (see the module docstring)."""
    explicit = os.environ.get("ABM_CLASSROOM_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rare-earth-abm"


def digest(secret: str) -> str:
    """SHA-256 hex digest of a secret or token (what the database keeps)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RoomRow:
    """A room as stored."""

    code: str
    secret: str
    seed: int
    round_months: int
    rounds_total: int
    round: int
    timer_seconds: int
    deadline: float | None
    status: str
    created: float


class Store:
    """The classroom database.

    Args:
        path: the SQLite file; default ``data_dir() / "classroom.sqlite3"`` (the directory is
            created with mode 0700).
    """

    def __init__(self, path: Path | None = None):
        if path is None:
            folder = data_dir()
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = folder / "classroom.sqlite3"
        self.path = Path(path)
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            db.executescript(SCHEMA)
            db.commit()
        finally:
            db.close()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    # ------------------------------------------------------------------ rooms
    def create_room(self, code: str, secret: str, seed: int, round_months: int,
                    rounds_total: int, timer_seconds: int) -> None:
        """Insert a new room (round 1 open, no deadline)."""
        with self._connect() as db:
            db.execute("INSERT INTO rooms VALUES (?, ?, ?, ?, ?, 1, ?, NULL, 'open', ?)",
                       (code, digest(secret), seed, round_months, rounds_total, timer_seconds,
                        time.time()))

    def room(self, code: str) -> RoomRow | None:
        """The room with this code, or None."""
        with self._connect() as db:
            row = db.execute("SELECT code, secret, seed, round_months, rounds_total, round, "
                             "timer_seconds, deadline, status, created FROM rooms WHERE code=?",
                             (code,)).fetchone()
        return RoomRow(*row) if row else None

    def room_exists(self, code: str) -> bool:
        """Whether a room with this code exists."""
        return self.room(code) is not None

    def update_room(self, code: str, **fields: Any) -> None:
        """Change some of a room's settings (names are checked against the table's columns)."""
        allowed = {"round_months", "rounds_total", "round", "timer_seconds", "deadline",
                   "status"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"cannot update {sorted(set(fields) - allowed)}")
        names = sorted(fields)
        sql = "UPDATE rooms SET " + ", ".join(f"{n}=?" for n in names) + " WHERE code=?"
        with self._connect() as db:
            db.execute(sql, [fields[n] for n in names] + [code])

    # ------------------------------------------------------------------ players
    def add_player(self, room: str, token: str, role: str, name: str) -> None:
        """Give a seat (its token's hash) in a room."""
        with self._connect() as db:
            db.execute("INSERT INTO players VALUES (?, ?, ?, ?, ?)",
                       (digest(token), room, role, name, time.time()))

    def player(self, room: str, token: str) -> tuple[str, str] | None:
        """``(role, name)`` of a seat token in a room, or None."""
        with self._connect() as db:
            row = db.execute("SELECT role, name FROM players WHERE token=? AND room=?",
                             (digest(token), room)).fetchone()
        return (row[0], row[1]) if row else None

    def players(self, room: str) -> list[tuple[str, str, str]]:
        """``(token hash, role, name)`` of every seat in a room, in joining order."""
        with self._connect() as db:
            return [tuple(r) for r in db.execute(
                "SELECT token, role, name FROM players WHERE room=? ORDER BY joined, rowid",
                (room,))]

    # ------------------------------------------------------------------ moves
    def submit(self, room: str, round_no: int, role: str, token: str,
               moves: dict[str, str]) -> None:
        """Record a team's moves (a later submission replaces this one)."""
        with self._connect() as db:
            db.execute("INSERT INTO submissions (room, round, role, token, moves, at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (room, round_no, role, digest(token), json.dumps(moves), time.time()))

    def latest_moves(self, room: str, round_no: int) -> dict[str, tuple[dict[str, str], str,
                                                                          float]]:
        """Each role's latest submission in a round: ``role -> (moves, token hash, time)``."""
        with self._connect() as db:
            rows = db.execute("SELECT role, moves, token, at FROM submissions WHERE room=? "
                              "AND round=? ORDER BY id", (room, round_no)).fetchall()
        out: dict[str, tuple[dict[str, str], str, float]] = {}
        for role, moves, token, at in rows:
            out[role] = (json.loads(moves), token, at)
        return out

    # ------------------------------------------------------------------ rounds
    def close_round(self, room: str, round_no: int, first_month: str, months: int,
                    calls: list, reveal: dict, next_round: int, status: str) -> None:
        """Record a closed round and open the next one, in one transaction."""
        with self._connect() as db:
            db.execute("INSERT INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (room, round_no, first_month, months, json.dumps(calls),
                        json.dumps(reveal), time.time()))
            db.execute("UPDATE rooms SET round=?, status=?, deadline=NULL WHERE code=?",
                       (next_round, status, room))

    def rounds(self, room: str) -> list[dict[str, Any]]:
        """The closed rounds of a room in order: round, first_month, months, calls, reveal."""
        with self._connect() as db:
            rows = db.execute("SELECT round, first_month, months, calls, reveal FROM rounds "
                              "WHERE room=? ORDER BY round", (room,)).fetchall()
        return [{"round": r, "first_month": f, "months": m, "calls": json.loads(c),
                 "reveal": json.loads(v)} for r, f, m, c, v in rows]
