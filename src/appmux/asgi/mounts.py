"""Prefix dispatch, the ASGI form of :class:`appmux.DispatcherMiddleware`.

The same :class:`~appmux.core.prefixes.PrefixTable` decides: the longest
mount prefix on a segment boundary of the path below ``root_path``. The
prefix is appended to ``root_path``; ``path`` stays whole. Mounted apps may be
ASGI or WSGI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ..core.prefixes import PrefixTable
from .nodes import Node, static_app
from .types import Receive, Scope, Send

__all__ = ["DispatcherMiddleware"]


class DispatcherMiddleware(Node):
    """Combine apps by path prefix.

    :param app: the app for requests no mount matches.
    :param mounts: maps path prefixes (``"/api"``) to apps (ASGI or WSGI).
    """

    def __init__(self, app: Any, mounts: Mapping[str, Any] | None = None) -> None:
        if not callable(app):
            raise TypeError(f"app must be an ASGI or WSGI application, not {app!r}")
        self.app = static_app(app, "the default app")
        wrapped = {
            prefix: static_app(mounted, f"the app mounted at {prefix!r}")
            for prefix, mounted in dict(mounts or {}).items()
        }
        self._table = PrefixTable(wrapped)
        self._match = self._table.match

    @property
    def mounts(self) -> Mapping[str, Any]:
        """The mounts by normalized prefix (read-only)."""
        return MappingProxyType({prefix: self._table[prefix] for prefix in self._table})

    def _static_apps(self) -> Iterable[Any]:
        yield self.app
        for prefix in self._table:
            yield self._table[prefix]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        rest = path[len(root) :] if root and path.startswith(root) else path
        found = self._match(rest)
        if found is None:
            await self.app(scope, receive, send)
            return
        end, app = found
        scope["root_path"] = root + rest[:end]
        await app(scope, receive, send)
