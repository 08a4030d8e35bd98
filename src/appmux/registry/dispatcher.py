"""The WSGI app that serves tenants from the registry: :class:`TenantDispatcher`.

::

    from appmux import Registry, TenantDispatcher

    def create_app(record):
        app = make_flask_app()
        app.config.update(record.config)
        return app

    application = TenantDispatcher(
        Registry("sqlite:///tenants.db"), create_app, base_domains=["example.com"]
    )

A request's host is normalized as everywhere in appmux, then resolved against
the process's current snapshot: a custom domain (exact, then ``*.`` wildcard),
else ``<key>.<base domain>``, else ``400``. An unknown key is a ``404`` (or
``unknown_tenant_app``); a suspended tenant gets ``suspended_status`` and an
archived one ``410``; a redirecting domain a ``308`` to the primary host. An
active tenant's app is built by ``create_app(record)`` once per tenant key,
whichever host reached it, and sees ``environ["appmux.tenant"]``.

No request queries the registry: a background refresher swaps in a new
snapshot when the registry's revision moves, and retires the apps of tenants
whose status, config or rev changed (each is closed once its in-flight
requests finish, and rebuilt on its next request).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from urllib.parse import quote

from werkzeug.exceptions import BadRequest, Gone, HTTPException, ServiceUnavailable
from werkzeug.routing import RequestRedirect

from ..hosts import HostMemo, normalize_domain, parse_host, request_host
from ..lazy import LazyDispatcher
from ..tenant import Tenant
from ..types import Environ, ResponseBody, StartResponse, WSGIApplication
from .records import TenantRecord
from .refresher import Refresher
from .snapshot import Snapshot
from .store import Registry

__all__ = ["TenantDispatcher"]

RecordFactory = Callable[[TenantRecord], "WSGIApplication | None"]


class Suspended(HTTPException):
    """The answer for a suspended tenant: a short page that names no internals."""

    description = "This site is suspended. Please contact its owner."

    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code


class TenantDispatcher(LazyDispatcher):
    """Serve one app per registry tenant, by custom domain or subdomain of a base domain.

    :param registry: the :class:`~appmux.registry.Registry` to follow.
    :param create_app: ``create_app(record)`` builds an active tenant's WSGI app.
    :param base_domains: ``acme.example.com`` is tenant ``acme`` for base ``example.com``.
    :param max_instances: at most this many live apps, least recently used evicted first.
    :param idle_timeout: retire apps unused for this many seconds.
    :param refresh_interval: seconds between the refresher's revision checks.
    :param failure_backoff: seconds a tenant gets ``503`` after ``create_app`` raised.
    :param unknown_tenant_app: answers hosts of unknown tenants (a sign-up page);
        a 404 if ``None``.
    :param suspended_status: the status suspended tenants get (403 by default).
    """

    def __init__(
        self,
        registry: Registry,
        create_app: RecordFactory,
        *,
        base_domains: Iterable[str] = (),
        max_instances: int | None = None,
        idle_timeout: float | None = None,
        refresh_interval: float = 1.0,
        failure_backoff: float = 1.0,
        unknown_tenant_app: WSGIApplication | None = None,
        suspended_status: int = 403,
    ) -> None:
        if isinstance(base_domains, str):
            base_domains = [base_domains]
        if not isinstance(suspended_status, int) or not 400 <= suspended_status <= 599:
            raise ValueError(
                f"suspended_status must be a 4xx or 5xx code, not {suspended_status!r}"
            )
        if not callable(create_app):
            raise TypeError("create_app must be callable")
        self.registry = registry
        self.base_domains = tuple(normalize_domain(domain) for domain in base_domains)
        self.create_tenant_app = create_app
        super().__init__(
            self._tenant_key,
            self._create_for_key,
            default_app=unknown_tenant_app,
            max_instances=max_instances,
            idle_timeout=idle_timeout,
            failure_backoff=failure_backoff,
        )
        self._memoize = self._unbounded  # the hot path below reads the route memo
        self._hosts: HostMemo[str | None] = HostMemo(parse_host)
        self._suspended = Suspended(suspended_status)
        self._starting = ServiceUnavailable(
            "The site is starting: its tenant registry has not been read yet.",
            retry_after=max(1, math.ceil(refresh_interval)),
        )
        self._snapshot: Snapshot | None = None
        self.refresher = Refresher(registry, self._install, refresh_interval)
        self.refresher.load_now()  # warm, so a pre-fork master hands it to its workers

    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot requests are served from (``None`` until the first read)."""
        return self._snapshot

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        # Hot path: the raw Host looked up as it stands. A miss (a KeyError, also
        # for a request without Host) is rare and goes the slow way.
        try:
            record, app = self._routes[environ["HTTP_HOST"]]
        except KeyError:
            return super().__call__(environ, start_response)
        self._route_hits += 1
        environ["appmux.tenant"] = record
        return app(environ, start_response)  # type: ignore[no-any-return]

    # -- resolving a request -------------------------------------------------------------

    def _tenant_key(self, environ: Environ) -> str | None:
        """The active tenant's key, ``None`` for an unknown one, or an HTTP answer."""
        self.refresher.ensure_running()
        snapshot = self._snapshot
        if snapshot is None:
            raise self._starting
        host = self._hosts(request_host(environ))
        match = None if host is None else snapshot.resolve(host, self.base_domains)
        if match is None:
            raise BadRequest("This site does not serve that host name.")
        record = match.record
        if record is None:
            return None
        if match.redirect_to is not None:
            raise RequestRedirect(_moved_url(environ, match.redirect_to))
        if record.status == "suspended":
            raise self._suspended
        if record.status == "archived":
            raise Gone("This site has been archived.")
        environ["appmux.tenant"] = record
        return record.key

    def _create_for_key(self, key: str) -> WSGIApplication | None:
        snapshot = self._snapshot
        record = snapshot.tenants.get(key) if snapshot is not None else None
        if record is None or record.status != "active":
            return None  # changed under this request; the next snapshot retires it
        return self.create_tenant_app(record)

    def _route_token(self, environ: Environ, key: str) -> object:
        return environ.get("HTTP_HOST")

    def _remember_route(self, raw: object, tenant: Tenant) -> None:
        snapshot = self._snapshot
        record = snapshot.tenants.get(tenant.key) if snapshot is not None else None
        if not isinstance(raw, str) or tenant.answer or record is None:
            return
        routes = self._routes
        if len(routes) >= max(4096, 2 * len(self._pool)):
            routes.clear()
        routes[raw] = (record, tenant.app)
        # A swap or a retirement in between empties the memo first: undo our entry.
        if tenant.retired or self._snapshot is not snapshot:
            routes.pop(raw, None)

    # -- following the registry ------------------------------------------------------------

    def _install(self, new: Snapshot) -> None:
        """Serve from ``new``; retire the apps of tenants that changed."""
        old, self._snapshot = self._snapshot, new
        self._routes.clear()  # at once: no memo hit serves an old record from here on
        if old is None:
            stale: Iterable[str] = list(new.tenants)  # drops negative entries, if any
        else:
            stale = [
                key
                for key, record in old.tenants.items()
                if (current := new.tenants.get(key)) is None or not record.same_app(current)
            ]
            stale += [key for key in new.tenants if key not in old.tenants]
        for key in stale:
            self._pool.invalidate(key)
        self._routes.clear()  # again: requests may have memoized a retired app meanwhile

    def close(self) -> None:
        """Stop following the registry and retire every app."""
        self.refresher.stop()
        self.clear()


def _moved_url(environ: Environ, host: str) -> str:
    """This request's URL on ``host`` (same scheme, port, path and query)."""
    raw = request_host(environ)
    port = raw.rpartition(":")[2] if not raw.endswith("]") and ":" in raw else ""
    path = quote(
        (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1"),
        safe="/;=,~!$&'()*+@:%",
    )
    query = environ.get("QUERY_STRING", "")
    url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{':' + port if port else ''}{path}"
    return f"{url}?{query}" if query else url
