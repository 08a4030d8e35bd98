"""What a process knows about itself: its meter, its dispatchers, its registry.

:class:`Observer` is filled while the site is built (each lazy or registry
dispatcher is registered under its route label) and read by the exporter. The
summary it produces, :meth:`Observer.summary`, is plain JSON: one per worker,
which the admin listener merges into the whole server's view.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..asgi.lazy import LazyDispatcher as ASGILazyDispatcher
from ..core.pool import STAT_NAMES
from ..wsgi.lazy import LazyDispatcher
from .meter import Meter

__all__ = ["Observer", "RouteTotals", "rss_bytes"]

#: How many recently used tenant keys a worker reports per dispatcher.
RECENT_KEYS = 50


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process, from ``/proc`` (0 where there is none)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class RouteTotals:
    """Requests and responses by status class (``"2xx"``...) of one route, in one process."""

    requests: int = 0
    by_class: Counter[str] = field(default_factory=Counter)


class Observer:
    """The observable parts of one site, in one process."""

    def __init__(self, per_tenant: bool = False, per_tenant_limit: int = 100) -> None:
        self.meter = Meter()
        #: Label requests by tenant too (``[metrics] per_tenant``), for at most
        #: ``per_tenant_limit`` tenants per dispatcher and process; the rest are "other".
        self.per_tenant = per_tenant
        self.per_tenant_limit = per_tenant_limit
        #: Lazy and registry dispatchers by their route label.
        self.dispatchers: dict[str, LazyDispatcher | ASGILazyDispatcher] = {}
        #: Running totals per route (the exporter adds drained observations).
        self.route_totals: dict[str, RouteTotals] = {}
        self.requests = 0
        #: Called before each request by the metered site (the exporter's lazy start).
        self.on_request: Callable[[], None] | None = None

    def add_dispatcher(self, label: str, dispatcher: LazyDispatcher | ASGILazyDispatcher) -> None:
        """Report ``dispatcher``'s pool under ``label``."""
        self.dispatchers[label] = dispatcher

    def count(self, route: str, status_class: str) -> None:
        """Add one finished request to the running totals."""
        totals = self.route_totals.get(route)
        if totals is None:
            totals = self.route_totals[route] = RouteTotals()
        totals.requests += 1
        totals.by_class[status_class] += 1
        self.requests += 1

    def summary(self) -> dict[str, Any]:
        """This process's state as JSON-ready data."""
        dispatchers = {}
        registry = None
        for label, dispatcher in self.dispatchers.items():
            stats = dispatcher.stats()
            keys = dispatcher.keys()
            dispatchers[label] = {
                **{name: getattr(stats, name) for name in STAT_NAMES},
                "recent_keys": keys[-RECENT_KEYS:][::-1],
                "failures": [
                    {"at": f.at, "key": f.key, "summary": f.summary}
                    for f in dispatcher.recent_failures
                ],
                "rejected": [{"at": at, "key": key} for at, key in dispatcher.recent_rejections],
            }
            refresher = getattr(dispatcher, "refresher", None)
            if refresher is not None and registry is None:
                checked = refresher.checked_at
                registry = {
                    "url": refresher.registry.masked_url,
                    "revision": refresher.revision,
                    "snapshot_age": None if checked is None else time.time() - checked,
                    "errors": refresher.errors,
                    "outage": refresher.outage,
                }
        return {
            "pid": os.getpid(),
            "started_at": self.meter.started_at,
            "updated_at": time.time(),
            "requests": self.requests,
            "rss_bytes": rss_bytes(),
            "routes": {
                route: {"requests": t.requests, "by_class": dict(t.by_class)}
                for route, t in self.route_totals.items()
            },
            "dispatchers": dispatchers,
            "registry": registry,
        }
