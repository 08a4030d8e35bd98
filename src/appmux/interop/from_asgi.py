"""An ASGI app under a WSGI server: :class:`ASGIBridge`, what ``as_wsgi(asgi_app)`` returns.

The app runs on the process's one event-loop thread (:mod:`.loop`). Its
lifespan starts before its first request in each process (or when the
server calls :meth:`ASGIBridge.startup`), and shuts down on :meth:`close`.
The request body is read from ``wsgi.input`` as the app asks for it; the
response streams out as the app sends it, with at most
:data:`~appmux.interop.from_wsgi.WINDOW` chunks waiting for the server; when
the server closes the body early the app receives ``http.disconnect``. A
websocket handshake gets ``501``: websockets need an ASGI server.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from .from_wsgi import WINDOW
from .lifespan import Lifespan, spawn
from .loop import loop_thread
from .settings import settings

__all__ = ["ASGIBridge", "build_scope"]

logger = logging.getLogger("appmux")

#: Bytes read from ``wsgi.input`` per ``http.request`` message.
READ_SIZE = 64 * 1024

WEBSOCKET_BODY = (
    b"Websockets need an ASGI server: serve this site with `appmux serve --server uvicorn`.\n"
)
_ERROR_BODY = b"Internal Server Error\n"
_HTTP_HEADERS = {"CONTENT_TYPE": b"content-type", "CONTENT_LENGTH": b"content-length"}


def build_scope(environ: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The ASGI HTTP scope of a WSGI environ: ``path`` whole, ``root_path`` the ``SCRIPT_NAME``."""
    script = environ.get("SCRIPT_NAME", "")
    path = script + environ.get("PATH_INFO", "")
    raw = path.encode("latin-1")
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].lower().replace("_", "-").encode("latin-1")
            headers.append((name, value.encode("latin-1")))
        elif key in _HTTP_HEADERS and value:
            headers.append((_HTTP_HEADERS[key], value.encode("latin-1")))
    server_port = environ.get("SERVER_PORT") or "80"
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": raw.decode("utf-8", "replace"),
        "raw_path": quote(raw, safe="/;=,~!$&'()*+@:%").encode("ascii"),
        "root_path": script.encode("latin-1").decode("utf-8", "replace"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "server": (environ.get("SERVER_NAME", "localhost"), int(server_port)),
        "state": state,
    }
    if environ.get("REMOTE_ADDR"):
        scope["client"] = (environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0))
    tenant = environ.get("appmux.tenant")
    if tenant is not None:
        scope["appmux.tenant"] = tenant
    return scope


