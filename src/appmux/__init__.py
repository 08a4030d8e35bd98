"""appmux: many WSGI applications in one process, dispatched safely and fast.

Drop-in replacements for the dispatchers of Flask's "Application Dispatching"
page, plus static host routing and a general lazy dispatcher:

* :class:`DispatcherMiddleware` — by path prefix (werkzeug's API).
* :class:`SubdomainDispatcher` — one app per subdomain, created on demand.
* :class:`PathDispatcher` — one app per first path segment, with a default.
* :class:`HostDispatcher` — fixed apps by exact or wildcard host name.
* :class:`LazyDispatcher` — one app per key of any key function.
* :class:`TenantDispatcher` — one app per tenant of a :class:`~appmux.registry.Registry`
  (SQLite or PostgreSQL), followed while the site runs.

The layers are described in ``ARCHITECTURE.md``: ``appmux.core`` (pure
routing rules and the pool), ``appmux.wsgi``, ``appmux.registry``,
``appmux.observe``, ``appmux.serve`` and ``appmux.cli``.
"""

from __future__ import annotations

from .core.keys import is_safe_key
from .core.pool import CreationFailed, InstancePool, PoolOptions, PoolStats
from .registry import Registry, TenantDispatcher, TenantRecord
from .wsgi import (
    Cascade,
    ConcurrencyLimit,
    DispatcherMiddleware,
    HostDispatcher,
    KeepPrefix,
    LazyDispatcher,
    PathDispatcher,
    SubdomainDispatcher,
)
from .wsgi.keys import SubdomainKey, header_key, host_key, path_segment_key

__all__ = [
    "Cascade",
    "ConcurrencyLimit",
    "CreationFailed",
    "DispatcherMiddleware",
    "HostDispatcher",
    "InstancePool",
    "KeepPrefix",
    "LazyDispatcher",
    "PathDispatcher",
    "PoolOptions",
    "PoolStats",
    "Registry",
    "SubdomainDispatcher",
    "SubdomainKey",
    "TenantDispatcher",
    "TenantRecord",
    "header_key",
    "host_key",
    "is_safe_key",
    "path_segment_key",
]

__version__ = "0.3.0"
