"""The on-demand registry view: memory that follows the live tenants, not the registry.

With ``load = "on-demand"`` a process holds only the records of the tenants it
served recently (at most ``record_cache`` of them) and fetches a miss with one
indexed query (:meth:`~appmux.registry.Registry.lookup`), single-flight per
host. Two :class:`~appmux.registry.membership.Membership` filters, of every
tenant key and every custom domain, answer invented hosts without a query:
only a name the filters may hold is looked up. The refresher applies the
change log to the held records only, and adds new names to the filters.

During a database outage the held tenants keep serving; a miss that needs a
query raises :class:`~appmux.registry.snapshot.LookupUnavailable` (a ``503``
with ``Retry-After``, never a ``404``).

Reads on a hit take no lock: the held records are an immutable
:class:`~appmux.registry.snapshot.Snapshot`, swapped (copy-on-write, one
shard) when a fetch or a change adds to it. Only misses and the refresher lock.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

from ..core.pool import WouldCreate
from .membership import Membership
from .records import TenantRecord
from .snapshot import ChangeSet, DomainRow, HostMatch, LookupUnavailable, Snapshot, View
from .store import TIMEOUT, Registry, RegistryUnavailable

__all__ = ["OnDemandView"]

#: Held records beyond the cache's size are dropped this many at a time (the least used).
EVICT_FRACTION = 0.1
#: The host memo holds at most this many hosts per held record.
HOSTS_PER_RECORD = 4
#: A fetch read before the view's revision is retried this many times.
FETCH_TRIES = 3

# A host the registry resolved to no tenant (a filter's false positive).
_NOBODY = ""


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class OnDemandView:
    """The records of recently served tenants, fetched on a miss; a :class:`View`.

    :param registry: the registry to fetch from.
    :param base_domains: the dispatcher's base domains (to forget ``<key>.<base>``
        hosts when their key changes).
    :param record_cache: how many tenants' records to hold at most.
    """

    def __init__(
        self, registry: Registry, base_domains: tuple[str, ...], record_cache: int
    ) -> None:
        if not isinstance(record_cache, int) or isinstance(record_cache, bool) or record_cache < 1:
            raise ValueError(f"record_cache must be a positive integer, not {record_cache!r}")
        self.registry = registry
        self.base_domains = base_domains
        self.record_cache = record_cache
        self.revision = 0
        self._held = Snapshot(0, (), ())
        self._keys = Membership(0)
        self._domains = Membership(0)
        # host -> the key it resolved to, or _NOBODY; filled on a resolution, emptied by changes
        self._hosts: dict[str, str] = {}
        self._used: dict[str, int] = {}
        self._tick = itertools.count()
        self._stale: list[str] = []
        self._lock = threading.Lock()
        self._flights: dict[str, threading.Event] = {}
        #: Lookups this process made (misses that needed the database).
        self.lookups = 0

    # -- reading ---------------------------------------------------------------------------

    def resolve(self, host: str, base_domains: tuple[str, ...]) -> HostMatch | None:
        """The tenant a normalized ``host`` names; a query only on a true miss."""
        revision = self.revision
        known = self._hosts.get(host)
        if known is not None:
            if known is _NOBODY:
                return _nobody(host, base_domains)
            match = self._held.resolve(host, base_domains)
            if match is not None and match.key == known and match.record is not None:
                self._used[known] = next(self._tick)
                return match
            return self._fetch(host, base_domains)  # evicted, or changed meanwhile
        label, dot, parent = host.partition(".")
        domains = self._domains
        if host in domains or (dot and f"*.{parent}" in domains):
            return self._fetch(host, base_domains)
        if not (dot and label and parent in base_domains):
            return None  # no custom domain, no base domain: not ours, and no query
        if label not in self._keys:
            return HostMatch(label, None)  # an invented subdomain: unknown, and no query
        record = self._held.tenants.get(label)
        if record is None:
            return self._fetch(host, base_domains)
        self._used[label] = next(self._tick)
        self._remember(host, label, revision)
        return HostMatch(label, record)

    def record(self, key: str) -> TenantRecord | None:
        """The tenant ``key``'s record, fetched if it is not held (a live app's, evicted)."""
        record = self._held.tenants.get(key)
        if record is not None:
            return record
        if _on_event_loop():
            raise WouldCreate(key)  # an ASGI caller asks again from a thread
        found = self._lookup(None, key)
        return None if found is None else found.tenants.get(key)

    def _fetch(self, host: str, base_domains: tuple[str, ...]) -> HostMatch | None:
        """Look ``host`` up in the registry, once for every request waiting on it."""
        if _on_event_loop():
            raise WouldCreate(host)  # an ASGI caller asks again from a thread
        with self._lock:
            flight = self._flights.get(host)
            leading = flight is None
            if leading:
                flight = self._flights[host] = threading.Event()
        assert flight is not None
        if not leading:
            flight.wait(TIMEOUT)
            known = self._hosts.get(host)
            if known is _NOBODY:
                return _nobody(host, base_domains)
            match = self._held.resolve(host, base_domains)
            if match is not None and match.key == known:
                return match
            raise LookupUnavailable(f"the registry lookup of {host} did not finish")
        try:
            label, dot, parent = host.partition(".")
            key = label if dot and label and parent in base_domains else None
            found = self._lookup(host, key)
            if found is None:
                return _nobody(host, base_domains)
            return found.resolve(host, base_domains)
        finally:
            with self._lock:
                del self._flights[host]
            flight.set()

    def _lookup(self, host: str | None, key: str | None) -> Snapshot | None:
        """One query; holds what it found. ``None``: the host names no tenant."""
        for _ in range(FETCH_TRIES):
            try:
                looked = self.registry.lookup(host, key)
            except RegistryUnavailable as exc:
                raise LookupUnavailable(str(exc)) from None
            self.lookups += 1
            with self._lock:
                if looked.revision < self.revision:
                    continue  # older than what the refresher applied: read again
                if looked.found is None:
                    if host is not None:
                        self._hosts[host] = _NOBODY
                    return None
                self._hold(looked.found)
                (found_key,) = looked.found.tenants
                if host is not None:
                    self._hosts[host] = found_key
                return looked.found
        raise LookupUnavailable("the registry changed faster than it could be read")

    def _remember(self, host: str, key: str, revision: int) -> None:
        with self._lock:
            if revision == self.revision:  # no change applied since the answer was read
                self._hosts[host] = key

    def _hold(self, found: Snapshot) -> None:
        """Hold the tenant of ``found`` (with the lock held), replacing an older copy."""
        held = self._held
        (record,) = found.tenants.values()
        old = held.tenants.get(record.key)
        domains: dict[str, DomainRow | None] = {}
        if old is not None:
            domains.update(dict.fromkeys(old.domains))
        for host in record.domains:
            domains[host] = found.domain(host)
        self._held = held.evolve(ChangeSet(held.revision, {record.key: record}, domains))
        self._used[record.key] = next(self._tick)
        if len(self._held) > self.record_cache:
            self._evict()

    def _evict(self) -> None:
        """Drop the least recently used tenth of the held records (the lock held)."""
        held = self._held
        count = max(1, int(self.record_cache * EVICT_FRACTION))
        oldest = sorted(held.tenants, key=lambda key: self._used.get(key, -1))[:count]
        tenants: dict[str, TenantRecord | None] = dict.fromkeys(oldest)
        domains: dict[str, DomainRow | None] = {}
        for key in oldest:
            domains.update(dict.fromkeys(held.tenants[key].domains))
            self._used.pop(key, None)
        self._held = held.evolve(ChangeSet(held.revision, tenants, domains))
        if len(self._hosts) > HOSTS_PER_RECORD * self.record_cache:
            self._hosts.clear()

    # -- following the registry ------------------------------------------------------------

    def reload(self) -> OnDemandView:
        """Read every key and domain into new filters, and the held tenants afresh."""
        counts = self.registry.counts()
        expected_keys = sum(counts["tenants"].values())
        keys, domains = Membership(expected_keys), Membership(counts["domains"])
        held = self.registry.names(keys.add, domains.add, list(self._held.tenants))
        with self._lock:
            old = self._held
            self._keys, self._domains = keys, domains
            self._held = held
            self._hosts.clear()
            self.revision = held.revision
            self._stale = [
                key
                for key, record in old.tenants.items()
                if (current := held.tenants.get(key)) is None or not record.same_app(current)
            ]
        return self

    def evolve(self, changes: ChangeSet) -> OnDemandView:
        """Apply ``changes`` to the held records and the filters; returns this view."""
        with self._lock:
            held = self._held
            for key, row in changes.tenants.items():
                if row is not None:
                    self._keys.add(key)
                for base in self.base_domains:
                    self._hosts.pop(f"{key}.{base}", None)
            parents = set()
            for host, domain in changes.domains.items():
                if domain is not None:
                    self._domains.add(host)
                self._hosts.pop(host, None)
                if host.startswith("*."):
                    parents.add(host[2:])
            if parents:  # a wildcard changed: forget the hosts it may now (not) name
                for host in [h for h in self._hosts if h.partition(".")[2] in parents]:
                    self._hosts.pop(host, None)
            tenants = {k: v for k, v in changes.tenants.items() if k in held.tenants}
            domains = {
                host: row
                for host, row in changes.domains.items()
                if held.domain(host) is not None or (row is not None and row.tenant in held.tenants)
            }
            if tenants or domains:
                self._held = held.evolve(ChangeSet(changes.revision, tenants, domains))
            self.revision = changes.revision
            self._stale = list(changes.tenants)
        return self

    def stale_after(self, old: View | None) -> list[str]:
        """The keys the last :meth:`evolve` or :meth:`reload` made stale."""
        return self._stale

    @property
    def held(self) -> Snapshot:
        """The held records, as a snapshot of them alone."""
        return self._held

    def __len__(self) -> int:
        return len(self._held)


def _nobody(host: str, base_domains: tuple[str, ...]) -> HostMatch | None:
    """What a host that names no tenant is: an unknown key under a base domain, or not ours."""
    label, dot, parent = host.partition(".")
    if dot and label and parent in base_domains:
        return HostMatch(label, None)
    return None