def _known_length(environ: dict[str, Any]) -> int | None:
    if environ.get("HTTP_TRANSFER_ENCODING") or environ.get("wsgi.input_terminated"):
        return None
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class _Exchange:
    """One request between the WSGI server's thread and the event loop."""

    def __init__(self, environ: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.input = environ["wsgi.input"]
        self.remaining = _known_length(environ)  # None: read to EOF
        self.loop = loop
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()  # from the loop
        self.body_done = False
        self.gone: asyncio.Future[None] | None = None
        self.unconsumed = 0
        self.space = asyncio.Event()
        self.space_waiting = False
        self.finished = False

    # -- the loop -------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if self.body_done:
            if self.gone is None:
                self.gone = self.loop.create_future()
            await self.gone  # blocks until the response is over or the client left
            return {"type": "http.disconnect"}
        if self.remaining == 0:
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        reply: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.inbox.put(("read", reply))
        message = await reply
        if not message.get("more_body"):
            self.body_done = True
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if self.finished:
            return
        kind = message["type"]
        if kind == "http.response.body" and message.get("more_body"):
            self.unconsumed += 1
            self.inbox.put(("send", message))
            while self.unconsumed >= WINDOW and not self.finished:
                self.space.clear()
                self.space_waiting = True
                await self.space.wait()
            return
        self.inbox.put(("send", message))

    def end(self) -> None:
        self.finished = True
        if self.gone is not None and not self.gone.done():
            self.gone.set_result(None)
        self.space.set()

    # -- the server's thread --------------------------------------------------------

    def consumed(self) -> None:
        self.unconsumed -= 1
        if self.space_waiting:
            self.space_waiting = False
            self.loop.call_soon_threadsafe(self.space.set)

    def read(self, reply: asyncio.Future[dict[str, Any]]) -> None:
        size = READ_SIZE if self.remaining is None else min(READ_SIZE, self.remaining)
        try:
            data = self.input.read(size) if size else b""
        except Exception:
            logger.exception("reading the request body failed")
            data = b""
            self.remaining = 0
        if self.remaining is not None:
            self.remaining -= len(data)
            more = self.remaining > 0 and bool(data)
        else:
            more = bool(data)
        message = {"type": "http.request", "body": data, "more_body": more}
        self.loop.call_soon_threadsafe(_resolve, reply, message)

    def next_sent(self) -> dict[str, Any] | None:
        """The app's next message (serving body reads meanwhile); ``None`` once it ended."""
        while True:
            item = self.inbox.get()
            if item[0] == "send":
                return item[1]  # type: ignore[no-any-return]
            if item[0] == "read":
                self.read(item[1])
            else:  # ("done", exception or None)
                if item[1] is not None:
                    raise item[1]
                return None


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class ASGIBridge:
    """A WSGI app that serves the ASGI app ``app`` on the process's event-loop thread."""

    def __init__(self, app: Any, name: str | None = None) -> None:
        self.app = app
        self.name = name or repr(app)
        self.lifespan = Lifespan(app, self.name)
        self._started = False
        self._start_lock = threading.Lock()

    def startup(self) -> None:
        """Run the app's lifespan startup in this process; raises ``LifespanFailed``."""
        with self._start_lock:
            if self._started:
                return
            self.lifespan = Lifespan(self.app, self.name)  # a new one in a forked child
            loop_thread.run(self.lifespan.startup(), settings.lifespan_timeout + 5)
            self._started = True

    def close(self) -> None:
        """Run the app's lifespan shutdown (bounded by ``[asgi] lifespan_timeout``).

        From the loop's own thread (a drain timeout firing) it is scheduled there instead.
        """
        if not self._started:
            return
        self._started = False
        if loop_thread.on_loop():
            spawn(self.lifespan.shutdown())
        else:
            loop_thread.run(self.lifespan.shutdown(), settings.lifespan_timeout + 5)

    def drain_later(self, force_close: Callable[[], None]) -> None:
        """Call ``force_close`` after ``[asgi] drain_timeout`` (a retired instance's
        requests have that long to finish before its shutdown runs anyway)."""
        loop = loop_thread.loop
        loop.call_soon_threadsafe(loop.call_later, settings.drain_timeout, force_close)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            start_response(
                "501 Not Implemented",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(WEBSOCKET_BODY)))],
            )
            return [WEBSOCKET_BODY]
        if not self._started:
            self.startup()
        loop = loop_thread.loop
        exchange = _Exchange(environ, loop)
        scope = build_scope(environ, dict(self.lifespan.state))
        asyncio.run_coroutine_threadsafe(self._run(scope, exchange), loop)
        try:
            start = exchange.next_sent()
        except Exception:
            logger.exception("the ASGI app failed before its response started")
            start = None
        if start is None or start["type"] != "http.response.start":
            if start is not None:
                logger.error("the ASGI app sent %r before http.response.start", start["type"])
            loop.call_soon_threadsafe(exchange.end)
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(_ERROR_BODY)))],
            )
            return [_ERROR_BODY]
        status = start["status"]
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", ())]
        start_response(f"{status} {_reason(status)}", headers)
        return _ResponseBody(exchange)

    async def _run(self, scope: dict[str, Any], exchange: _Exchange) -> None:
        failure: BaseException | None = None
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BaseException as exc:
            failure = exc
        finally:
            exchange.end()
            exchange.inbox.put(("done", failure))

    def __repr__(self) -> str:
        return f"as_wsgi({self.app!r})"


class _ResponseBody:
    """The WSGI body: yields what the app sends; ``close()`` early tells it the client left."""

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange
        self._over = False

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        while not self._over:
            message = exchange.next_sent()
            if message is None:
                self._over = True
                return
            if message["type"] != "http.response.body":
                continue
            more = message.get("more_body", False)
            if more:
                exchange.consumed()
            body = message.get("body", b"")
            if not more:
                self._over = True
            if body:
                yield body

    def close(self) -> None:
        if not self._over:
            self._over = True
            self._exchange.loop.call_soon_threadsafe(self._exchange.end)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
