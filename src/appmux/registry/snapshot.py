"""An immutable view of the registry, and resolving a host against it: pure logic.

A :class:`Snapshot` is built once per registry revision and then only read, so
requests need no lock and no query. :meth:`Snapshot.resolve` answers "which
tenant does this normalized host name?" in the registry's order:

1. an exact custom domain, else a one-label wildcard custom domain;
2. else ``<key>.<base>`` for one of ``base_domains``, ``<key>`` one label;
3. else the host is not ours (``None``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .records import TenantRecord, stored_record
from .shards import ShardedMap

__all__ = [
    "ChangeSet",
    "DomainRow",
    "DomainTuple",
    "HostMatch",
    "LookupUnavailable",
    "Snapshot",
    "View",
    "changed_keys",
]

#: A custom domain as a store reads it: ``(host, tenant, primary, redirect)``.
DomainTuple = tuple[str, str, bool, bool]
#: A tenant joined with one of its domains, as a whole read gets it:
#: ``(key, status, reason, config_json, rev, host, primary, redirect)``.
JoinedRow = tuple[
    str,
    str,
    "str | None",
    "str | Mapping[str, Any]",
    int,
    "str | None",
    "bool | None",
    "bool | None",
]


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


class LookupUnavailable(Exception):
    """A view had to ask the registry about a host and could not reach it."""


class View(Protocol):
    """What a process serves its registry tenants from: a :class:`Snapshot` (every
    tenant), or an on-demand view (the tenants it served recently)."""

    @property
    def revision(self) -> int:
        """The registry revision this view is at."""

    def resolve(self, host: str, base_domains: tuple[str, ...]) -> HostMatch | None:
        """The tenant a normalized host names (may raise :class:`LookupUnavailable`)."""

    def record(self, key: str) -> TenantRecord | None:
        """The tenant ``key``'s record, or ``None``."""

    def evolve(self, changes: ChangeSet) -> View:
        """The view with ``changes`` applied."""

    def stale_after(self, old: View | None) -> Iterable[str]:
        """The keys whose apps this view makes stale, coming after ``old``."""

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class ChangeSet:
    """What changed in the registry after a process's revision, up to ``revision``.

    ``tenants`` maps each changed tenant key to its row as stored now (domains
    not read), or to ``None`` if it is gone; ``domains`` the same for custom
    domains. Read from the registry's change log by
    :meth:`~appmux.registry.Registry.changes_since`.
    """

    revision: int
    tenants: Mapping[str, TenantRecord | None]
    domains: Mapping[str, DomainRow | None]

    def __len__(self) -> int:
        return len(self.tenants) + len(self.domains)


