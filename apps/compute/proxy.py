"""The notebook-session proxy: an ASGI app that serves each JupyterLab to its owner alone.

daiquiri/asgi.py sends every request under ``/compute/sessions/<id>/`` here
(HTTP and WebSocket), behind Channels' session and auth middleware, so the
portal's login is the only key: JupyterLab runs without a token, on a Unix
socket in a host folder that only the portal reaches (sessions.py).

- Only the session's owner gets through, and only while the session is live;
  anyone else, signed in or not, gets 404 (HTTP) or a refused handshake
  (WebSocket). Requests that another site's page makes (``Sec-Fetch-Site:
  cross-site``, other than the user following a link) get 403; WebSockets
  from foreign origins are refused by AllowedHostsOriginValidator.
- The portal's own cookies (session, CSRF) and any Authorization header never
  reach the container: only Jupyter's cookies (``_xsrf``, ``username-…``) pass,
  so Jupyter's XSRF check works as without a proxy, and the user's code cannot
  pick up the portal session.
- Responses keep Jupyter's own headers (its Content-Security-Policy among
  them): they never pass the portal's middleware.
- Each request or message marks the session active (sessions.note_activity),
  which the idle culler reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
from channels.db import database_sync_to_async
from websockets.asyncio.client import ClientConnection, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import sessions

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SESSION_PATH = re.compile(r"^/compute/sessions/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/")
MAX_BODY = 64 * 1024 * 1024  # JupyterLab uploads in chunks of 1 MB; saving a notebook sends it whole
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
              b"transfer-encoding", b"upgrade"}
NOT_FORWARDED = HOP_BY_HOP | {b"cookie", b"authorization", b"content-length", b"host"}
WS_NOT_FORWARDED = NOT_FORWARDED | {b"origin", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                                    b"sec-websocket-protocol", b"user-agent"}
JUPYTER_COOKIES = re.compile(r"^(_xsrf|username-[\w.-]+)$")


def session_id(path: str) -> str | None:
    match = SESSION_PATH.match(path)
    return match["id"] if match else None


def is_session_path(path: str) -> bool:
    return session_id(path) is not None


def jupyter_cookies(headers: list[tuple[bytes, bytes]]) -> str:
    """Only Jupyter's own cookies from the browser's Cookie headers (never the portal's session or CSRF cookie)."""
    kept = []
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key = part.split("=", 1)[0].strip()
            if JUPYTER_COOKIES.match(key):
                kept.append(part.strip())
    return "; ".join(kept)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def upstream_headers(scope: Scope, dropped: set[bytes]) -> list[tuple[str, str]]:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", []) if k.lower() not in dropped]
    cookies = jupyter_cookies(scope.get("headers", []))
    return [*headers, ("Cookie", cookies)] if cookies else headers


def target(scope: Scope) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


async def _owned(scope: Scope) -> tuple[str, str] | None:
    """(session id, socket path) when the signed-in user owns the live session; else None."""
    sid = session_id(scope["path"])
    user = scope.get("user")
    if sid is None or user is None:
        return None
    session = await database_sync_to_async(sessions.proxied_session)(user, sid)
    return None if session is None else (sid, sessions.socket_path(session))


_marked: dict[str, float] = {}


async def mark_active(sid: str) -> None:
    """Record activity at most every ACTIVITY_EVERY_S per session and process (no query per kernel message)."""
    now = time.monotonic()
    if now - _marked.get(sid, 0.0) >= sessions.ACTIVITY_EVERY_S:
        _marked[sid] = now
        await mark_active(sid)


async def _plain(send: Send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None past MAX_BODY (or when the client left)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body"):
            return bytes(body)


class SessionProxy:
    """ASGI app for HTTP and WebSocket requests under /compute/sessions/<id>/ (wrap it in AuthMiddlewareStack)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        followed_link = scope["method"] == "GET" and _header(scope, b"sec-fetch-mode") == "navigate"
        if _header(scope, b"sec-fetch-site") == "cross-site" and not followed_link:
            await _plain(send, 403, "Notebook sessions answer only the portal's own pages.")
            return
        owned = await _owned(scope)
        if owned is None:
            await _plain(send, 404, "No such notebook session.")
            return
        sid, socket = owned
        body = await _read_body(receive)
        if body is None:
            await _plain(send, 413, f"A request to a notebook session carries at most {MAX_BODY // 2**20} MB.")
            return
        await mark_active(sid)
        headers = [("Host", _header(scope, b"host") or "localhost"), *upstream_headers(scope, NOT_FORWARDED)]
        timeout = httpx.Timeout(300.0, connect=5.0)
        try:
            async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket), timeout=timeout) as client:
                request = client.build_request(scope["method"], "http://session" + target(scope), headers=headers, content=body)
                response = await client.send(request, stream=True)
                try:
                    await self._relay(response, send)
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:
            log.warning("notebook session %s: %s %s failed: %r", sid, scope["method"], scope["path"], exc)
            await _plain(send, 502, "The notebook session does not answer (it may be starting or stopped).")

    @staticmethod
    async def _relay(response: httpx.Response, send: Send) -> None:
        headers = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        owned = await _owned(scope)
        if owned is None:
            await send({"type": "websocket.close", "code": 4404})
            return
        sid, socket = owned
        host = _header(scope, b"host") or "localhost"
        try:
            upstream = await unix_connect(
                socket, uri=f"ws://{host}{target(scope)}", origin=_header(scope, b"origin") or None,  # type: ignore[arg-type]
                subprotocols=scope.get("subprotocols") or None, additional_headers=upstream_headers(scope, WS_NOT_FORWARDED),
                compression=None, max_size=None, ping_interval=None, open_timeout=10,
            )
        except (TimeoutError, OSError, InvalidHandshake, InvalidStatus) as exc:
            log.warning("notebook session %s: WebSocket %s refused: %r", sid, scope["path"], exc)
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await self._pump(sid, upstream, receive, send)

    @staticmethod
    async def _pump(sid: str, upstream: ClientConnection, receive: Receive, send: Send) -> None:
        """Messages both ways until either side closes; each marks the session active."""
        async def browser_to_jupyter() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                await upstream.send(message["bytes"] if message.get("bytes") is not None else message.get("text") or "")
                await mark_active(sid)

        async def jupyter_to_browser() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for data in upstream:
                    await send({"type": "websocket.send", **({"bytes": data} if isinstance(data, bytes) else {"text": data})})
                    await mark_active(sid)

        tasks = [asyncio.ensure_future(browser_to_jupyter()), asyncio.ensure_future(jupyter_to_browser())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1000})
