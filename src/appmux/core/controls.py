"""What every lazy dispatcher answers about its pool, in either protocol: :class:`PoolControls`."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace

from .lease import Lease
from .pool import FailureRecord, InstancePool, PoolOptions, PoolStats
from .router import LazyRouter

__all__ = ["PoolControls"]


class PoolControls:
    """Introspection and control of a lazy dispatcher's pool (a mixin of both forms).

    The dispatcher sets ``_pool``, ``_router`` and ``_route_hits`` (the
    route-memo hits its hot path counts).
    """

    _pool: InstancePool[Lease]
    _router: LazyRouter
    _route_hits: int

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
        return replace(stats, hits=stats.hits + self._route_hits)

    def invalidate(self, key: str) -> bool:
        """Forget ``key``'s app or negative entry; the next request recreates it."""
        return self._router.invalidate(key)

    def clear(self) -> None:
        """Forget every key; retired apps are closed (shut down) once idle."""
        self._router.clear()

    def prune(self) -> int:
        """Retire apps idle longer than ``idle_timeout``; returns how many."""
        return self._pool.prune()
