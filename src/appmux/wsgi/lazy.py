"""Lazy dispatchers: one app per tenant key, created on first request.

:class:`LazyDispatcher` is the general form: a key rule (or a key function of
the environ) picks the tenant, ``create_app(key)`` builds its app once, and
the core's :class:`~appmux.core.router.LazyRouter` keeps it in an
:class:`~appmux.core.pool.InstancePool`. :class:`SubdomainDispatcher` and
:class:`PathDispatcher` are the two configurations Flask's "Application
Dispatching" page describes, with the same constructor arguments::

    from appmux import SubdomainDispatcher
    application = SubdomainDispatcher("example.com", make_app)

A request whose key has no app (``create_app`` returned ``None``) goes to
``default_app``, or gets a 404. A factory may also answer with an HTTP error,
as Flask's page does with ``NotFound()``: that answer is cached like ``None``
(bounded, for ``negative_ttl`` seconds) and served, and the key holds no app.
While a factory is failing, or another request's creation of the key takes
longer than ``create_timeout``, the key's requests get ``503 Service
Unavailable`` with ``Retry-After``; other keys are unaffected.

The pool's options (``max_instances``, ``idle_timeout``, ``negative_ttl``,
``failure_backoff``, ``create_timeout``) are :class:`~appmux.core.pool.PoolOptions`,
given as keywords to every lazy dispatcher.

Subclasses configure :class:`LazyDispatcher`; none overrides ``__call__``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound

from ..background import reaper
from ..core.controls import PoolControls
from ..core.keys import KeyRule, is_rule
from ..core.lease import Lease
from ..core.prefixes import split_head
from ..core.routing import Answer, Route
from ..interop import ASGIBridge, as_wsgi, is_asgi
from .answers import respond
from .body import ReleasingBody
from .environ import TENANT_KEY, consume, environ_field, token_reader
from .keys import SubdomainKey, path_segment_key
from .types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["AppFactory", "KeyFunc", "LazyDispatcher", "PathDispatcher", "SubdomainDispatcher"]

AppFactory = Callable[[str], "WSGIApplication | None"]
#: A custom key function: the environ to a key, ``None``, or a raised ``HTTPException``.
KeyFunc = Callable[[Environ], "str | None"]


def _retire(_key: str, lease: Lease) -> None:
    lease.retire()
    if not lease.closed and isinstance(lease.app, ASGIBridge):
        # An ASGI instance still serving: it shuts down after [asgi] drain_timeout anyway.
        lease.app.drain_later(lease.force_close)


class LazyDispatcher(PoolControls):
    """Dispatch to per-key apps that ``create_app(key)`` builds on first use.

    :param key_func: a key rule (``appmux.core.keys``: ``SubdomainKey``,
        ``host_key``, ``header_key(...)``, ``path_segment_key``), or a function
        of the environ returning the key, ``None`` (the default app), or raising
        an ``HTTPException`` to answer itself.
    :param create_app: builds the WSGI app for a key, or returns ``None``
        when the key has no app, or an ``HTTPException`` (e.g. ``NotFound()``)
        to answer the key's requests with. Called once per key, never with an
        unsafe key.
    :param default_app: answers requests without a key or app; a 404 if ``None``.
    :param rewrite: adjusts the environ for the tenant's app (e.g. moves the
        key's path segment to ``SCRIPT_NAME``); called only when an app is found.
    :param options: the pool's options as keywords (see :class:`~appmux.core.pool.PoolOptions`).

    Evicted apps that have a ``close()`` method are closed once every request
    they are serving has finished, streaming responses included.
    """

    def __init__(
        self,
        key_func: KeyFunc | KeyRule,
        create_app: Callable[[str], Any],
        *,
        default_app: WSGIApplication | None = None,
        rewrite: Callable[[Environ, str], None] | None = None,
        tenant_of: Callable[[str], Any] | None = None,
        **options: Any,
    ) -> None:
        if not callable(create_app) or not (callable(key_func) or is_rule(key_func)):
            raise TypeError("key_func and create_app must be callable")
        if default_app is not None and not callable(default_app):
            raise TypeError(f"default_app must be a WSGI app, not {default_app!r}")
        self.key_func = key_func
        self.create_app = create_app
        self.default_app: WSGIApplication = as_wsgi(default_app, "the default app") or NotFound()
        self._rewrite = rewrite
        memoize = self._make_pool(
            key_func,
            self._create_lease,
            on_retire=_retire,
            watch=reaper.watch_pool,
            rewrite=rewrite,
            tenant_of=tenant_of,
            options=options,
        )
        rule = self._rule
        self._read = token_reader(rule.reads) if rule is not None else None
        # What the hot path reads the route memo by: one environ field (a host
        # or header rule), or the path head; neither when nothing is memoized.
        self._field = environ_field(rule.reads) if memoize and rule is not None else None
        self._by_path = memoize and self._router.consumes
        self._routes: dict[Any, Route] = self._router.routes

    def _create_lease(self, key: str) -> Lease | None:
        app = self.create_app(key)
        if app is None:
            return None
        if not callable(app):
            raise TypeError(
                f"create_app({key!r}) returned {app!r} ({type(app).__name__}),"
                " which is not a WSGI application"
            )
        if is_asgi(app):  # served on the loop thread; its lifespan starts in this creation
            bridge = ASGIBridge(app, f"the app for {key!r}")
            bridge.startup()
            return Lease(key, bridge)
        return Lease(key, app, answer=isinstance(app, HTTPException))

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        # Hot path: the raw token looked up in the route memo as it stands.
        field = self._field
        if field is not None:
            route = self._routes.get(environ.get(field))
        elif self._by_path:
            route = self._routes.get(split_head(environ.get("PATH_INFO", "")))
        else:
            return self._dispatch(environ, start_response)
        if route is None:
            return self._dispatch(environ, start_response)
        self._route_hits += 1
        app, consumed, tenant, _ = route
        if consumed:
            path = environ["PATH_INFO"]
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + path[:consumed]
            environ["PATH_INFO"] = path[consumed:]
        if tenant is not None:
            environ[TENANT_KEY] = tenant
        return app(environ, start_response)  # type: ignore[no-any-return]

    def _dispatch(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        """The slow path: resolve the request with the router, then apply the result."""
        key: str | None = None
        if self._read is not None:
            found = self._router.route(self._read(environ))
        else:
            try:
                key = self.key_func(environ)  # type: ignore[operator]
            except HTTPException as error:
                return error(environ, start_response)
            found = None if key is None else self._router.route_key(key)
        if found is None:
            return self.default_app(environ, start_response)
        if type(found) is Answer:
            return respond(found, environ, start_response)
        app, consumed, tenant, lease = found  # type: ignore[misc]
        if consumed:
            consume(environ, consumed)
        if tenant is not None:
            environ[TENANT_KEY] = tenant
        if self._rewrite is not None and key is not None:
            self._rewrite(environ, key)
        if lease is None:
            return app(environ, start_response)  # type: ignore[no-any-return]
        try:
            body = app(environ, start_response)
        except BaseException:
            lease.leave()
            raise
        return ReleasingBody(body, lease.leave)

    # -- introspection and control ----------------------------------------

    def request_key(self, environ: Environ) -> str | None:
        """The key this request names, or ``None``; serves nothing, creates nothing."""
        if self._rule is not None and self._read is not None:
            key = self._rule.key_of(self._read(environ))
            return key if isinstance(key, str) else None
        try:
            return self.key_func(environ)  # type: ignore[operator]
        except HTTPException:
            return None

    @property
    def instances(self) -> Mapping[str, WSGIApplication]:
        """A read-only snapshot of the live apps by key (the snippets' ``instances``)."""
        return MappingProxyType({key: lease.app for key, lease in self._pool.items()})


class SubdomainDispatcher(LazyDispatcher):
    """One app per subdomain of ``domain``, as in Flask's documentation.

    ``create_app(subdomain)`` is called on the first request for a subdomain:
    ``foo.example.com`` gives ``"foo"``, ``a.b.example.com`` gives ``"a.b"``
    and ``example.com`` itself gives ``""``. Hosts are lower-cased, the port
    and one trailing dot are dropped, and a host that is malformed or not under
    ``domain`` on a label boundary gets ``400 Bad Request``. When
    ``create_app`` returns ``None`` the request goes to ``default_app``, or
    gets a 404. The keyword options are the pool's.
    """

    def __init__(
        self,
        domain: str,
        create_app: AppFactory,
        *,
        default_app: WSGIApplication | None = None,
        **options: Any,
    ) -> None:
        key = SubdomainKey(domain)
        self.domain = key.domain
        super().__init__(key, create_app, default_app=default_app, **options)


class PathDispatcher(LazyDispatcher):
    """One app per first path segment, falling back to ``default_app``.

    For ``/foo/bar``, ``create_app("foo")`` builds the app, which then sees
    ``SCRIPT_NAME`` ending in ``/foo`` and ``PATH_INFO`` ``/bar``. When
    ``create_app`` returns ``None`` (remembered for a few seconds), or the path
    has no usable first segment (``/``, ``//x``, ``/../x``), the request goes to
    ``default_app`` with the environ untouched. The keyword options are the pool's.
    """

    def __init__(
        self, default_app: WSGIApplication, create_app: AppFactory, **options: Any
    ) -> None:
        super().__init__(path_segment_key, create_app, default_app=default_app, **options)
