"""Move a legacy app over route by route: :class:`Cascade` and :class:`KeepPrefix`.

::

    from appmux import Cascade, DispatcherMiddleware
    # Flask owns /reports/*; everything else still reaches the Django project.
    application = DispatcherMiddleware(frontend, {
        "/app": Cascade([reports_flask_app, legacy_django_app]),
    })

A :class:`Cascade` tries its apps in order (``paste.cascade``, ``Rack::Cascade``):
a ``404`` or ``405`` (with ``cascade_on="marker"``, only a 404 with
``X-Cascade: pass``) passes the request to the next app, and the last app's
answer stands. The request body is buffered (up to ``body_limit`` bytes) so
every app reads it whole; a larger body goes to the first app only. A passed
app's response body is closed, never sent; once a response has started, it is
final.

:class:`KeepPrefix` undoes a mount's prefix shift for an app whose own routes
already include the prefix (``strip_prefix = false`` in ``appmux.toml``).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from ..core.cascade import BODY_LIMIT, check_cascade, passes
from ..interop import as_wsgi
from .types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["Cascade", "KeepPrefix"]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | None


class Cascade:
    """Try ``apps`` in order; a 404 or 405 (or the ``X-Cascade: pass`` marker) passes on."""

    def __init__(
        self,
        apps: Sequence[WSGIApplication],
        *,
        cascade_on: str = "status",
        body_limit: int = BODY_LIMIT,
    ) -> None:
        check_cascade(len(apps), cascade_on, body_limit)
        self.apps: list[WSGIApplication] = [
            as_wsgi(app, f"cascade app {i}") for i, app in enumerate(apps)
        ]
        self.cascade_on = cascade_on
        self.body_limit = body_limit

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        body = _buffer(environ, self.body_limit)
        apps = self.apps if body is not None else self.apps[:1]
        for app in apps[:-1]:
            attempt = dict(environ)
            attempt["wsgi.input"] = io.BytesIO(body or b"")
            answered = _Attempt(app, attempt)
            if answered.status is not None and passes(
                answered.status, answered.headers, self.cascade_on
            ):
                answered.discard()
                continue
            return answered.forward(start_response)
        last = dict(environ) if body is not None else environ
        if body is not None:
            last["wsgi.input"] = io.BytesIO(body)
        return apps[-1](last, start_response)


def _buffer(environ: Environ, limit: int) -> bytes | None:
    """The whole request body, or ``None`` if it is larger than ``limit``."""
    length = environ.get("CONTENT_LENGTH", "")
    stream = environ.get("wsgi.input")
    if length:
        try:
            size = int(length)
        except ValueError:
            size = 0
        if size > limit:
            return None
        return stream.read(size) if stream is not None and size > 0 else b""
    if stream is None or not environ.get("wsgi.input_terminated"):
        return b""  # no length and no terminated stream: no body (PEP 3333)
    data = stream.read(limit + 1)
    if len(data) > limit:  # too large to replay: the first app reads it all, from the start
        environ["wsgi.input"] = _Chained(data, stream)
        return None
    return bytes(data)


class _Chained:
    """A request body stream that gives ``head`` (already read) before the rest."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = io.BytesIO(head)
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        data = self._head.read(size)
        if size is None or size < 0:
            return data + bytes(self._rest.read())
        if len(data) < size:
            data += self._rest.read(size - len(data))
        return data

    def readline(self, size: int = -1) -> bytes:
        line = self._head.readline(size)
        if line.endswith(b"\n") or (size is not None and 0 <= size == len(line)):
            return line
        more = size - len(line) if size is not None and size >= 0 else -1
        return line + bytes(self._rest.readline(more))

    def readlines(self, hint: int = -1) -> list[bytes]:
        return io.BytesIO(self.read()).readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _Attempt:
    """One app's answer, held back until the cascade knows whether it passes."""

    def __init__(self, app: WSGIApplication, environ: Environ) -> None:
        self.status: int | None = None
        self.status_line = ""
        self.headers: list[tuple[str, str]] = []
        self.exc_info: _ExcInfo = None
        self.written: list[bytes] = []
        self.body: ResponseBody = app(environ, self._start_response)  # type: ignore[arg-type]
        self.first: list[bytes] = []
        if self.status is None:  # a generator calls start_response on its first step
            iterator = iter(self.body)
            for chunk in iterator:
                self.first.append(chunk)
                if self.status is not None:
                    break
            self._rest: Iterator[bytes] = iterator
        else:
            self._rest = iter(())

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo = None
    ) -> Any:
        self.status_line, self.headers, self.exc_info = status, headers, exc_info
        self.status = int(status.split(None, 1)[0])
        return self.written.append

    def discard(self) -> None:
        """Close the passed response without sending a byte of it."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()

    def forward(self, start_response: StartResponse) -> ResponseBody:
        """Send this answer: its status and headers now, then its body."""
        write = start_response(self.status_line, self.headers, self.exc_info)
        for chunk in self.written:  # the legacy write() calls, in order
            write(chunk)
        if not self.first:
            return self.body
        return _Resumed(self.first, self._rest, self.body)


class _Resumed:
    """A body whose first chunks were read to see its status: they go first."""

    def __init__(self, first: list[bytes], rest: Iterator[bytes], body: ResponseBody) -> None:
        self._first = first
        self._rest = rest
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        yield from self._first
        yield from self._rest

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


class KeepPrefix:
    """Give ``app`` the whole path: undo the shift of ``prefix`` to ``SCRIPT_NAME``."""

    def __init__(self, app: WSGIApplication, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        script = environ.get("SCRIPT_NAME", "")
        cut = len(self.prefix)
        if cut and len(script) >= cut:
            environ["SCRIPT_NAME"] = script[:-cut]
            environ["PATH_INFO"] = script[-cut:] + environ.get("PATH_INFO", "")
        return self.app(environ, start_response)
