"""WSGI and ASGI apps side by side: telling them apart and serving each under the other.

* :func:`is_asgi` — an ``async def`` callable, or an object whose ``__call__`` is one.
* :func:`as_asgi` — an ASGI app for either kind (an ASGI app unchanged); a WSGI
  app runs in the process's one bounded thread pool (``[asgi] threads``).
* :func:`as_wsgi` — a WSGI app for either kind (a WSGI app unchanged); an ASGI
  app runs on the process's one event-loop thread, its lifespan driven by appmux.
"""

from __future__ import annotations

from typing import Any

from .detect import declared, is_asgi
from .from_asgi import ASGIBridge
from .from_wsgi import WSGIBridge
from .lifespan import Lifespan, LifespanFailed
from .settings import BridgeSettings, settings

__all__ = [
    "ASGIBridge",
    "BridgeSettings",
    "Lifespan",
    "LifespanFailed",
    "WSGIBridge",
    "as_asgi",
    "as_wsgi",
    "declared",
    "is_asgi",
    "settings",
]


def as_asgi(app: Any) -> Any:
    """An ASGI app serving ``app``: ``app`` itself if it is one, else a
    :class:`~appmux.interop.WSGIBridge`."""
    if is_asgi(app):
        return app
    if isinstance(app, ASGIBridge):
        return app.app
    return WSGIBridge(app)


def as_wsgi(app: Any, name: str | None = None) -> Any:
    """A WSGI app serving ``app``: ``app`` itself unless it is ASGI, else an
    :class:`~appmux.interop.ASGIBridge`."""
    if not is_asgi(app):
        return app
    if isinstance(app, WSGIBridge):
        return app.app
    return ASGIBridge(app, name)
