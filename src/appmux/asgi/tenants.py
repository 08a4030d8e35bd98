"""Registry tenants, the ASGI form of :class:`appmux.registry.TenantDispatcher`.

The same snapshot, host resolution, answers and refresher; the registry is
read at lifespan startup (in a thread), or on the first request that needs it.
A tenant's app may be ASGI or WSGI; an ASGI tenant's lifespan runs per instance.
"""

from __future__ import annotations

from ..interop.threads import run_in_thread
from ..registry.dispatcher import RegistryTenants
from .lazy import LazyDispatcher

__all__ = ["TenantDispatcher"]


class TenantDispatcher(RegistryTenants, LazyDispatcher):
    """Serve one app per registry tenant (arguments as in the WSGI form)."""

    async def startup(self) -> None:
        """Read the registry and follow it, then start the unknown-tenant app."""
        await run_in_thread(self.start)
        await super().startup()

    async def shutdown_instances(self) -> None:
        """Stop following the registry; shut every tenant instance down."""
        await run_in_thread(self.refresher.stop)
        await super().shutdown_instances()
