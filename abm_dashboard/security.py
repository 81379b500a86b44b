"""Who may open the app's websocket: same-origin pages on hosts this server answers to.

Everything a Solara page does travels over one websocket (``/jupyter/api/kernels/...``). A web
page on another site that a user visits could open that socket to a local ``make app`` (the
browser sends the user's cookies with it) and drive the dashboard; issue 11 found the handshake
accepted with ``Origin: http://evil.example``. :func:`install` wraps the app's websocket routes
so that a handshake is refused (HTTP 403, before any Solara code runs) unless

- its ``Host`` header names this machine (``localhost``, a loopback address, the machine's own
  name or addresses, or a name listed in ``ABM_ALLOWED_HOSTS``): a page that re-binds its own
  domain name to this machine's address (DNS rebinding) is refused; and
- its ``Origin`` header, when present, is the same scheme-less host and port as ``Host``
  (browsers always send ``Origin`` on websocket handshakes; a client without one is not a
  browser acting for a user).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["allowed_hosts", "check_handshake", "install", "lan_addresses"]

log = logging.getLogger("abm_dashboard")

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (for the students' link).

    Uses the routing table only (a UDP socket is "connected" to a non-routable address; no
    packet is sent), then the addresses of the host name.
    """
    found: list[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            found.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    except OSError:
        pass
    out = []
    for addr in found:
        if addr not in out and not addr.startswith("127."):
            out.append(addr)
    return out


@functools.cache
def allowed_hosts() -> frozenset[str]:
    """Host names a handshake may name, lower-case.

    Loopback, this machine's names and addresses, and ``ABM_ALLOWED_HOSTS`` (comma-separated).
    """
    names = set(LOOPBACK)
    try:
        host = socket.gethostname()
        names.update({host.lower(), socket.getfqdn().lower()})
    except OSError:
        pass
    names.update(lan_addresses())
    extra = os.environ.get("ABM_ALLOWED_HOSTS", "")
    names.update(h.strip().lower() for h in extra.split(",") if h.strip())
    return frozenset(names)


def _split_host(value: str) -> tuple[str, str]:
    """``host[:port]`` (or ``[v6]:port``) -> (host lower-case, port or "")."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest.lstrip(":")
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    return (host, port) if host else (value, "")


def check_handshake(headers: Iterable[tuple[bytes, bytes]],
                    hosts: frozenset[str] | None = None) -> str | None:
    """Decide on a websocket handshake from its headers.

    Args:
        headers: the ASGI scope's raw headers.
        hosts: allowed host names (default :func:`allowed_hosts`).

    Returns:
        None to accept, else the reason for refusing (for the log).
    """
    got = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
    hosts = allowed_hosts() if hosts is None else hosts
    host_header = got.get("host", "")
    host, port = _split_host(host_header)
    if host not in hosts:
        return f"host {host_header!r} is not this server"
    origin = got.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"origin {origin!r} is not a web page of this server"
    origin_port = str(parts.port or "")
    if parts.hostname.lower() != host or origin_port != port:
        return f"origin {origin!r} is not {host_header!r}"
    return None


class OriginGuard:
    """ASGI wrapper of a websocket route: refuses handshakes :func:`check_handshake` refuses."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        """Pass the connection on, or close it before accepting (HTTP 403)."""
        if scope.get("type") == "websocket":
            reason = check_handshake(scope.get("headers", []))
            if reason is not None:
                log.warning("websocket refused: %s", reason)
                await send({"type": "websocket.close", "code": 1008})
                return
        await self.app(scope, receive, send)


def install(app=None) -> int:
    """Wrap every websocket route of the Solara server app in :class:`OriginGuard`.

    Idempotent. Called by ``app.py`` when the server loads it (before it serves a request).

    Args:
        app: a Starlette app (default: Solara's).

    Returns:
        The number of websocket routes guarded.
    """
    from starlette.routing import WebSocketRoute

    if app is None:
        from solara.server.starlette import app as solara_app

        app = solara_app
    n = 0
    for route in app.router.routes:
        if isinstance(route, WebSocketRoute):
            if not isinstance(route.app, OriginGuard):
                route.app = OriginGuard(route.app)
            n += 1
    return n
