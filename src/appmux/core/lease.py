"""An app created for one key, leased to the requests it serves, closed safely once retired.

An app with a ``close()`` method may be retired (evicted, idle, invalidated)
while it still serves requests, streaming responses included. A
:class:`Lease` counts those requests and calls ``close()`` only once the app
is retired *and* idle. Apps without ``close()`` are not tracked: serving them
costs nothing extra.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Lease", "Limit"]

logger = logging.getLogger("appmux")


class Limit:
    """At most ``size`` requests at once; one over it waits up to ``timeout`` seconds."""

    __slots__ = ("size", "timeout", "_slots")

    def __init__(self, size: int, timeout: float = 0.0) -> None:
        self.size = size
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(size)

    def acquire(self, wait: bool = True) -> bool:
        """Take a slot: at once, or within ``timeout`` when ``wait``; False if none came."""
        if wait and self.timeout > 0:
            return self._slots.acquire(timeout=self.timeout)
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        """Give a slot back."""
        self._slots.release()


class Lease:
    """One key's app and the requests in flight on it."""

    __slots__ = (
        "key",
        "app",
        "answer",
        "tracked",
        "retired",
        "closed",
        "limit",
        "_close",
        "_lock",
        "_active",
    )

    def __init__(self, key: str, app: Any, *, answer: bool = False) -> None:
        close = getattr(app, "close", None)
        self.key = key
        self.app = app
        #: True when the factory answered (``NotFound()``) rather than built an
        #: app: the pool keeps it as a negative entry, and it is never tracked.
        self.answer = answer
        self._close: Callable[[], object] | None = close if callable(close) and not answer else None
        #: Whether requests must :meth:`enter` and :meth:`leave` (the app has ``close()``).
        self.tracked = self._close is not None
        #: True once retired: the lease takes no new requests.
        self.retired = False
        #: True once ``close()`` was called (it is called at most once).
        self.closed = False
        #: The cap on requests in flight (``max_concurrency``), if any.
        self.limit: Limit | None = None
        self._lock = threading.Lock()
        self._active = 0

    def limit_to(self, limit: Limit) -> None:
        """Cap the requests in flight: every request then enters and leaves."""
        self.limit = limit
        self.tracked = True

    def enter(self) -> bool:
        """Count one more request in flight; False once the lease is retired."""
        with self._lock:
            if self.retired:
                return False
            self._active += 1
            return True

    def leave(self) -> None:
        """Count one request finished (its slot freed); close the app if it was the last one."""
        with self._lock:
            self._active -= 1
            close_now = self.retired and self._active == 0
        if self.limit is not None:
            self.limit.release()
        if close_now:
            self._close_app()

    def retire(self) -> None:
        """Take the lease out of service; close the app once it is idle."""
        with self._lock:
            if self.retired:
                return
            self.retired = True
            close_now = self._active == 0
        if close_now:
            self._close_app()

    @property
    def active(self) -> int:
        """Requests (and websockets) in flight on the app."""
        return self._active

    def force_close(self) -> None:
        """Close a retired app now, in flight or not (a drain timeout ran out)."""
        if self.retired:
            self._close_app()

    def _close_app(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        if self._close is None:
            return
        try:
            self._close()
        except Exception:
            logger.exception("closing the app for %r failed", self.key)
