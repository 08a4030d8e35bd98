"""Lazy dispatchers: one app per tenant key, created on first request.

:class:`LazyDispatcher` is the general form: a key function picks the tenant
from the environ, ``create_app(key)`` builds its app once, and an
:class:`~appmux.pool.InstancePool` keeps it. :class:`SubdomainDispatcher` and
:class:`PathDispatcher` are the two configurations Flask's "Application
Dispatching" page describes, with the same constructor arguments::

    from appmux import SubdomainDispatcher
    application = SubdomainDispatcher("example.com", make_app)

A request whose key has no app (``create_app`` returned ``None``) goes to
``default_app``, or gets a 404. A factory may also answer with an HTTP error,
as Flask's page does with ``NotFound()``: that answer is cached like ``None``
(bounded, for ``negative_ttl`` seconds) and served, and the key holds no app.
While a factory is failing, its key's requests get ``503 Service Unavailable``
with ``Retry-After``; other keys are unaffected.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound, ServiceUnavailable

from .keys import KeyFunc, SubdomainKey, is_safe_key, path_segment_key, shift_path_segment
from .pool import CreationFailed, FailureRecord, InstancePool, PoolStats
from .tenant import Tenant
from .types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["AppFactory", "LazyDispatcher", "PathDispatcher", "SubdomainDispatcher"]

AppFactory = Callable[[str], "WSGIApplication | None"]


class LazyDispatcher:
    """Dispatch to per-key apps that ``create_app(key)`` builds on first use.

    :param key_func: maps the environ to a key (see :mod:`appmux.keys`);
        ``None`` sends the request to ``default_app``.
    :param create_app: builds the WSGI app for a key, or returns ``None``
        when the key has no app, or an ``HTTPException`` (e.g. ``NotFound()``)
        to answer the key's requests with. Called once per key, never with an
        unsafe key.
    :param default_app: answers requests without a key or app; a 404 if ``None``.
    :param rewrite: adjusts the environ for the tenant's app (e.g. moves the
        key's path segment to ``SCRIPT_NAME``); called only when an app is found.
    :param max_instances: at most this many live apps, least recently used
        evicted first.
    :param idle_timeout: retire apps unused for this many seconds.
    :param negative_ttl: seconds a ``None`` or an ``HTTPException`` from
        ``create_app`` is remembered.
    :param failure_backoff: seconds a key is refused after ``create_app`` raised.

    Evicted apps that have a ``close()`` method are closed once every request
    they are serving has finished, streaming responses included.
    """

    def __init__(
        self,
        key_func: KeyFunc,
        create_app: AppFactory,
        *,
        default_app: WSGIApplication | None = None,
        rewrite: Callable[[Environ, str], None] | None = None,
        max_instances: int | None = None,
        idle_timeout: float | None = None,
        negative_ttl: float = 5.0,
        failure_backoff: float = 1.0,
    ) -> None:
        if not callable(key_func) or not callable(create_app):
            raise TypeError("key_func and create_app must be callable")
        if default_app is not None and not callable(default_app):
            raise TypeError(f"default_app must be a WSGI app, not {default_app!r}")
        self.key_func = key_func
        self.create_app = create_app
        self.default_app: WSGIApplication = default_app or NotFound()
        self._rewrite = rewrite
        self._pool: InstancePool[Tenant] = InstancePool(
            self._create_tenant,
            max_instances=max_instances,
            idle_timeout=idle_timeout,
            negative_ttl=negative_ttl,
            failure_backoff=failure_backoff,
            accept_key=is_safe_key,
            is_answer=lambda tenant: tenant.answer,
            on_retire=lambda _key, tenant: tenant.retire(),
        )
        # The route memo maps a raw request token straight to the tenant's app,
        # so a hit is one dict lookup before any parsing: the raw value of the
        # key function's ``route_field`` (e.g. ``HTTP_HOST``) here, the path head
        # in PathDispatcher. Only sound when hits need no bookkeeping (an
        # unbounded pool) and for apps without close(); a rewrite must then be
        # redone by the hot path. invalidate() and clear() empty it.
        self._unbounded = max_instances is None and idle_timeout is None
        field = getattr(key_func, "route_field", None)
        self._route_field: str | None = field if self._unbounded and rewrite is None else None
        # Whether the slow path stores routes: only when a hot path reads them.
        self._memoize = self._route_field is not None
        # Values are what the hot path reads: the app (a (record, app) pair for TenantDispatcher).
        self._routes: dict[str, Any] = {}
        self._route_hits = 0
        self._lookup = self._pool.get

    def _create_tenant(self, key: str) -> Tenant | None:
        app = self.create_app(key)
        if app is None:
            return None
        if not callable(app):
            raise TypeError(
                f"create_app({key!r}) returned {app!r} ({type(app).__name__}),"
                " which is not a WSGI application"
            )
        return Tenant(key, app)

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        field = self._route_field
        if field is not None:
            app: WSGIApplication | None = self._routes.get(environ.get(field))  # type: ignore[arg-type]
            if app is not None:
                self._route_hits += 1
                return app(environ, start_response)
        try:
            key = self.key_func(environ)
        except HTTPException as error:
            return error(environ, start_response)
        if key is None:
            return self.default_app(environ, start_response)
        try:
            tenant = self._lookup(key)
        except CreationFailed as failure:
            return self._unavailable(failure, environ, start_response)
        if tenant is None:
            return self.default_app(environ, start_response)
        if tenant.close is not None:
            return self._serve_tracked(key, tenant, environ, start_response)
        if self._memoize:
            self._remember_route(self._route_token(environ, key), tenant)
        if self._rewrite is not None:
            self._rewrite(environ, key)
        return tenant.app(environ, start_response)

    def _route_token(self, environ: Environ, key: str) -> object:
        """The raw value the hot path looks tenants up by (when memoizing)."""
        return environ.get(self._route_field) if self._route_field else None

    def _serve_tracked(
        self, key: str, tenant: Tenant, environ: Environ, start_response: StartResponse
    ) -> ResponseBody:
        """Serve through an app with ``close()``, counting the request in flight."""
        while not tenant.enter():
            # Retired between lookup and enter: the pool finds or makes its successor.
            try:
                successor = self._lookup(key)
            except CreationFailed as failure:
                return self._unavailable(failure, environ, start_response)
            if successor is None:
                return self.default_app(environ, start_response)
            tenant = successor
        if self._rewrite is not None:
            self._rewrite(environ, key)
        return tenant.serve(environ, start_response)

    @staticmethod
    def _unavailable(
        failure: CreationFailed, environ: Environ, start_response: StartResponse
    ) -> ResponseBody:
        unavailable = ServiceUnavailable(
            "The application for this site could not be started.",
            retry_after=max(1, math.ceil(failure.retry_after)),
        )
        return unavailable(environ, start_response)

    def _remember_route(self, raw: object, tenant: Tenant) -> None:
        if not isinstance(raw, str) or tenant.answer:
            return  # answers expire with the negative cache: never memoized
        routes = self._routes
        # Bounded: many raw spellings (case, ports) may name one tenant.
        if len(routes) >= max(4096, 2 * len(self._pool)):
            routes.clear()
        routes[raw] = tenant.app
        # Retirement (invalidate, clear) marks the tenant first, then empties
        # the memo: re-checking here closes the window between the two.
        if tenant.retired:
            routes.pop(raw, None)

    # -- introspection and control ----------------------------------------

    def request_key(self, environ: Environ) -> str | None:
        """The key this request names, or ``None``; serves nothing, creates nothing."""
        try:
            return self.key_func(environ)
        except HTTPException:
            return None

    def has_app(self, key: str) -> bool:
        """Whether ``key`` has a live app now."""
        return key in self._pool

    @property
    def recent_failures(self) -> Sequence[FailureRecord]:
        """The last ``create_app`` failures (time, key, one-line summary), newest last."""
        return self._pool.recent_failures

    @property
    def creation_times(self) -> deque[float]:
        """Seconds each recent creation took, oldest first, for a metrics exporter to drain."""
        return self._pool.creation_times

    def keys(self) -> list[str]:
        """Keys with a live app, least recently used first."""
        return self._pool.keys()

    @property
    def instances(self) -> Mapping[str, WSGIApplication]:
        """A read-only snapshot of the live apps by key (the snippets' ``instances``)."""
        return MappingProxyType({key: tenant.app for key, tenant in self._pool.items()})

    def stats(self) -> PoolStats:
        """Counters: live, negative, hits, misses, creations, failures, evictions."""
        stats = self._pool.stats()
        return replace(stats, hits=stats.hits + self._route_hits)

    def invalidate(self, key: str) -> bool:
        """Forget ``key``'s app or negative entry; the next request recreates it."""
        found = self._pool.invalidate(key)
        self._routes.clear()  # rare: the memo refills from the pool
        return found

    def clear(self) -> None:
        """Forget every key; evicted apps are closed once idle."""
        self._pool.clear()
        self._routes.clear()

    def prune(self) -> int:
        """Retire apps idle longer than ``idle_timeout``; returns how many."""
        return self._pool.prune()


class SubdomainDispatcher(LazyDispatcher):
    """One app per subdomain of ``domain``, as in Flask's documentation.

    ``create_app(subdomain)`` is called on the first request for a subdomain:
    ``foo.example.com`` gives ``"foo"``, ``a.b.example.com`` gives ``"a.b"``
    and ``example.com`` itself gives ``""``. Hosts are lower-cased, the port
    and one trailing dot are dropped, and a host that is malformed or not under
    ``domain`` on a label boundary gets ``400 Bad Request``. When
    ``create_app`` returns ``None`` the request goes to ``default_app``, or
    gets a 404. The keyword options are :class:`LazyDispatcher`'s.
    """

    def __init__(
        self,
        domain: str,
        create_app: AppFactory,
        *,
        max_instances: int | None = None,
        idle_timeout: float | None = None,
        default_app: WSGIApplication | None = None,
        negative_ttl: float = 5.0,
        failure_backoff: float = 1.0,
    ) -> None:
        key = SubdomainKey(domain)
        self.domain = key.domain
        super().__init__(
            key,
            create_app,
            default_app=default_app,
            max_instances=max_instances,
            idle_timeout=idle_timeout,
            negative_ttl=negative_ttl,
            failure_backoff=failure_backoff,
        )


class PathDispatcher(LazyDispatcher):
    """One app per first path segment, falling back to ``default_app``.

    For ``/foo/bar``, ``create_app("foo")`` builds the app, which then sees
    ``SCRIPT_NAME`` ending in ``/foo`` and ``PATH_INFO`` ``/bar``. When
    ``create_app`` returns ``None`` (remembered for a few seconds), or the path
    has no usable first segment (``/``, ``//x``, ``/../x``), the request goes to
    ``default_app`` with the environ untouched.
    """

    def __init__(
        self,
        default_app: WSGIApplication,
        create_app: AppFactory,
        *,
        max_instances: int | None = None,
        idle_timeout: float | None = None,
        negative_ttl: float = 5.0,
        failure_backoff: float = 1.0,
    ) -> None:
        super().__init__(
            path_segment_key,
            create_app,
            default_app=default_app,
            rewrite=shift_path_segment,
            max_instances=max_instances,
            idle_timeout=idle_timeout,
            negative_ttl=negative_ttl,
            failure_backoff=failure_backoff,
        )
        self._memoize = self._unbounded  # read by the hot path below

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        # Hot path: the path head ("/acme") looked up as it stands, then the
        # same move as shift_path_segment, inlined to save two calls a request.
        path = environ.get("PATH_INFO", "")
        end = path.find("/", 1)
        if end < 0:
            end = len(path)
        head = path[:end]
        app: WSGIApplication | None = self._routes.get(head)
        if app is not None:
            self._route_hits += 1
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + head
            environ["PATH_INFO"] = path[end:]
            return app(environ, start_response)
        return super().__call__(environ, start_response)

    def _route_token(self, environ: Environ, key: str) -> object:
        return "/" + key
