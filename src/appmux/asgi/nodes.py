"""What every ASGI dispatcher shares: its static apps, their lifespans, the lifespan scope.

A dispatcher's static apps (mounts, hosts, default apps) are wrapped once:
a WSGI app in :class:`~appmux.interop.WSGIBridge`, an ASGI app in
:class:`StaticApp`, which owns that app's :class:`~appmux.interop.Lifespan`
and gives each request a copy of its own ``state``. A :class:`Node` answers
the server's lifespan scope by starting every app below it, in order, and
shutting them down in reverse order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from werkzeug.exceptions import HTTPException

from ..interop import Lifespan, LifespanFailed, WSGIBridge, as_asgi, is_asgi
from .answers import ExceptionApp
from .types import Receive, Scope, Send

__all__ = ["Node", "StaticApp", "static_app"]

logger = logging.getLogger("appmux")


class StaticApp:
    """An ASGI app a dispatcher routes to, with its own lifespan and ``state``."""

    __slots__ = ("app", "name", "lifespan")

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        self.lifespan = Lifespan(app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = self.lifespan.state.copy()
        await self.app(scope, receive, send)

    def __repr__(self) -> str:
        return f"StaticApp({self.name}: {self.app!r})"


def static_app(app: Any, name: str) -> Any:
    """``app`` ready to be routed to by an ASGI dispatcher (WSGI or ASGI, any form)."""
    if isinstance(app, Node | StaticApp | WSGIBridge | ExceptionApp):
        return app
    if isinstance(app, HTTPException):
        return ExceptionApp(app)
    if not callable(app):
        raise TypeError(f"the app for {name} is not callable: {app!r}")
    if is_asgi(app):
        return StaticApp(app, name)
    return as_asgi(app)


class Node:
    """An ASGI dispatcher: starts and stops the apps below it for the server's lifespan."""

    def _static_apps(self) -> Iterable[Any]:
        """The apps this node routes to that live as long as it does, in startup order."""
        return ()

    async def startup(self) -> None:
        """Start every app below this node, in order.

        Raises :class:`~appmux.interop.LifespanFailed`.
        """
        started: list[Any] = []
        for app in self._static_apps():
            try:
                if isinstance(app, StaticApp):
                    await app.lifespan.startup()
                elif isinstance(app, Node):
                    await app.startup()
                else:
                    continue
            except LifespanFailed:
                for done in reversed(started):
                    await (done.shutdown() if isinstance(done, Node) else done.lifespan.shutdown())
                raise
            started.append(app)

    async def shutdown(self) -> None:
        """Shut down every app below this node, in reverse order of startup: first the
        tenant instances (made on demand, after every static app), then the static apps."""
        await self.shutdown_instances()
        await self.shutdown_static()

    async def shutdown_instances(self) -> None:
        """Retire and shut down the lazily made instances below this node."""
        for app in self._static_apps():
            if isinstance(app, Node):
                await app.shutdown_instances()

    async def shutdown_static(self) -> None:
        """Shut down the static apps below this node, in reverse order of startup."""
        for app in reversed(list(self._static_apps())):
            if isinstance(app, StaticApp):
                await app.lifespan.shutdown()
            elif isinstance(app, Node):
                await app.shutdown_static()

    async def serve_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a server's lifespan scope (when this node is the site)."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except LifespanFailed as failure:  # the server logs the message
                    await send({"type": "lifespan.startup.failed", "message": str(failure)})
                    return
                except Exception as exc:
                    logger.exception("the site's lifespan startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return
