"""The registry's key rule: a raw ``Host`` to a tenant key or an answer. Pure logic.

:class:`TenantHosts` is what a ``TenantDispatcher`` routes by, in either
protocol. It normalizes the host (memoized per raw value), resolves it against
the current :class:`~appmux.registry.snapshot.Snapshot`, and answers what the
registry says of the tenant: ``400`` for a host that is not ours, ``None`` (the
unknown-tenant app) for an unknown key, a ``308`` to the primary host for a
redirecting domain, ``suspended_status`` for a suspended tenant, ``410`` for
an archived one, and ``503`` while no snapshot has been read (or, on demand,
when a miss cannot reach the database).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..core.hosts import HostMemo, parse_host
from ..core.keys import HOST, Reads
from ..core.routing import Answer
from .snapshot import LookupUnavailable, View

__all__ = ["TenantHosts"]


class TenantHosts:
    """Resolve raw hosts against ``snapshot()``, the process's current snapshot."""

    reads: Reads = HOST

    def __init__(
        self,
        snapshot: Callable[[], View | None],
        base_domains: tuple[str, ...],
        *,
        suspended_status: int = 403,
        refresh_interval: float = 1.0,
    ) -> None:
        if not isinstance(suspended_status, int) or not 400 <= suspended_status <= 599:
            raise ValueError(
                f"suspended_status must be a 4xx or 5xx code, not {suspended_status!r}"
            )
        self.base_domains = base_domains
        self._snapshot = snapshot
        self._hosts: HostMemo[str | None] = HostMemo(parse_host)
        self._not_ours = Answer(400, "This site does not serve that host name.")
        self._suspended = Answer(
            suspended_status, "This site is suspended. Please contact its owner."
        )
        self._archived = Answer(410, "This site has been archived.")
        self._starting = Answer(
            503,
            "The site is starting: its tenant registry has not been read yet.",
            retry_after=max(1, math.ceil(refresh_interval)),
        )
        self._unreachable = Answer(
            503,
            "The site's tenant registry cannot be reached. Please try again shortly.",
            retry_after=max(1, math.ceil(refresh_interval)),
        )

    def key_of(self, raw: str) -> str | Answer | None:
        """The active tenant's key, ``None`` for an unknown one, or the answer."""
        snapshot = self._snapshot()
        if snapshot is None:
            return self._starting
        host = self._hosts(raw)
        try:
            match = None if host is None else snapshot.resolve(host, self.base_domains)
        except LookupUnavailable:  # on demand: a miss, and the database is down
            return self._unreachable
        if match is None:
            return self._not_ours
        record = match.record
        if record is None:
            return None
        if match.redirect_to is not None:
            return Answer(308, "Moved permanently.", redirect_host=match.redirect_to)
        if record.status == "suspended":
            return self._suspended
        if record.status == "archived":
            return self._archived
        return record.key
