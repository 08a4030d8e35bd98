"""A cap on one static app's requests in flight, the ASGI form of
:class:`appmux.ConcurrencyLimit` (same arguments and answers).

A request or websocket over the cap waits up to ``queue_timeout`` seconds on
the event loop for a slot, then gets ``503`` with ``Retry-After: 1`` (a
websocket is refused before accept). The slot is held until the app returns.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..core.pool import PoolOptions
from ..core.router import BUSY
from ..core.routing import Answer
from .answers import send_answer
from .nodes import Node, static_app
from .types import Receive, Scope, Send

__all__ = ["ConcurrencyLimit"]


class ConcurrencyLimit(Node):
    """Serve ``app`` with at most ``max_concurrency`` requests in flight in this process.

    A :class:`~appmux.asgi.Node`: the server's lifespan reaches the app below it.
    """

    def __init__(self, app: Any, max_concurrency: int, *, queue_timeout: float = 0.0) -> None:
        # The pool options' own checks: the same rules and words as for tenants.
        PoolOptions(max_concurrency=max_concurrency, queue_timeout=queue_timeout)
        self.app = static_app(app, "the limited app")
        self.max_concurrency = max_concurrency
        self.queue_timeout = float(queue_timeout)
        #: Requests refused at the cap.
        self.rejections = 0
        self._in_flight = 0
        self._freed: asyncio.Condition | None = None
        self._busy = Answer(503, BUSY, retry_after=1)

    def _static_apps(self) -> Any:
        yield self.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(scope, receive, send)
            return
        if self._in_flight >= self.max_concurrency and not await self._wait():
            self.rejections += 1
            await send_answer(self._busy, scope, receive, send)
            return
        self._in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight -= 1
            if self._freed is not None:
                async with self._freed:
                    self._freed.notify()

    async def _wait(self) -> bool:
        """Wait up to ``queue_timeout`` for a slot (all on the one event loop)."""
        if self.queue_timeout <= 0:
            return False
        if self._freed is None:
            self._freed = asyncio.Condition()
        try:
            async with self._freed:
                await asyncio.wait_for(
                    self._freed.wait_for(lambda: self._in_flight < self.max_concurrency),
                    self.queue_timeout,
                )
        except TimeoutError:
            return False
        return True
