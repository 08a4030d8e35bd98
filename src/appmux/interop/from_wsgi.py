"""A WSGI app under an ASGI server: :class:`WSGIBridge`, what ``as_asgi(wsgi_app)`` returns.

The app runs in the process's one shared thread pool. The request body streams
into ``wsgi.input`` as the app reads it (nothing is read ahead, so the
server's flow control holds the client back); a body without
``Content-Length`` arrives whole, and ``wsgi.input_terminated`` is set. The
response streams out as the app yields it, with at most :data:`WINDOW` chunks
waiting for a slow client. A client that leaves stops the iteration at the
next chunk: the iterable's ``close()`` runs once and the thread is free.
An exception before the response starts is a ``500`` whose body names nothing;
the traceback goes to the ``appmux`` logger.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from .threads import thread_pool

__all__ = ["WINDOW", "WSGIBridge", "build_environ"]

logger = logging.getLogger("appmux")

#: Response chunks that may wait for a slow client before the app's thread blocks.
WINDOW = 4

_ERROR_BODY = b"Internal Server Error\n"
_END = object()


def build_environ(scope: dict[str, Any], body: Any) -> dict[str, Any]:
    """The PEP 3333 environ of an HTTP scope: ``SCRIPT_NAME`` is ``root_path``,
    ``PATH_INFO`` the rest of ``path`` (both as WSGI's latin-1 strings)."""
    root = scope.get("root_path", "")
    path = scope["path"]
    rest = path[len(root) :] if root and path.startswith(root) else path
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root.encode("utf-8").decode("latin-1"),
        "PATH_INFO": rest.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]) if server[1] is not None else "80",
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if "_" in name:
            continue  # X_Forwarded_For would pass for X-Forwarded-For: dropped, as gunicorn does
        lower = name.lower()
        if lower == "content-type":
            key = "CONTENT_TYPE"
        elif lower == "content-length":
            key = "CONTENT_LENGTH"
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    tenant = scope.get("appmux.tenant")
    if tenant is not None:
        environ["appmux.tenant"] = tenant
    return environ


