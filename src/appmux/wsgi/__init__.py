"""The WSGI layer: thin dispatchers over the core.

Each reads the raw value its rule names from the environ, asks the core, and
applies the answer: moves the consumed path to ``SCRIPT_NAME``, serves the app
(counting it in flight where it must be closed safely), or answers with the
status the core chose.

* :class:`DispatcherMiddleware` — by path prefix (werkzeug's API).
* :class:`HostDispatcher` — fixed apps by exact or wildcard host.
* :class:`LazyDispatcher`, :class:`SubdomainDispatcher`, :class:`PathDispatcher`
  — one app per key, created on first request.
* :class:`ConcurrencyLimit` — a cap on one app's requests in flight.
"""

from __future__ import annotations

from .cascade import Cascade, KeepPrefix
from .hosts import HostDispatcher
from .lazy import LazyDispatcher, PathDispatcher, SubdomainDispatcher
from .limit import ConcurrencyLimit
from .mounts import DispatcherMiddleware

__all__ = [
    "Cascade",
    "ConcurrencyLimit",
    "DispatcherMiddleware",
    "HostDispatcher",
    "KeepPrefix",
    "LazyDispatcher",
    "PathDispatcher",
    "SubdomainDispatcher",
]
