"""Lazy dispatchers, the ASGI forms of :mod:`appmux.wsgi.lazy`: same names, same arguments.

The same :class:`~appmux.core.router.LazyRouter` decides (route memo, pool,
single-flight creation, answers). A request whose app is live is served on
the event loop with no thread hop; creating an app (``create_app`` and, for
an ASGI app, its lifespan startup) runs in the shared thread pool, so a slow
factory never blocks the loop. A factory may return a WSGI or an ASGI app.
Each ASGI instance has its own lifespan and ``state``; a failed or timed-out
startup is a creation failure (``503`` with ``Retry-After``). A retired
instance shuts down once its requests and websockets have ended, or after
``[asgi] drain_timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound

from ..background import reaper
from ..core.controls import PoolControls
from ..core.keys import is_rule
from ..core.lease import Lease
from ..core.pool import WouldCreate
from ..core.routing import Answer, Route
from ..interop import Lifespan, WSGIBridge, is_asgi, settings
from ..interop.lifespan import spawn
from ..interop.threads import run_in_thread
from ..wsgi.keys import SubdomainKey, path_segment_key
from .answers import ExceptionApp, send_answer, send_exception
from .nodes import Node, static_app
from .scope import TENANT_KEY, consume, token_reader
from .types import Receive, Scope, Send

__all__ = ["Instance", "LazyDispatcher", "PathDispatcher", "SubdomainDispatcher"]


class Instance:
    """One key's ASGI app with its own ``state`` (and lifespan, if it has one)."""

    __slots__ = ("app", "lifespan")

    def __init__(self, app: Any, lifespan: Lifespan) -> None:
        self.app = app
        self.lifespan = lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = self.lifespan.state.copy()
        await self.app(scope, receive, send)


