"""The ASGI layer: the same dispatchers as ``appmux.wsgi``, for ASGI servers.

Same names, same constructor arguments, the same routing decisions from the
same core. Scope paths follow the current ASGI convention: ``path`` and
``raw_path`` stay whole, a mount prefix or tenant segment is appended to
``root_path``. Every app routed to, or returned by a factory, may be ASGI or
WSGI (a WSGI app runs in the process's one shared thread pool). Each
dispatcher answers the server's lifespan scope by starting the ASGI apps
below it; websockets are routed exactly as HTTP requests are.
"""

from __future__ import annotations

from .cascade import Cascade, KeepPrefix
from .hosts import HostDispatcher
from .lazy import LazyDispatcher, PathDispatcher, SubdomainDispatcher
from .limit import ConcurrencyLimit
from .mounts import DispatcherMiddleware
from .nodes import Node
from .tenants import TenantDispatcher

__all__ = [
    "Cascade",
    "ConcurrencyLimit",
    "DispatcherMiddleware",
    "HostDispatcher",
    "KeepPrefix",
    "LazyDispatcher",
    "Node",
    "PathDispatcher",
    "SubdomainDispatcher",
    "TenantDispatcher",
]
