"""Seeing inside a running site: metrics, the status page, the admin listener.

* :mod:`~appmux.observe.meter` — per-request counting, cheap enough for every request.
* :mod:`~appmux.observe.observer` — one process's dispatchers, registry and totals.
* :mod:`~appmux.observe.exporter` — the thread that feeds prometheus-client and
  writes the process's status file.
* :mod:`~appmux.observe.status` and :mod:`~appmux.observe.page` — the whole
  server's view, merged from every worker, and its HTML page.
* :mod:`~appmux.observe.admin` — the listener for ``/metrics`` and ``/status``.
"""

from __future__ import annotations

from .meter import Meter, MeteredApp, RouteLabel
from .observer import Observer

__all__ = ["Meter", "MeteredApp", "Observer", "RouteLabel"]
