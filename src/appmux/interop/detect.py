"""Telling ASGI apps from WSGI apps, and declaring one where detection cannot tell."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["ASGIApp", "WSGIApp", "declared", "is_asgi"]


def is_asgi(app: object) -> bool:
    """Whether ``app`` is an ASGI app: an ``async def`` callable, or an object whose
    ``__call__`` is one. Anything else callable is taken for a WSGI app."""
    if inspect.iscoroutinefunction(app):
        return True
    call = type(app).__dict__.get("__call__") or getattr(type(app), "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)


class ASGIApp:
    """An app declared ASGI (``interface = "asgi"``) that detection would miss."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


class WSGIApp:
    """An app declared WSGI (``interface = "wsgi"``) whose ``__call__`` looks async."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


def declared(app: Any, interface: str | None) -> Any:
    """``app`` as the ``interface`` (``"asgi"``, ``"wsgi"`` or ``None``: detect) says it is."""
    if interface is None or (interface == "asgi") == is_asgi(app):
        return app
    if interface == "asgi":
        return ASGIApp(app)
    if interface == "wsgi":
        return WSGIApp(app)
    raise ValueError(f"interface must be 'asgi' or 'wsgi', not {interface!r}")
