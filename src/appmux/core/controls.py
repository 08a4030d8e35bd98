"""What every lazy dispatcher has around its pool, in either protocol: :class:`PoolControls`."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .keys import KeyRule, is_rule
from .lease import Lease, Limit
from .pool import FailureRecord, InstancePool, PoolOptions, PoolStats
from .router import LazyRouter

__all__ = ["PoolControls"]


def _limiting(
    create_lease: Callable[[str], Lease | None], size: int, timeout: float
) -> Callable[[str], Lease | None]:
    """``create_lease`` whose leases cap their requests in flight at ``size``."""

    def create(key: str) -> Lease | None:
        lease = create_lease(key)
        if lease is not None and not lease.answer:
            lease.limit_to(Limit(size, timeout))
        return lease

    return create


class PoolControls:
    """Introspection and control of a lazy dispatcher's pool (a mixin of both forms).

    The dispatcher sets ``_pool``, ``_router`` and ``_route_hits`` (the
    route-memo hits its hot path counts).
    """

    _pool: InstancePool[Lease]
    _router: LazyRouter
    _rule: KeyRule | None
    _route_hits: int

    def _make_pool(
        self,
        key_func: Any,
        create_lease: Callable[[str], Lease | None],
        *,
        on_retire: Callable[[str, Lease], None],
        watch: Callable[[InstancePool[Lease]], None],
        rewrite: object,
        tenant_of: Callable[[str], Any] | None,
        options: Mapping[str, Any],
    ) -> bool:
        """Build the pool of leases and the router for a key rule or function (a
        constructor's shared part); returns whether the route memo is kept."""
        pool_options = PoolOptions.from_keywords(type(self).__name__, options)
        if pool_options.max_concurrency is not None:
            create_lease = _limiting(
                create_lease, pool_options.max_concurrency, pool_options.queue_timeout
            )
        self._pool = InstancePool(
            create_lease,
            pool_options,
            accept_key=None,  # the router checks is_safe_key before the pool
            is_answer=lambda lease: lease.answer,
            on_retire=on_retire,
            watch=watch,
        )
        rule: KeyRule | None = key_func if is_rule(key_func) else None
        unbounded = (
            pool_options.max_instances is None
            and pool_options.idle_timeout is None
            and pool_options.max_concurrency is None  # every request must take a slot
        )
        memoize = unbounded and rule is not None and rewrite is None
        self._router = LazyRouter(self._pool, rule, memoize=memoize, tenant_of=tenant_of)
        self._rule = rule
        self._route_hits = 0
        return memoize

    @property
    def options(self) -> PoolOptions:
        """The pool's options."""
        return self._pool.options

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

    def stats(self) -> PoolStats:
        """Counters: live, negative, hits, misses, creations, failures, evictions."""
        stats = self._pool.stats()
        return replace(
            stats, hits=stats.hits + self._route_hits, rejections=self._router.rejections
        )

    @property
    def recent_rejections(self) -> Sequence[tuple[float, str]]:
        """The last ``max_concurrency`` rejections (time, key), newest last."""
        return self._router.recent_rejections

    def invalidate(self, key: str) -> bool:
        """Forget ``key``'s app or negative entry; the next request recreates it."""
        return self._router.invalidate(key)

    def clear(self) -> None:
        """Forget every key; retired apps are closed (shut down) once idle."""
        self._router.clear()

    def prune(self) -> int:
        """Retire apps idle longer than ``idle_timeout``; returns how many."""
        return self._pool.prune()
