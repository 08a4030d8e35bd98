"""An immutable view of the registry, and resolving a host against it: pure logic.

A :class:`Snapshot` is built once per registry revision and then only read, so
requests need no lock and no query. :meth:`Snapshot.resolve` answers "which
tenant does this normalized host name?" in the registry's order:

1. an exact custom domain, else a one-label wildcard custom domain;
2. else ``<key>.<base>`` for one of ``base_domains``, ``<key>`` one label;
3. else the host is not ours (``None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from ..core.hosts import HostTable
from .records import TenantRecord

__all__ = ["DomainRow", "HostMatch", "Snapshot", "changed_keys"]


@dataclass(frozen=True)
class DomainRow:
    """One custom domain of the registry."""

    host: str
    tenant: str
    primary: bool = False
    redirect: bool = False


@dataclass(frozen=True)
class HostMatch:
    """What a host resolved to: a tenant key, and where to redirect, if anywhere.

    ``record`` is ``None`` for a well-formed key the registry does not know.
    """

    key: str
    record: TenantRecord | None
    redirect_to: str | None = None


class Snapshot:
    """Tenants and domains at one revision; read-only once built."""

    __slots__ = ("revision", "tenants", "domains", "_custom")

    def __init__(
        self, revision: int, tenants: Iterable[TenantRecord], domains: Iterable[DomainRow]
    ) -> None:
        rows = sorted(domains, key=lambda row: row.host)
        by_tenant: dict[str, list[DomainRow]] = {}
        for row in rows:
            by_tenant.setdefault(row.tenant, []).append(row)
        records: dict[str, TenantRecord] = {}
        for record in tenants:
            own = by_tenant.get(record.key, [])
            primary = next((row.host for row in own if row.primary), None)
            records[record.key] = replace(
                record, domains=tuple(row.host for row in own), primary_host=primary
            )
        self.revision = revision
        #: Every tenant by key.
        self.tenants: Mapping[str, TenantRecord] = MappingProxyType(records)
        #: Every custom domain by host (wildcards as ``*.parent``).
        self.domains: Mapping[str, DomainRow] = MappingProxyType({r.host: r for r in rows})
        self._custom: HostTable[DomainRow] = HostTable(
            {row.host: row for row in rows if row.tenant in records}, normalized=True
        )

    def resolve(self, host: str, base_domains: tuple[str, ...]) -> HostMatch | None:
        """The tenant a normalized ``host`` names, or ``None`` if it is not ours."""
        row = self._custom.lookup(host)
        if row is None:
            label, dot, parent = host.partition(".")
            if dot and label and parent in base_domains:
                return HostMatch(label, self.tenants.get(label))
            return None
        record = self.tenants[row.tenant]
        redirect_to = None
        if row.redirect and record.primary_host and record.primary_host != host:
            redirect_to = record.primary_host
        return HostMatch(row.tenant, record, redirect_to)

    def __len__(self) -> int:
        return len(self.tenants)


def changed_keys(old: Snapshot | None, new: Snapshot) -> list[str]:
    """The tenant keys whose apps ``new`` makes stale: changed, removed or added.

    Added keys are listed because a process may remember them as unknown. From
    no snapshot at all, every key of ``new`` is listed. Domain-only changes
    list nothing: an app does not depend on the hosts that reach it.
    """
    if old is None:
        return list(new.tenants)
    stale = [
        key
        for key, record in old.tenants.items()
        if (current := new.tenants.get(key)) is None or not record.same_app(current)
    ]
    stale += [key for key in new.tenants if key not in old.tenants]
    return stale