class Snapshot:
    """Tenants and domains at one revision; read-only once built.

    Built whole from a registry read, or derived from its predecessor by
    :meth:`evolve` with one change log's worth of rows: the derived snapshot
    shares every unchanged record and shard with its predecessor (see
    :class:`~appmux.registry.shards.ShardedMap`), so a change costs what it
    touches, not what the registry holds.
    """

    __slots__ = ("revision", "tenants", "_hosts", "_redirects", "previous", "touched")

    revision: int
    #: Every tenant by key.
    tenants: ShardedMap[TenantRecord]
    #: The revision this snapshot was derived from by :meth:`evolve` (``None``: read whole).
    previous: int | None
    #: With ``previous``: the tenant keys whose rows the change touched.
    touched: frozenset[str]

    def __init__(
        self, revision: int, tenants: Iterable[TenantRecord], domains: Iterable[DomainRow]
    ) -> None:
        own: dict[str, list[DomainRow]] = {}
        for row in domains:
            own.setdefault(row.tenant, []).append(row)
        rows: list[JoinedRow] = []
        for record in tenants:
            fields = (record.key, record.status, record.reason, record._config, record.rev)
            rows += [
                (*fields, row.host, row.primary, row.redirect) for row in own.get(record.key, ())
            ] or [(*fields, None, None, None)]
        self._fill(revision, rows)

    @classmethod
    def from_rows(cls, revision: int, rows: Collection[JoinedRow]) -> Snapshot:
        """A snapshot from a store's joined rows, the fast path of a whole read.

        Each row is ``(key, status, reason, config_json, rev, host, primary,
        redirect)``: a tenant and one of its domains, or ``None`` for the last
        three when it has none (a ``LEFT JOIN``). Equal status and config
        strings are stored once.
        """
        snapshot = cls.__new__(cls)
        snapshot._fill(revision, rows)
        return snapshot

    def _fill(self, revision: int, rows: Collection[JoinedRow]) -> None:
        records: list[dict[str, TenantRecord]] = ShardedMap.empty_shards(len(rows))
        mask = len(records) - 1
        hosts: list[dict[str, str]] = ShardedMap.empty_shards(len(rows))
        host_mask = len(hosts) - 1
        redirects: dict[str, bool] = {}
        texts: dict[str, str] = {}
        for key, status, reason, config, rev, host, primary, redirect in rows:
            status = texts.setdefault(status, status)
            if type(config) is str:  # a record's config may be decoded already
                config = texts.setdefault(config, config)
            shard = records[hash(key) & mask]
            if host is None:
                shard[key] = stored_record(key, status, reason, config, rev)
                continue
            hosts[hash(host) & host_mask][host] = key  # the key's string, shared
            if redirect:
                redirects[host] = True
            earlier = shard.get(key)
            if earlier is None:  # the common case: the tenant's first (or only) domain
                shard[key] = stored_record(
                    key, status, reason, config, rev, host, host if primary else None
                )
            else:
                domains = tuple(sorted((*earlier.domains, host)))
                first = host if primary else earlier.primary_host
                shard[key] = stored_record(key, status, reason, config, rev, domains, first)
        self._set(
            revision,
            ShardedMap.of_shards(records),
            ShardedMap.of_shards(hosts),
            ShardedMap(redirects),
            None,
            frozenset(),
        )

    def _set(
        self,
        revision: int,
        tenants: ShardedMap[TenantRecord],
        hosts: ShardedMap[str],
        redirects: ShardedMap[bool],
        previous: int | None,
        touched: frozenset[str],
    ) -> None:
        self.revision = revision
        self.tenants = tenants
        self._hosts = hosts
        self._redirects = redirects
        self.previous = previous
        self.touched = touched

    @property
    def domains(self) -> Mapping[str, DomainRow]:
        """Every custom domain by host (wildcards as ``*.parent``), made on access."""
        return _Domains(self)

    def domain(self, host: str) -> DomainRow | None:
        """The custom domain ``host`` (exactly as stored), or ``None``."""
        key = self._hosts.get(host)
        if key is None:
            return None
        record = self.tenants[key]
        return DomainRow(host, key, record.primary_host == host, host in self._redirects)

    def resolve(self, host: str, base_domains: tuple[str, ...]) -> HostMatch | None:
        """The tenant a normalized ``host`` names, or ``None`` if it is not ours."""
        hosts = self._hosts
        matched = host
        key = hosts.get(host)
        if key is None:
            label, dot, parent = host.partition(".")
            if not dot or not label:
                return None
            matched = "*." + parent
            key = hosts.get(matched)
            if key is None:
                if parent in base_domains:
                    return HostMatch(label, self.tenants.get(label))
                return None
        record = self.tenants[key]
        redirect_to = None
        if matched in self._redirects and record.primary_host and record.primary_host != host:
            redirect_to = record.primary_host
        return HostMatch(key, record, redirect_to)

    def evolve(self, changes: ChangeSet) -> Snapshot:
        """This snapshot with ``changes`` applied (the current rows of what they touched).

        A changed tenant's domains are not read: they come from here and
        ``changes.domains``. Costs what the change touched.
        """
        revision, tenants, domains = changes.revision, changes.tenants, changes.domains
        old_tenants = self.tenants
        host_changes: dict[str, str | None] = {}
        redirect_changes: dict[str, bool | None] = {}
        affected = set(tenants)
        for host, row in domains.items():
            owner = self._hosts.get(host)
            if owner is not None:
                affected.add(owner)
            if row is not None:
                affected.add(row.tenant)
            host_changes[host] = None
            redirect_changes[host] = None
        changed_rows = {host: row for host, row in domains.items() if row is not None}
        record_changes: dict[str, TenantRecord | None] = {}
        for key in affected:
            old = old_tenants.get(key)
            base = tenants.get(key, old)
            if base is None:
                record_changes[key] = None
                if old is not None:  # its domains went with it
                    for host in old.domains:
                        host_changes.setdefault(host, None)
                continue
            rows: list[DomainTuple] = []
            if old is not None:
                rows += [
                    (host, key, old.primary_host == host, host in self._redirects)
                    for host in old.domains
                    if host not in domains
                ]
            rows += [
                (row.host, key, row.primary, row.redirect)
                for row in changed_rows.values()
                if row.tenant == key
            ]
            record = base.with_domains(*_domains_of(rows))
            record_changes[key] = record
            for host, _tenant, _primary, redirect in rows:
                host_changes[host] = record.key
                redirect_changes[host] = True if redirect else None
        new = Snapshot.__new__(Snapshot)
        new._set(
            revision,
            old_tenants.evolve(record_changes),
            self._hosts.evolve(host_changes),
            self._redirects.evolve(redirect_changes),
            self.revision,
            frozenset(tenants),
        )
        return new

    def record(self, key: str) -> TenantRecord | None:
        """The tenant ``key``'s record, or ``None``."""
        return self.tenants.get(key)

    def stale_after(self, old: View | None) -> list[str]:
        """The keys whose apps this snapshot makes stale after ``old`` (``changed_keys``)."""
        return changed_keys(old if isinstance(old, Snapshot) else None, self)

    def __len__(self) -> int:
        return len(self.tenants)


def _domains_of(rows: list[DomainTuple]) -> tuple[tuple[str, ...], str | None]:
    """A tenant's domain hosts (sorted) and its primary host, from its rows."""
    if len(rows) == 1:
        host = rows[0][0]
        return (host,), host if rows[0][2] else None
    hosts = tuple(sorted(row[0] for row in rows))
    primary = next((row[0] for row in rows if row[2]), None)
    return hosts, primary


class _Domains(Mapping[str, DomainRow]):
    """A snapshot's custom domains as :class:`DomainRow` values, made on access."""

    __slots__ = ("_snapshot",)

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def __getitem__(self, host: str) -> DomainRow:
        row = self._snapshot.domain(host)
        if row is None:
            raise KeyError(host)
        return row

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot._hosts)

    def __len__(self) -> int:
        return len(self._snapshot._hosts)


def changed_keys(old: Snapshot | None, new: Snapshot) -> list[str]:
    """The tenant keys whose apps ``new`` makes stale: changed, removed or added.

    Added keys are listed because a process may remember them as unknown. From
    no snapshot at all, every key of ``new`` is listed. Domain-only changes
    list nothing: an app does not depend on the hosts that reach it. A
    snapshot derived from ``old`` by :meth:`Snapshot.evolve` is compared on
    the keys its change touched only.
    """
    if old is None:
        return list(new.tenants)
    if new.previous is not None and new.previous == old.revision:
        candidates: Iterable[str] = new.touched
    else:
        candidates = set(old.tenants).union(new.tenants)
    stale = []
    for key in candidates:
        before, after = old.tenants.get(key), new.tenants.get(key)
        if before is None or after is None or not before.same_app(after):
            stale.append(key)
    return stale
