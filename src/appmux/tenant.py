"""One tenant's app, with the in-flight tracking that safe closing needs.

An app with a ``close()`` method may be evicted while it still serves requests
(including responses that are still streaming). :class:`Tenant` counts those
requests and calls ``close()`` only once the app is retired *and* idle. Apps
without ``close()`` are called directly: tracking costs them nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from werkzeug.exceptions import HTTPException

from .types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["ReleasingBody", "Tenant"]

logger = logging.getLogger("appmux")


class Tenant:
    """A WSGI app created for one key, closed safely after eviction."""

    __slots__ = ("key", "app", "answer", "close", "retired", "_lock", "_active")

    def __init__(self, key: str, app: WSGIApplication) -> None:
        close = getattr(app, "close", None)
        self.key = key
        self.app = app
        #: True when the factory answered with an HTTP error (``NotFound()``)
        #: rather than an app: the pool keeps it as a negative entry.
        self.answer = isinstance(app, HTTPException)
        #: The app's ``close`` method, or ``None`` when there is nothing to close.
        self.close: Callable[[], object] | None = close if callable(close) else None
        #: True once evicted: the tenant serves no new requests.
        self.retired = False
        self._lock = threading.Lock()
        self._active = 0

    def enter(self) -> bool:
        """Count one more request in flight; False once the tenant is retired."""
        with self._lock:
            if self.retired:
                return False
            self._active += 1
            return True

    def leave(self) -> None:
        """Count one request finished; close the app if it was the last one."""
        with self._lock:
            self._active -= 1
            close_now = self.retired and self._active == 0
        if close_now:
            self._close()

    def retire(self) -> None:
        """Take the tenant out of service; close the app once it is idle."""
        with self._lock:
            if self.retired:
                return
            self.retired = True
            close_now = self._active == 0
        if close_now:
            self._close()

    def _close(self) -> None:
        if self.close is None:
            return
        try:
            self.close()
        except Exception:
            logger.exception("closing the app for %r failed", self.key)

    def serve(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        """Call the app for a request already counted by :meth:`enter`."""
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.leave()
            raise
        return ReleasingBody(body, self.leave)


class ReleasingBody:
    """A response body that calls ``release`` once, after the body's own ``close``."""

    __slots__ = ("_body", "_release")

    def __init__(self, body: ResponseBody, release: Callable[[], None]) -> None:
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        release, self._release = self._release, None
        if release is None:
            return
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release()
