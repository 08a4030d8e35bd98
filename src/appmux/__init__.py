"""appmux: many WSGI applications in one process, dispatched safely and fast.

Drop-in replacements for the dispatchers of Flask's "Application Dispatching"
page, plus static host routing and a general lazy dispatcher:

* :class:`DispatcherMiddleware` — by path prefix (werkzeug's API).
* :class:`SubdomainDispatcher` — one app per subdomain, created on demand.
* :class:`PathDispatcher` — one app per first path segment, with a default.
* :class:`HostDispatcher` — fixed apps by exact or wildcard host name.
* :class:`LazyDispatcher` — one app per key of any key function.
* :class:`TenantDispatcher` — one app per tenant of a :class:`Registry`
  (SQLite or PostgreSQL), followed while the site runs.
"""

from __future__ import annotations

from .host_dispatcher import HostDispatcher
from .keys import SubdomainKey, header_key, host_key, is_safe_key, path_segment_key
from .lazy import LazyDispatcher, PathDispatcher, SubdomainDispatcher
from .mounts import DispatcherMiddleware
from .pool import CreationFailed, InstancePool, PoolStats
from .registry import Registry, TenantDispatcher, TenantRecord

__all__ = [
    "CreationFailed",
    "DispatcherMiddleware",
    "HostDispatcher",
    "InstancePool",
    "LazyDispatcher",
    "PathDispatcher",
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

__version__ = "0.2.0"
