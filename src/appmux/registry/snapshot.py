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

from .records import TenantRecord

__all__ = ["DomainRow", "HostMatch", "Snapshot"]


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

    __slots__ = ("revision", "tenants", "domains", "_exact", "_wildcard")

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
        exact: dict[str, DomainRow] = {}
        wildcard: dict[str, DomainRow] = {}
        for row in rows:
            if row.tenant in records:
                if row.host.startswith("*."):
                    wildcard[row.host[2:]] = row
                else:
                    exact[row.host] = row
        self.revision = revision
        #: Every tenant by key.
        self.tenants: Mapping[str, TenantRecord] = MappingProxyType(records)
        #: Every custom domain by host (wildcards as ``*.parent``).
        self.domains: Mapping[str, DomainRow] = MappingProxyType({r.host: r for r in rows})
        self._exact = exact
        self._wildcard = wildcard

    def resolve(self, host: str, base_domains: tuple[str, ...]) -> HostMatch | None:
        """The tenant a normalized ``host`` names, or ``None`` if it is not ours."""
        row = self._exact.get(host)
        if row is None:
            label, dot, parent = host.partition(".")
            if dot:
                row = self._wildcard.get(parent)
                if row is None and parent in base_domains and label:
                    return HostMatch(label, self.tenants.get(label))
        if row is None:
            return None
        record = self.tenants[row.tenant]
        redirect_to = None
        if row.redirect and record.primary_host and record.primary_host != host:
            redirect_to = record.primary_host
        return HostMatch(row.tenant, record, redirect_to)

    def __len__(self) -> int:
        return len(self.tenants)
