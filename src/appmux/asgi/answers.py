"""Turning the core's :class:`~appmux.core.routing.Answer`, or a factory's
``HTTPException``, into an ASGI response.

HTTP gets the same short pages the WSGI layer serves (werkzeug's), with
``Retry-After`` for 503s and a ``Location`` on the same URL for 308s. A
websocket handshake is refused: closed before accept (the server answers 403).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from werkzeug.exceptions import HTTPException

from ..core.routing import Answer
from ..wsgi.answers import answer_app
from .scope import request_host
from .types import Receive, Scope, Send

__all__ = ["ExceptionApp", "moved_url", "send_answer", "send_exception"]

_Rendered = tuple[int, list[tuple[bytes, bytes]], bytes]
_rendered: dict[Any, _Rendered] = {}


def _render(exc: HTTPException) -> _Rendered:
    body = exc.get_body().encode("utf-8")
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in exc.get_headers()
        if name.lower() != "content-length"
    ]
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    return exc.code or 500, headers, body


async def _send_rendered(rendered: _Rendered, scope: Scope, receive: Receive, send: Send) -> None:
    status, headers, body = rendered
    if scope["type"] == "websocket":
        # Refused before accept: the server answers the handshake with 403. (The
        # websocket.http.response extension would carry the status, but uvicorn
        # then logs an error for every refusal.)
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send(
        {"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body}
    )


async def send_answer(answer: Answer, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer the request (or refuse the websocket) with ``answer``."""
    if answer.redirect_host is not None:
        location = moved_url(scope, answer.redirect_host).encode("latin-1")
        headers = [(b"location", location), (b"content-length", b"0")]
        await _send_rendered((308, headers, b""), scope, receive, send)
        return
    rendered = _rendered.get(answer)
    if rendered is None:
        if len(_rendered) > 256:
            _rendered.clear()
        rendered = _rendered[answer] = _render(answer_app(answer))
    await _send_rendered(rendered, scope, receive, send)


async def send_exception(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with a werkzeug ``HTTPException`` (a key function's or a factory's)."""
    await _send_rendered(_render(exc), scope, receive, send)


class ExceptionApp:
    """An ASGI app answering every request with one ``HTTPException`` (``NotFound()``)."""

    __slots__ = ("exception", "_rendered")

    def __init__(self, exception: HTTPException) -> None:
        self.exception = exception
        self._rendered = _render(exception)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        await _send_rendered(self._rendered, scope, receive, send)


def moved_url(scope: Scope, host: str) -> str:
    """This request's URL on ``host`` (same scheme, port, path and query)."""
    raw = request_host(scope)
    port = raw.rpartition(":")[2] if not raw.endswith("]") and ":" in raw else ""
    scheme = scope.get("scheme", "http")
    if scope["type"] == "websocket":
        scheme = "https" if scheme == "wss" else "http"
    path = quote(scope.get("path", "").encode("utf-8"), safe="/;=,~!$&'()*+@:%")
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"{scheme}://{host}{':' + port if port else ''}{path}"
    return f"{url}?{query}" if query else url
