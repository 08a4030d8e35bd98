"""The thread that hands a process's figures to Prometheus and to the status page.

Every ``interval`` seconds (and at exit) it drains the meter into
prometheus-client's metrics (multiprocess mode: one file per process in
``PROMETHEUS_MULTIPROC_DIR``, summed by the admin listener), turns pool and
registry counters into metric deltas, and writes this process's summary to
``status-<pid>.json`` in the same folder. One
:class:`~appmux.background.ProcessThread` per process, started on the first
request and again in a forked child of a process that exported, never in a
master that does not serve. Without prometheus-client only the status file is
written.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

from ..background import ProcessThread
from .observer import Observer
from .status import STATUS_PREFIX, claim_tenant_labels

__all__ = ["STATUS_PREFIX", "Exporter", "describe_metrics", "metrics_available"]

logger = logging.getLogger("appmux")

#: Request duration buckets (seconds), Prometheus' defaults plus a 30 s tail.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CREATION_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

#: The pool's counters (of :data:`~appmux.core.pool.STAT_NAMES`; live and negative are gauges).
_POOL_COUNTERS = {
    "hits": ("tenant_cache_hits", "Tenant lookups answered from the cache."),
    "misses": ("tenant_cache_misses", "Tenant lookups that had to create or wait."),
    "creations": ("tenant_creations", "Tenant apps created."),
    "creation_failures": ("tenant_creation_failures", "create_app calls that raised."),
    "evictions": ("tenant_evictions", "Tenant apps retired (LRU, idle or invalidated)."),
    "rejections": ("tenant_rejections", "Requests refused (503) by a tenant's max_concurrency."),
}


def _observe_many(histogram: Any, buckets: list[int], total: float) -> None:
    """Add bucket counts (``bisect_left`` over the bounds, +Inf last) and their sum.

    prometheus-client observes one value at a time; its children keep one value
    per bucket (``_buckets``) and the sum (``_sum``), which this adds to at once.
    """
    values = getattr(histogram, "_buckets", None)
    if values is None or len(values) != len(buckets):  # not the layout we know: one by one
        bounds = [*DURATION_BUCKETS, float("inf")]
        for index, n in enumerate(buckets):
            for _ in range(n):
                histogram.observe(bounds[index])
        return
    for value, n in zip(values, buckets, strict=True):
        if n:
            value.inc(n)
    histogram._sum.inc(total)


def metrics_available() -> bool:
    """Whether prometheus-client (the ``appmux[metrics]`` extra) is installed."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class _Metrics:
    """prometheus-client metric objects, created once per process."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Gauge, Histogram

        at: dict[str, Any] = {"registry": REGISTRY if registry is None else registry}

        self.requests = Counter(
            "appmux_requests",
            "Requests by routing node and status class.",
            ["route", "status_class"],
            **at,
        )
        self.duration = Histogram(
            "appmux_request_duration_seconds",
            "Time until the response body was closed.",
            ["route"],
            buckets=DURATION_BUCKETS,
            **at,
        )
        self.live = Gauge(
            "appmux_tenants_live",
            "Live tenant apps.",
            ["dispatcher"],
            multiprocess_mode="livesum",
            **at,
        )
        self.negative = Gauge(
            "appmux_tenants_negative",
            "Remembered answers for keys without an app.",
            ["dispatcher"],
            multiprocess_mode="livesum",
            **at,
        )
        self.pool = {
            field: Counter(f"appmux_{name}", doc, ["dispatcher"], **at)
            for field, (name, doc) in _POOL_COUNTERS.items()
        }
        self.creation_seconds = Histogram(
            "appmux_tenant_creation_seconds",
            "Time create_app took.",
            ["dispatcher"],
            buckets=CREATION_BUCKETS,
            **at,
        )
        self.revision = Gauge(
            "appmux_registry_revision",
            "The registry revision each process serves.",
            multiprocess_mode="liveall",
            **at,
        )
        self.snapshot_age = Gauge(
            "appmux_registry_snapshot_age_seconds",
            "Seconds since each process last read the registry.",
            multiprocess_mode="liveall",
            **at,
        )
        self.refresh_errors = Counter(
            "appmux_registry_refresh_errors", "Failed registry checks.", **at
        )
        self.websocket_sessions = Counter(
            "appmux_websocket_sessions",
            "Websockets accepted, by routing node.",
            ["route"],
            **at,
        )
        self.websockets_open = Gauge(
            "appmux_websockets_open",
            "Websockets open now, by routing node.",
            ["route"],
            multiprocess_mode="livesum",
            **at,
        )
        self.tenant_requests = Counter(
            "appmux_tenant_requests",
            "Requests by tenant ([metrics] per_tenant); tenants past the limit are 'other'.",
            ["dispatcher", "tenant", "status_class"],
            **at,
        )


def describe_metrics() -> list[tuple[str, str, tuple[str, ...], str]]:
    """Every metric appmux exports: ``(name, type, labels, help)``, for the reference."""
    from prometheus_client import CollectorRegistry

    metrics = _Metrics(CollectorRegistry())
    found = [value for value in vars(metrics).values() if hasattr(value, "_name")]
    found += list(metrics.pool.values())
    rows = []
    for metric in found:
        kind = metric._type
        name = metric._name + ("_total" if kind == "counter" else "")
        rows.append((name, kind, tuple(metric._labelnames), metric._documentation))
    return sorted(rows)


class Exporter:
    """Drains ``observer`` every ``interval`` seconds into metrics and a status file."""

    def __init__(self, observer: Observer, directory: Path | str, interval: float = 1.0) -> None:
        self.observer = observer
        self.directory = Path(directory)
        self.interval = interval
        self._metrics: _Metrics | None = None
        self._last: dict[tuple[str, str], int] = {}
        self._websockets_open: dict[str, int] = {}
        #: Tenants with a label of their own, per dispatcher (stable: counters only grow).
        self._tenant_labels: dict[str, set[str]] = {}
        self._thread = ProcessThread(
            "appmux-exporter", self._run, in_child=self._forked, at_exit=self.flush
        )

    def ensure_running(self) -> None:
        """Start this process's thread unless it runs (cheap when it does)."""
        self._thread.ensure_running()

    def _forked(self, _was_exporting: bool) -> bool:
        """In a forked child (a worker): start over with its own figures, and export at once,
        so a worker shows on the status page before its first request."""
        self._last = {}
        self._websockets_open = {}
        self._tenant_labels = {}
        self.observer.meter.started_at = time.time()
        self.observer.meter.drain()  # the parent's requests were the parent's to export
        self.observer.meter.drain_websockets()
        self.observer.route_totals.clear()
        self.observer.requests = 0
        return True

    def _run(self, stop: threading.Event) -> None:
        # Created in the process that exports (a worker), never in a pre-fork master.
        if self._metrics is None and metrics_available():
            self._metrics = _Metrics()
        while not stop.wait(self.interval):
            try:
                self.flush()
            except Exception:
                logger.exception("exporting metrics failed")

    def stop(self) -> None:
        """Stop the thread after one last flush."""
        self._thread.stop()
        self.flush()

    def flush(self) -> None:
        """Hand everything observed so far to the metrics and the status file."""
        observer = self.observer
        metrics = self._metrics
        # Summed here first: one metric update per label set and flush, not per
        # request (a multiprocess update writes a file and takes a lock).
        counts: dict[tuple[str, str], int] = {}
        durations: dict[str, tuple[list[int], list[float]]] = {}
        by_tenant: dict[tuple[str, str, str], int] = {}
        for route, given, seconds in observer.meter.drain():
            status = str(given)  # the ASGI meter keeps the int the server got
            status_class = f"{status[:1]}xx" if status[:1].isdigit() else "unknown"
            if type(route) is tuple:  # (route, tenant) under [metrics] per_tenant
                route, tenant = route
                if tenant is not None:
                    key = (route, tenant, status_class)
                    by_tenant[key] = by_tenant.get(key, 0) + 1
            observer.count(route, status_class)
            counts[(route, status_class)] = counts.get((route, status_class), 0) + 1
            buckets, total = durations.setdefault(route, ([0] * (len(DURATION_BUCKETS) + 1), [0.0]))
            buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
            total[0] += seconds
        for route, change in observer.meter.drain_websockets():
            self._websockets_open[route] = self._websockets_open.get(route, 0) + change
            if metrics is not None:
                if change > 0:
                    metrics.websocket_sessions.labels(route).inc()
                metrics.websockets_open.labels(route).set(self._websockets_open[route])
        if metrics is not None:
            for (route, status_class), n in counts.items():
                metrics.requests.labels(route, status_class).inc(n)
            for route, (buckets, total) in durations.items():
                _observe_many(metrics.duration.labels(route), buckets, total[0])
            if by_tenant:
                self._export_tenants(metrics, by_tenant)
        summary = observer.summary()
        if metrics is not None:
            self._export_pools(metrics, summary)
        self._write_status(summary)

    def _export_tenants(self, metrics: _Metrics, counts: dict[tuple[str, str, str], int]) -> None:
        """Per-tenant counts: the busiest tenants get labels until the limit, then "other"."""
        totals: dict[tuple[str, str], int] = {}
        for (route, tenant, _), n in counts.items():
            totals[(route, tenant)] = totals.get((route, tenant), 0) + n
        limit = self.observer.per_tenant_limit
        unnamed: dict[str, list[str]] = {}
        for route, tenant in sorted(totals, key=lambda k: -totals[k]):
            labelled = self._tenant_labels.setdefault(route, set())
            if tenant not in labelled and len(labelled) < limit:
                unnamed.setdefault(route, []).append(tenant)
        for route, candidates in unnamed.items():
            # Claimed server-wide: the limit holds over all workers, not per worker.
            self._tenant_labels[route] = claim_tenant_labels(
                self.directory, route, candidates, limit
            )
        for (route, tenant, status_class), n in counts.items():
            shown = tenant if tenant in self._tenant_labels[route] else "other"
            metrics.tenant_requests.labels(route, shown, status_class).inc(n)

    def _export_pools(self, metrics: _Metrics, summary: dict[str, Any]) -> None:
        for label, stats in summary["dispatchers"].items():
            metrics.live.labels(label).set(stats["live"])
            metrics.negative.labels(label).set(stats["negative"])
            for field, counter in metrics.pool.items():
                key = (label, field)
                delta = stats[field] - self._last.get(key, 0)
                if delta > 0:
                    counter.labels(label).inc(delta)
                self._last[key] = stats[field]
            times = self.observer.dispatchers[label].creation_times
            histogram = metrics.creation_seconds.labels(label)
            while times:
                histogram.observe(times.popleft())
        registry = summary["registry"]
        if registry is not None:
            if registry["revision"] is not None:
                metrics.revision.set(registry["revision"])
            if registry["snapshot_age"] is not None:
                metrics.snapshot_age.set(registry["snapshot_age"])
            delta = registry["errors"] - self._last.get(("registry", "errors"), 0)
            if delta > 0:
                metrics.refresh_errors.inc(delta)
            self._last[("registry", "errors")] = registry["errors"]

    def _write_status(self, summary: dict[str, Any]) -> None:
        path = self.directory / f"{STATUS_PREFIX}{os.getpid()}.json"
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(summary))
            temporary.replace(path)  # atomic: readers never see half a file
        except OSError:
            pass  # the folder went away: the server is shutting down
