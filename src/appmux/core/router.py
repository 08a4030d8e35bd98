"""Resolving a lazy dispatcher's request: a key to a :class:`Route` or an :class:`Answer`.

:class:`LazyRouter` is the protocol-neutral half of every lazy dispatcher
(subdomain, path, header, any key, registry tenants). It owns the
:class:`~appmux.core.pool.InstancePool` of :class:`~appmux.core.lease.Lease`
objects and the route memo, which maps a request's raw token (the ``Host``
value, the path head, a header value) straight to its :class:`Route`, so a
repeat request is one dict lookup before any parsing.

The memo is only sound where a hit needs no bookkeeping: an unbounded pool,
and apps without ``close()`` (no lease to count). Retiring an app marks its
lease first and then empties the memo; :meth:`LazyRouter.route_key` re-checks
after storing, so no request memoizes an app that has just been retired.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .keys import KeyRule, is_safe_key
from .lease import Lease
from .pool import CreationFailed, InstancePool, WouldCreate
from .routing import Answer, Route

__all__ = ["MEMO_LIMIT", "LazyRouter"]

#: The route memo holds at least this many raw tokens (and twice the live apps).
MEMO_LIMIT = 4096

UNAVAILABLE = "The application for this site could not be started."
BUSY = "This site is busy. Please try again in a moment."
#: How many recent ``max_concurrency`` rejections a router remembers (for the status page).
RECENT_REJECTIONS = 10


class LazyRouter:
    """The pool, the key rule and the route memo of one lazy dispatcher.

    :param pool: leases by key (the protocol layer wraps its factory).
    :param rule: maps a raw token to a key; ``None`` when the protocol layer
        computes keys itself (a custom key function).
    :param memoize: keep a route memo (only for an unbounded pool).
    :param tenant_of: the tenant a route carries for ``key`` (a registry record).
    """

    def __init__(
        self,
        pool: InstancePool[Lease],
        rule: KeyRule | None = None,
        *,
        memoize: bool = False,
        tenant_of: Callable[[str], Any] | None = None,
    ) -> None:
        self.pool = pool
        self.rule = rule
        self.memoize = memoize
        self.consumes = rule is not None and rule.reads.kind == "path"
        self._tenant_of = tenant_of
        #: raw token -> Route; read directly by the protocol layers' hot paths.
        self.routes: dict[Any, Route] = {}
        self._epoch = 0
        #: Requests refused by ``max_concurrency``, and the last few (time, key).
        self.rejections = 0
        self.recent_rejections: deque[tuple[float, str]] = deque(maxlen=RECENT_REJECTIONS)
        self._busy = Answer(503, BUSY, retry_after=1)

    def route(self, token: str, create: bool = True) -> Route | Answer | None:
        """Resolve a raw token with the rule (``None``: the default app)."""
        assert self.rule is not None
        key = self.rule.key_of(token)
        if key is None or type(key) is Answer:
            return key
        return self.route_key(key, token, create)  # type: ignore[arg-type]

    def route_key(
        self, key: str, token: str | None = None, create: bool = True
    ) -> Route | Answer | None:
        """The route for ``key``, creating its app on first use.

        A tracked app's route comes with its lease entered: the caller must
        call ``route.lease.leave()`` when the response is finished. With
        ``create=False`` a key whose app must first be made (or waited for)
        raises :class:`~appmux.core.pool.WouldCreate`. A key whose app has
        ``max_concurrency`` requests in flight gets a ``503`` (after
        ``queue_timeout`` seconds of waiting for a slot).
        """
        if not is_safe_key(key):
            return None
        consumed = len(token) if self.consumes and token is not None else 0
        while True:
            epoch = self._epoch
            try:
                lease = self.pool.get(key, create)
            except CreationFailed as failure:
                return Answer(503, UNAVAILABLE, retry_after=max(1, math.ceil(failure.retry_after)))
            if lease is None:
                return None
            tenant = self._tenant_of(key) if self._tenant_of is not None else None
            if not lease.tracked:
                route: Route = (lease.app, consumed, tenant, None)
                if self.memoize and token is not None and not lease.answer:
                    self._remember(token, route, lease, epoch)
                return route
            limit = lease.limit
            if limit is not None and not limit.acquire(wait=create):
                if not create and limit.timeout > 0:
                    raise WouldCreate(key)  # queue in a thread, not on the event loop
                self.rejections += 1
                self.recent_rejections.append((time.time(), key))
                return self._busy
            if lease.enter():
                return (lease.app, consumed, tenant, lease)
            if limit is not None:
                limit.release()
            # Retired between lookup and enter: the pool finds or makes its successor.

    def _remember(self, token: str, route: Route, lease: Lease, epoch: int) -> None:
        routes = self.routes
        # Bounded: many raw spellings (case, ports) may name one tenant.
        if len(routes) >= max(MEMO_LIMIT, 2 * len(self.pool)):
            routes.clear()
        routes[token] = route
        # A retirement or a forget_routes() since the lookup: undo our entry.
        if lease.retired or self._epoch != epoch:
            routes.pop(token, None)

    def forget_routes(self) -> None:
        """Empty the memo (it refills from the pool); call after anything changed."""
        self._epoch += 1
        self.routes.clear()

    def invalidate(self, key: str) -> bool:
        """Forget ``key``'s app or negative entry; the next request recreates it."""
        found = self.pool.invalidate(key)
        self.forget_routes()
        return found

    def clear(self) -> None:
        """Forget every key; retired apps are closed once idle."""
        self.pool.clear()
        self.forget_routes()