class _ClosingInstance(Instance):
    """An instance whose lifespan runs: ``close()`` (once retired and idle) shuts it down."""

    __slots__ = ("loop",)

    def __init__(self, app: Any, lifespan: Lifespan, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(app, lifespan)
        self.loop = loop

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(spawn, self.lifespan.shutdown())


class LazyDispatcher(PoolControls, Node):
    """Dispatch to per-key apps that ``create_app(key)`` builds on first use.

    The arguments are :class:`appmux.LazyDispatcher`'s; a custom key
    function receives the scope. ``create_app`` may return an ASGI or a WSGI
    app, ``None``, or an ``HTTPException`` to answer the key's requests with.
    """

    def __init__(
        self,
        key_func: Any,
        create_app: Callable[[str], Any],
        *,
        default_app: Any | None = None,
        rewrite: Callable[[Scope, str], None] | None = None,
        tenant_of: Callable[[str], Any] | None = None,
        **options: Any,
    ) -> None:
        if not callable(create_app) or not (callable(key_func) or is_rule(key_func)):
            raise TypeError("key_func and create_app must be callable")
        if default_app is not None and not callable(default_app):
            raise TypeError(f"default_app must be an ASGI or WSGI app, not {default_app!r}")
        self.key_func = key_func
        self.create_app = create_app
        self.default_app = static_app(default_app or NotFound(), "the default app")
        self._rewrite = rewrite
        self._loop: asyncio.AbstractEventLoop | None = None
        memoize = self._make_pool(
            key_func,
            self._create_lease,
            on_retire=self._retire,
            watch=reaper.watch_pool,
            rewrite=rewrite,
            tenant_of=tenant_of,
            options=options,
        )
        rule = self._rule
        self._read = token_reader(rule.reads) if rule is not None else None
        self._memoized = memoize
        self._routes: dict[Any, Route] = self._router.routes

    # -- instances ------------------------------------------------------------------

    def _create_lease(self, key: str) -> Lease | None:
        """Build ``key``'s app (in a pool thread): the factory, then its lifespan startup."""
        app = self.create_app(key)
        if app is None:
            return None
        if isinstance(app, HTTPException):
            return Lease(key, ExceptionApp(app), answer=True)
        if not callable(app):
            raise TypeError(
                f"create_app({key!r}) returned {app!r} ({type(app).__name__}),"
                " which is not an ASGI or WSGI application"
            )
        if not is_asgi(app):
            return Lease(key, WSGIBridge(app))
        lifespan = Lifespan(app, f"the app for {key!r}")
        loop = self._loop
        if loop is None:
            raise RuntimeError("an ASGI instance is made for a request, on the loop serving it")
        # This runs in a pool thread: the startup runs on the loop that will serve the app.
        asyncio.run_coroutine_threadsafe(lifespan.startup(), loop).result()
        if lifespan.supported or callable(getattr(app, "close", None)):
            return Lease(key, _ClosingInstance(app, lifespan, loop))
        return Lease(key, Instance(app, lifespan))

    def _retire(self, _key: str, lease: Lease) -> None:
        lease.retire()
        loop = self._loop
        if not lease.closed and loop is not None and not loop.is_closed():
            # Requests or websockets still in flight: they get drain_timeout, then it closes.
            loop.call_soon_threadsafe(loop.call_later, settings.drain_timeout, lease.force_close)

    # -- serving --------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(scope, receive, send)
            return
        read = self._read
        if read is not None:
            token = read(scope)
            route = self._routes.get(token) if self._memoized else None
            if route is not None:
                self._route_hits += 1
                app, consumed, tenant, _ = route
                if consumed:
                    consume(scope, consumed)
                if tenant is not None:
                    scope[TENANT_KEY] = tenant
                await app(scope, receive, send)
                return
            found = await self._route(token, None)
            key = None
        else:
            try:
                key = self.key_func(scope)
            except HTTPException as error:
                await send_exception(error, scope, receive, send)
                return
            found = None if key is None else await self._route(None, key)
        if found is None:
            await self.default_app(scope, receive, send)
            return
        if type(found) is Answer:
            await send_answer(found, scope, receive, send)
            return
        app, consumed, tenant, lease = found  # type: ignore[misc]
        if consumed:
            consume(scope, consumed)
        if tenant is not None:
            scope[TENANT_KEY] = tenant
        if self._rewrite is not None and key is not None:
            self._rewrite(scope, key)
        if lease is None:
            await app(scope, receive, send)
            return
        try:
            await app(scope, receive, send)
        finally:
            lease.leave()

    async def _route(self, token: str | None, key: str | None) -> Route | Answer | None:
        """Resolve on the loop when the app is live; create it from a pool thread otherwise."""
        router = self._router
        try:
            if token is not None:
                return router.route(token, create=False)
            assert key is not None
            return router.route_key(key, None, create=False)
        except WouldCreate:
            pass
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if token is not None:
            return await run_in_thread(router.route, token)
        return await run_in_thread(router.route_key, key)

    # -- lifespan -------------------------------------------------------------------

    def _static_apps(self) -> Iterable[Any]:
        yield self.default_app

    async def startup(self) -> None:
        """Start the default app's lifespan; instances start on first use."""
        self._loop = asyncio.get_running_loop()
        await super().startup()

    async def shutdown_instances(self) -> None:
        """Retire every instance and run their shutdowns, most recently used first."""
        leases = [lease for _, lease in self._pool.items()]
        self._router.clear()
        for lease in reversed(leases):
            if isinstance(lease.app, Instance):
                await lease.app.lifespan.shutdown()
        await super().shutdown_instances()

    # -- introspection and control (as in the WSGI form) ------------------------------

    def request_key(self, scope: Scope) -> str | None:
        """The key this request names, or ``None``; serves nothing, creates nothing."""
        if self._rule is not None and self._read is not None:
            key = self._rule.key_of(self._read(scope))
            return key if isinstance(key, str) else None
        try:
            return self.key_func(scope)  # type: ignore[no-any-return]
        except HTTPException:
            return None

    @property
    def instances(self) -> Mapping[str, Any]:
        """A read-only snapshot of the live apps by key (as the factory returned them)."""
        return MappingProxyType(
            {key: getattr(lease.app, "app", lease.app) for key, lease in self._pool.items()}
        )


class SubdomainDispatcher(LazyDispatcher):
    """One app per subdomain of ``domain`` (the ASGI form of
    :class:`appmux.SubdomainDispatcher`, same arguments and answers)."""

    def __init__(
        self,
        domain: str,
        create_app: Callable[[str], Any],
        *,
        default_app: Any | None = None,
        **options: Any,
    ) -> None:
        key = SubdomainKey(domain)
        self.domain = key.domain
        super().__init__(key, create_app, default_app=default_app, **options)


class PathDispatcher(LazyDispatcher):
    """One app per first path segment, falling back to ``default_app`` (the ASGI
    form of :class:`appmux.PathDispatcher`): the segment joins ``root_path``."""

    def __init__(self, default_app: Any, create_app: Callable[[str], Any], **options: Any) -> None:
        super().__init__(path_segment_key, create_app, default_app=default_app, **options)