class _Body(io.RawIOBase):
    """``wsgi.input``: reads the ASGI request body from the app's thread, on demand."""

    def __init__(self, exchange: _Exchange, first: bytes, more: bool) -> None:
        self._exchange = exchange
        self._buffer = bytearray(first)
        self._more = more

    def readable(self) -> bool:
        return True

    def _fill(self, wanted: int) -> None:
        while self._more and (wanted < 0 or len(self._buffer) < wanted):
            chunk, self._more = self._exchange.receive_body()
            self._buffer += chunk
        if not self._more:
            self._exchange.body_done = True

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        self._fill(size)
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
            return data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 or not self._more or (0 <= size <= len(self._buffer)):
                break
            self._fill(len(self._buffer) + 1)
        stop = len(self._buffer) if end < 0 else end + 1
        if size >= 0:
            stop = min(stop, size)
        data = bytes(self._buffer[:stop])
        del self._buffer[:stop]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __iter__(self) -> Any:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class _Exchange:
    """One request between the event loop and the app's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Any) -> None:
        self.loop = loop
        self.receive = receive
        self.outbox: deque[Any] = deque()
        self.wake = asyncio.Event()
        self.waiting = False
        self.window = threading.Semaphore(WINDOW)
        self.gone = False
        self.body_done = False
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.started = False

    # -- the app's thread -----------------------------------------------------------

    def receive_body(self) -> tuple[bytes, bool]:
        if self.gone:
            return b"", False
        message = asyncio.run_coroutine_threadsafe(self.receive(), self.loop).result()
        if message["type"] == "http.disconnect":
            self.gone = True
            return b"", False
        return message.get("body", b""), message.get("more_body", False)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called twice without exc_info")
        self.status, self.headers = status, headers
        return self._write

    def _write(self, data: bytes) -> None:
        self._emit_body(data)

    def _post(self, *items: Any) -> None:
        self.outbox.extend(items)
        if self.waiting:  # wake the loop only when it waits: one wake-up per batch
            self.waiting = False
            self.loop.call_soon_threadsafe(self.wake.set)

    def _start_message(self) -> dict[str, Any]:
        if self.status is None:
            raise AssertionError("the WSGI app sent a body before calling start_response()")
        self.started = True
        code = int(self.status.split(" ", 1)[0])
        headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in self.headers]
        return {"type": "http.response.start", "status": code, "headers": headers}

    def _emit_body(self, data: bytes) -> None:
        if not data:
            return
        self.window.acquire()
        if self.started:
            self._post(data)
        else:  # the headers go with the first chunk (PEP 3333), in one batch
            self._post(self._start_message(), data)

    def run(self, app: Any, environ: dict[str, Any]) -> None:
        """Call the app and iterate its body (in the shared pool's thread)."""
        body: Iterable[bytes] | None = None
        last: tuple[Any, ...] = ()  # posted with the end: one wake-up for a whole response
        try:
            body = app(environ, self.start_response)
            if type(body) is list or type(body) is tuple:  # complete already: no streaming
                chunks = [chunk for chunk in body if chunk]
                last = (self._start_message(), *chunks) if not self.started else tuple(chunks)
            else:
                for chunk in body:
                    if self.gone:
                        break
                    if chunk:
                        self._emit_body(chunk)
                        if self.gone:
                            break
                if not self.started and not self.gone:
                    last = (self._start_message(),)
        except BaseException as exc:
            if self.started:
                last = (exc,)
            else:
                logger.exception("the WSGI app failed before its response started")
                self.status = "500 Internal Server Error"
                self.headers = [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_ERROR_BODY))),
                ]
                last = (self._start_message(), _ERROR_BODY)
        finally:
            try:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
            except Exception:
                logger.exception("close() of a WSGI response failed")
            finally:
                self._post(*last, _END)

    # -- the loop -------------------------------------------------------------------

    async def pump(self, send: Any) -> None:
        """Send what the thread posts until it is done (its end marker: the app's body
        is closed); watch for the client leaving. Returns only once the thread is done."""
        outbox, window = self.outbox, self.window
        watcher: asyncio.Task[None] | None = None
        failure: BaseException | None = None
        try:
            while True:
                while outbox:
                    item = outbox.popleft()
                    if item is _END:
                        if failure is not None:
                            raise failure
                        if not self.gone:
                            await send({"type": "http.response.body", "body": b""})
                        return
                    try:
                        if isinstance(item, BaseException):
                            raise item
                        if self.gone:
                            pass
                        elif type(item) is dict:
                            await send(item)
                        else:
                            await send(
                                {"type": "http.response.body", "body": item, "more_body": True}
                            )
                    except BaseException as exc:  # the thread still runs: stop it, wait for it
                        failure = failure or exc
                        self.stop()
                    if type(item) is bytes:
                        window.release()
                if watcher is None and self.body_done and failure is None:
                    watcher = asyncio.ensure_future(self._watch())
                self.wake.clear()
                self.waiting = True
                if outbox:
                    self.waiting = False
                    continue
                await self.wake.wait()
        finally:
            if watcher is not None:
                watcher.cancel()

    def stop(self) -> None:
        """The client left: the thread stops at its next chunk (a full window wakes it)."""
        self.gone = True
        for _ in range(WINDOW):
            self.window.release()

    async def _watch(self) -> None:
        # After the body, the next message is http.disconnect (a server that sends
        # anything else is not watched further).
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.stop()


class WSGIBridge:
    """An ASGI app that serves the WSGI app ``app`` from the shared thread pool."""

    def __init__(self, app: Any) -> None:
        self.app = app
        close = getattr(app, "close", None)
        if callable(close):
            self.close = close

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1003, "reason": "not a websocket app"})
        elif kind == "lifespan":  # a WSGI app has nothing to start
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:
            raise ValueError(f"a WSGI app cannot serve an ASGI {kind!r} scope")

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        first = await receive()
        if first["type"] == "http.disconnect":
            return
        exchange = _Exchange(asyncio.get_running_loop(), receive)
        more = first.get("more_body", False)
        if more:
            body: Any = _Body(exchange, first.get("body", b""), True)
        else:
            body = io.BytesIO(first.get("body", b""))
            exchange.body_done = True
        environ = build_environ(scope, body)
        context = contextvars.copy_context()
        # Submitted as is: the thread's end marker says it is done, so no future
        # needs resolving on the loop (one wake-up less per request).
        thread_pool().submit(context.run, exchange.run, self.app, environ)
        try:
            await exchange.pump(send)
        except asyncio.CancelledError:  # the server gave up on the request (its shutdown)
            exchange.stop()
            raise

    def __repr__(self) -> str:
        return f"as_asgi({self.app!r})"
