"""Route-by-route migration, the ASGI forms of :mod:`appmux.wsgi.cascade`.

:class:`Cascade` takes the same arguments and passes on the same answers as
the WSGI form: the request body is read once (up to ``body_limit`` bytes) and
replayed to each app; a passed app's response is swallowed, never sent; the
first response that does not pass is forwarded as it comes. A websocket goes
to the first app. :class:`KeepPrefix` gives an app its mount's prefix back
(``root_path`` shortened; ``path`` is whole anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.cascade import BODY_LIMIT, check_cascade, passes
from .nodes import Node, static_app
from .types import Message, Receive, Scope, Send

__all__ = ["Cascade", "KeepPrefix"]


class Cascade(Node):
    """Try ``apps`` in order; a 404 or 405 (or the ``X-Cascade: pass`` marker) passes on."""

    def __init__(
        self, apps: Sequence[Any], *, cascade_on: str = "status", body_limit: int = BODY_LIMIT
    ) -> None:
        check_cascade(len(apps), cascade_on, body_limit)
        self.apps = [static_app(app, f"cascade app {i}") for i, app in enumerate(apps)]
        self.cascade_on = cascade_on
        self.body_limit = body_limit

    def _static_apps(self) -> Any:
        yield from self.apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.apps[0](scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                chunks = []  # gone before its body arrived: the first app sees that
                pending = [message]
                await self.apps[0](scope, _replaying(pending, receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.body_limit:  # too large to replay: the first app only, in full
                pending = [
                    {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
                ]
                pending[-1]["more_body"] = message.get("more_body", False)
                await self.apps[0](scope, _replaying(pending, receive), send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        for app in self.apps[:-1]:
            if await self._answered(app, scope, body, receive, send):
                return
        await self.apps[-1](dict(scope), _replaying(_whole(body), receive), send)

    async def _answered(
        self, app: Any, scope: Scope, body: bytes, receive: Receive, send: Send
    ) -> bool:
        """Run one app; forward its answer unless it passes. True if it was forwarded."""
        passed: list[bool] = []

        async def held_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name.decode("latin-1"), value.decode("latin-1"))
                    for name, value in message.get("headers", [])
                ]
                passed.append(passes(message["status"], headers, self.cascade_on))
            if passed and passed[0]:
                return  # a passed response: swallowed, never sent
            await send(message)

        await app(dict(scope), _replaying(_whole(body), receive), held_send)
        return not (passed and passed[0])


def _whole(body: bytes) -> list[Message]:
    return [{"type": "http.request", "body": body, "more_body": False}]


def _replaying(pending: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``pending`` first, then the server's messages."""
    queue = list(pending)

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay


class KeepPrefix(Node):
    """Give ``app`` its mount's prefix back: ``root_path`` loses ``prefix``."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = static_app(app, f"the app at {prefix}")
        self.prefix = prefix.rstrip("/")

    def _static_apps(self) -> Any:
        yield self.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(scope, receive, send)
            return
        root = scope.get("root_path", "")
        if self.prefix and root.endswith(self.prefix):
            scope = {**scope, "root_path": root[: -len(self.prefix)]}
        await self.app(scope, receive, send)
