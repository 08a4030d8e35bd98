"""The tenant registry: tenants and custom domains managed while the site runs.

* :class:`Registry` — the store (SQLite by default, PostgreSQL to scale out).
* :class:`TenantRecord` — one tenant, as every process sees it.
* :class:`TenantDispatcher` — the WSGI app that serves tenants from the registry,
  following it from a background refresher with no query per request.
"""

from __future__ import annotations

from .dispatcher import TenantDispatcher
from .records import STATUSES, TenantRecord
from .snapshot import DomainRow, HostMatch, Snapshot
from .store import SCHEMA_VERSION, Registry, RegistryUnavailable, SchemaTooNew, mask_url

__all__ = [
    "SCHEMA_VERSION",
    "STATUSES",
    "DomainRow",
    "HostMatch",
    "Registry",
    "RegistryUnavailable",
    "SchemaTooNew",
    "Snapshot",
    "TenantDispatcher",
    "TenantRecord",
    "mask_url",
]
