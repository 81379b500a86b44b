"""The websocket origin guard, without a browser (the browser tests repeat it on a live server)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from abm_dashboard import security
from abm_dashboard.security import OriginGuard, check_handshake

HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "192.168.1.20", "teacher-laptop"})


def _headers(**items: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in items.items()]


@pytest.mark.parametrize(("host", "origin"), [
    ("127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("localhost:8765", "http://localhost:8765"),
    ("[::1]:8765", "http://[::1]:8765"),
    ("192.168.1.20:8765", "http://192.168.1.20:8765"),  # a student's laptop on the LAN
    ("teacher-laptop:8765", "http://TEACHER-LAPTOP:8765"),
    ("127.0.0.1:8765", None),  # no Origin: not a browser acting for a user
])
def test_same_origin_handshakes_pass(host, origin):
    items = {"host": host} | ({"origin": origin} if origin else {})
    assert check_handshake(_headers(**items), HOSTS) is None


@pytest.mark.parametrize(("host", "origin", "why"), [
    ("127.0.0.1:8765", "http://evil.example", "is not '127.0.0.1:8765'"),
    ("127.0.0.1:8765", "http://127.0.0.1:9999", "is not"),  # another local app
    ("127.0.0.1:8765", "null", "is not a web page of this server"),  # a sandboxed frame
    ("127.0.0.1:8765", "file://", "is not a web page"),
    ("evil.example:8765", "http://evil.example:8765", "host 'evil.example:8765' is not this"),
    ("", None, "is not this server"),
])
def test_foreign_handshakes_are_refused(host, origin, why):
    items = {"host": host} | ({"origin": origin} if origin else {})
    reason = check_handshake(_headers(**items), HOSTS)
    assert reason is not None and why in reason


def test_allowed_hosts_include_loopback_and_the_environment(monkeypatch):
    monkeypatch.setenv("ABM_ALLOWED_HOSTS", "class.school.example, 10.0.0.7")
    security.allowed_hosts.cache_clear()
    try:
        hosts = security.allowed_hosts()
        assert {"127.0.0.1", "localhost", "::1", "class.school.example", "10.0.0.7"} <= hosts
        assert "evil.example" not in hosts
    finally:
        security.allowed_hosts.cache_clear()


def test_the_guard_closes_refused_handshakes_before_the_app_runs():
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    guard = OriginGuard(app)
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}

    evil = {"type": "websocket", "headers": _headers(host="127.0.0.1:1", origin="http://evil")}
    asyncio.run(guard(evil, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}] and reached == []
    good = {"type": "websocket", "headers": _headers(host="127.0.0.1:1",
                                                     origin="http://127.0.0.1:1")}
    asyncio.run(guard(good, receive, send))
    assert reached == ["websocket"]
    asyncio.run(guard({"type": "http", "headers": []}, receive, send))
    assert reached == ["websocket", "http"]  # plain page requests pass untouched


def test_install_wraps_every_websocket_route_once():
    async def ws(websocket):
        return None

    async def page(request):
        return None

    app = Starlette(routes=[Route("/", page), WebSocketRoute("/a", ws), WebSocketRoute("/b", ws)])
    assert security.install(app) == 2
    assert security.install(app) == 2  # idempotent
    guarded = [r.app for r in app.router.routes if isinstance(r, WebSocketRoute)]
    assert all(isinstance(g, OriginGuard) and not isinstance(g.app, OriginGuard)
               for g in guarded)
