"""Static dispatch by host name.

::

    from appmux import HostDispatcher
    application = HostDispatcher(
        {"api.example.com": api, "*.example.com": tenant_site},
        default_app=landing,
    )

Keys are exact host names or one-label wildcards (``*.example.com`` matches
``foo.example.com``, not ``example.com`` nor ``a.b.example.com``). An exact name
beats a wildcard. Hosts are normalized as in :func:`appmux.core.hosts.parse_host`;
a malformed ``Host`` gets ``400 Bad Request``, an unknown one goes to
``default_app`` or gets a 404.
"""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.exceptions import BadRequest, NotFound

from ..core.hosts import HostMemo, HostTable, parse_host
from ..interop import as_wsgi
from .environ import request_host
from .types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["HostDispatcher"]

_MALFORMED = BadRequest("The Host header is not a valid host name.")


class HostDispatcher:
    """Route requests to WSGI apps by exact or wildcard host name."""

    def __init__(
        self,
        hosts: Mapping[str, WSGIApplication],
        default_app: WSGIApplication | None = None,
    ) -> None:
        for pattern, app in hosts.items():
            if not callable(app):
                raise TypeError(f"the app for host {pattern!r} is not callable: {app!r}")
        self._table: HostTable[WSGIApplication] = HostTable(
            {
                pattern: as_wsgi(app, f"the app for host {pattern!r}")
                for pattern, app in hosts.items()
            }
        )
        if default_app is not None and not callable(default_app):
            raise TypeError(f"default_app must be a WSGI app, not {default_app!r}")
        self.default_app: WSGIApplication = as_wsgi(default_app, "the default app") or NotFound()
        # Room for every configured host in a few spellings, bounded all the same.
        limit = 4096 + 2 * len(self._table)
        self._memo: HostMemo[WSGIApplication] = HostMemo(self._resolve, limit)

    def _resolve(self, raw: str) -> WSGIApplication:
        host = parse_host(raw)
        if host is None:
            return _MALFORMED
        app = self._table.lookup(host)
        return self.default_app if app is None else app

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        return self._memo(request_host(environ))(environ, start_response)
