"""Static dispatch by host name, the ASGI form of :class:`appmux.HostDispatcher`.

The same host parsing, :class:`~appmux.core.hosts.HostTable` and memo: exact
names beat one-label wildcards, a malformed ``Host`` gets ``400`` (a websocket
is refused), an unknown one goes to ``default_app`` or gets a 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.exceptions import BadRequest, NotFound

from ..core.hosts import HostMemo, HostTable, parse_host
from .answers import ExceptionApp
from .nodes import Node, static_app
from .scope import request_host
from .types import Receive, Scope, Send

__all__ = ["HostDispatcher"]

_MALFORMED = ExceptionApp(BadRequest("The Host header is not a valid host name."))


class HostDispatcher(Node):
    """Route requests to apps (ASGI or WSGI) by exact or wildcard host name."""

    def __init__(self, hosts: Mapping[str, Any], default_app: Any | None = None) -> None:
        wrapped = {
            pattern: static_app(app, f"the app for host {pattern!r}")
            for pattern, app in hosts.items()
        }
        self._table: HostTable[Any] = HostTable(wrapped)
        self._apps = list(wrapped.values())
        if default_app is not None and not callable(default_app):
            raise TypeError(f"default_app must be an ASGI or WSGI app, not {default_app!r}")
        self.default_app = static_app(default_app or NotFound(), "the default app")
        limit = 4096 + 2 * len(self._table)
        self._memo: HostMemo[Any] = HostMemo(self._resolve, limit)

    def _resolve(self, raw: str) -> Any:
        host = parse_host(raw)
        if host is None:
            return _MALFORMED
        app = self._table.lookup(host)
        return self.default_app if app is None else app

    def _static_apps(self) -> Iterable[Any]:
        yield from self._apps
        yield self.default_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(scope, receive, send)
            return
        await self._memo(request_host(scope))(scope, receive, send)
