"""Prefix dispatch: a drop-in for werkzeug's ``DispatcherMiddleware``.

::

    from appmux import DispatcherMiddleware
    application = DispatcherMiddleware(frontend, {"/backend": backend})

The longest mount prefix wins, on segment boundaries only (``/api`` matches
``/api`` and ``/api/x``, never ``/apix``). The prefix is appended to
``SCRIPT_NAME`` and ``PATH_INFO`` becomes the rest. A mounted ASGI app is served
through :func:`appmux.interop.as_wsgi`. Unlike werkzeug's version,
a lookup inspects the path only as deep as the deepest mount, so long request
paths cost no more than short ones. Requests that match no mount reach ``app``
with the environ untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..core.prefixes import PrefixTable
from ..interop import as_wsgi
from .types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["DispatcherMiddleware"]


class DispatcherMiddleware:
    """Combine WSGI apps by path prefix.

    :param app: the app for requests no mount matches.
    :param mounts: maps path prefixes (``"/backend"``) to WSGI apps. Trailing
        slashes are ignored; the root prefix is ``app``'s place and refused here.
    """

    def __init__(
        self, app: WSGIApplication, mounts: Mapping[str, WSGIApplication] | None = None
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application, not {app!r}")
        mounts = dict(mounts or {})
        for prefix, mounted in mounts.items():
            if not callable(mounted):
                raise TypeError(f"the app mounted at {prefix!r} is not callable: {mounted!r}")
            mounts[prefix] = as_wsgi(mounted, f"the app mounted at {prefix!r}")
        self.app = as_wsgi(app, "the default app")
        self._table = PrefixTable(mounts)
        self._match = self._table.match

    @property
    def mounts(self) -> Mapping[str, WSGIApplication]:
        """The mounts by normalized prefix (read-only: mounts are compiled once)."""
        return MappingProxyType({prefix: self._table[prefix] for prefix in self._table})

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        path = environ.get("PATH_INFO", "")
        found = self._match(path)
        if found is None:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        end, app = found
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + path[:end]
        environ["PATH_INFO"] = path[end:]
        return app(environ, start_response)
