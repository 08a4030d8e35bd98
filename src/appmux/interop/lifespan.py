"""Driving an ASGI app's lifespan protocol ourselves: one :class:`Lifespan` per app instance.

Each instance gets its own ``state`` dict (the lifespan scope's, copied into
each of its requests' scopes), so no two apps, tenants or parents share one.
An app that raises on the lifespan scope before asking for any message (as
Django's ``ASGIHandler`` does) has declined it and is served without one; an
app that sends ``lifespan.startup.failed``, raises after receiving the startup
event, or takes longer than the timeout, has failed: :class:`LifespanFailed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ..core.pool import summarize_exception
from .settings import settings

__all__ = ["Lifespan", "LifespanFailed", "spawn"]

logger = logging.getLogger("appmux")

# Tasks started with spawn(), held until done (the loop keeps only weak references).
_tasks: set[asyncio.Task[None]] = set()


def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` as a task of the running loop, kept alive until it ends."""
    task = asyncio.ensure_future(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class LifespanFailed(Exception):
    """An app's lifespan startup failed: ``name`` says which app, the message why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: lifespan startup failed: {reason}")
        self.name = name
        self.reason = reason


class Lifespan:
    """The lifespan of one ASGI app instance, run on the loop that serves it."""

    def __init__(self, app: Any, name: str, timeout: Callable[[], float] | None = None) -> None:
        self.app = app
        self.name = name
        #: The instance's own state: the lifespan scope's ``state``.
        self.state: dict[str, Any] = {}
        #: ``None`` until startup ran; then whether the app speaks lifespan.
        self.supported: bool | None = None
        self._timeout = timeout or (lambda: settings.lifespan_timeout)
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._events: asyncio.Queue[tuple[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._received = False
        self.stopped = False

    async def startup(self) -> None:
        """Run the app's startup; raises :class:`LifespanFailed`."""
        self._inbox, self._events = asyncio.Queue(), asyncio.Queue()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.ensure_future(self._run(scope))
        await self._inbox.put({"type": "lifespan.startup"})
        kind, detail = await self._next_event("startup")
        if kind == "lifespan.startup.complete":
            self.supported = True
            return
        if kind in ("raised", "returned") and not self._received:
            # Declined before asking for any message: served without a lifespan.
            self.supported = False
            logger.debug("%s declines the lifespan protocol (%s)", self.name, detail)
            return
        self.supported = False
        if kind == "lifespan.startup.failed":
            # Starlette sends the whole traceback: its last line names the error.
            lines = [line for line in str(detail or "").splitlines() if line.strip()]
            raise LifespanFailed(self.name, lines[-1].strip() if lines else kind)
        raise LifespanFailed(self.name, str(detail))

    async def shutdown(self) -> None:
        """Run the app's shutdown (once; bounded by the timeout); failures are logged."""
        if self.stopped:
            return
        self.stopped = True
        if not self.supported or self._inbox is None:
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            kind, detail = await self._next_event("shutdown")
        except LifespanFailed as failure:
            logger.error("%s: lifespan shutdown failed: %s", self.name, failure.reason)
            return
        if kind != "lifespan.shutdown.complete":
            logger.error("%s: lifespan shutdown failed: %s", self.name, detail or kind)

    async def _next_event(self, phase: str) -> tuple[str, Any]:
        assert self._events is not None and self._task is not None
        timeout = self._timeout()
        try:
            return await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            self._task.cancel()
            raise LifespanFailed(
                self.name, f"{phase} did not complete within {timeout:g} s"
            ) from None

    async def _run(self, scope: dict[str, Any]) -> None:
        assert self._events is not None
        events = self._events
        try:
            await self.app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await events.put(("raised", summarize_exception(exc)))
        else:
            await events.put(("returned", "the app returned from its lifespan"))

    async def _receive(self) -> dict[str, Any]:
        assert self._inbox is not None
        self._received = True
        return await self._inbox.get()

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._events is not None
        await self._events.put((message["type"], message.get("message", "")))
