"""The registry's storage: SQLite (stdlib) or PostgreSQL (psycopg 3), one API.

:class:`Registry` is the only code that talks to the database. Every write is
one transaction that also bumps the registry's revision (and, on PostgreSQL,
sends a ``NOTIFY`` that is delivered at commit), so a process can tell whether
anything changed with one cheap query: :meth:`Registry.revision`.

Nothing connects until first use: ``Registry(url)`` with an unreachable
database constructs anyway; a malformed URL is a :class:`ValueError` at once.
A process that forks (a pre-fork server) reopens its connection in the child.
"""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from .records import (
    TenantRecord,
    check_config,
    check_domain,
    check_key,
    check_status,
    stored_record,
)
from .snapshot import ChangeSet, DomainRow, Snapshot

__all__ = [
    "CHANNEL",
    "LOG_RETENTION",
    "SCHEMA_VERSION",
    "Lookup",
    "Registry",
    "RegistryUnavailable",
    "SchemaTooNew",
    "mask_url",
]

logger = logging.getLogger("appmux")

#: The schema this code reads and writes (2: the change log).
SCHEMA_VERSION = 2
#: Seconds of change log the writers keep at least (``[registry] log_retention``).
LOG_RETENTION = 24 * 3600.0
#: Rows per batch when a whole table is streamed.
_STREAM_BATCH = 10_000
#: Names per ``IN (...)`` list (SQLite's default limit on parameters is far above).
_IN_CHUNK = 500
#: The PostgreSQL channel every write notifies.
CHANNEL = "appmux_registry"
#: Seconds a connection attempt or a locked SQLite database may take.
TIMEOUT = 5

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS appmux_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        schema_version INTEGER NOT NULL,
        revision BIGINT NOT NULL,
        log_floor BIGINT NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS appmux_tenants (
        key TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'archived')),
        reason TEXT,
        config TEXT NOT NULL,
        rev BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS appmux_domains (
        host TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES appmux_tenants (key) ON DELETE CASCADE,
        is_primary BOOLEAN NOT NULL,
        redirect BOOLEAN NOT NULL
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS appmux_domains_one_primary
        ON appmux_domains (tenant) WHERE is_primary""",
    "CREATE INDEX IF NOT EXISTS appmux_domains_tenant ON appmux_domains (tenant)",
    # One row per tenant or domain a write touched (removals included), at the
    # write's revision: what a process applies to catch up.
    """CREATE TABLE IF NOT EXISTS appmux_changes (
        revision BIGINT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('tenant', 'domain')),
        name TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (revision, kind, name)
    )""",
    "CREATE INDEX IF NOT EXISTS appmux_changes_at ON appmux_changes (at)",
    f"""INSERT INTO appmux_meta (id, schema_version, revision) VALUES (1, {SCHEMA_VERSION}, 1)
        ON CONFLICT (id) DO NOTHING""",
]


# Every tenant with each of its domains (or none): one row per pair.
_WHOLE_READ = (
    "SELECT t.key, t.status, t.reason, t.config, t.rev, d.host, d.is_primary, d.redirect"
    " FROM appmux_tenants t LEFT JOIN appmux_domains d ON d.tenant = t.key"
)

# The tenant a host names, by the registry's order (an exact custom domain, a
# wildcard one, a subdomain's key), with each of its domains; always one row at
# least, whose first column is the revision read (a single statement: atomic).
_LOOKUP = (
    "SELECT (SELECT revision FROM appmux_meta WHERE id = 1), m.rank,"
    " t.key, t.status, t.reason, t.config, t.rev, d.host, d.is_primary, d.redirect"
    " FROM (SELECT 1 AS one) base"
    " LEFT JOIN (SELECT tenant AS key, 0 AS rank FROM appmux_domains WHERE host = ?"
    " UNION ALL SELECT tenant AS key, 1 AS rank FROM appmux_domains WHERE host = ?"
    " UNION ALL SELECT key, 2 AS rank FROM appmux_tenants WHERE key = ?"
    " ORDER BY rank LIMIT 1) m ON 1 = 1"
    " LEFT JOIN appmux_tenants t ON t.key = m.key"
    " LEFT JOIN appmux_domains d ON d.tenant = t.key"
)

# From schema 1 (no change log): the log starts at the current revision.
_UPGRADE_FROM_1 = [
    "ALTER TABLE appmux_meta ADD COLUMN log_floor BIGINT NOT NULL DEFAULT 0",
    "UPDATE appmux_meta SET log_floor = revision, schema_version = 2 WHERE id = 1",
]


class RegistryUnavailable(Exception):
    """The registry's database cannot be reached or read (one-line reason)."""


class SchemaTooNew(Exception):
    """The database's schema is newer than this code understands."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the registry's schema is version {found}, newer than this appmux"
            f" understands (version {SCHEMA_VERSION}): upgrade appmux"
        )
        self.found = found


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


class _Queries(Protocol):
    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class _Backend(Protocol):
    notifies: bool
    may_create: bool

    def transaction(self, write: bool) -> Any: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]: ...

    def notify(self, q: _Queries, revision: int) -> None: ...

    def listener(self) -> Listener | None: ...

    def close(self) -> None: ...


class Listener(Protocol):
    """A connection that waits for change notifications (PostgreSQL)."""

    def wait(self, timeout: float) -> int | None:
        """Block up to ``timeout`` seconds; the revision a write announced, if any."""

    def close(self) -> None:
        """Close the connection."""


@dataclass(frozen=True)
class Lookup:
    """What :meth:`Registry.lookup` found, at ``revision``.

    ``found`` is a snapshot of the one tenant the host names (with its
    domains), or ``None``; ``matched`` the custom domain that named it
    (``None``: its key did).
    """

    revision: int
    found: Snapshot | None
    matched: str | None


class _Writing:
    """One write transaction: its queries, its revision, and the change log it adds to."""

    __slots__ = ("q", "revision", "changes")

    def __init__(self, q: _Queries, revision: int) -> None:
        self.q = q
        self.revision = revision
        self.changes: set[tuple[str, str]] = set()

    def changed(self, kind: str, name: str) -> None:
        """Log that the tenant (``kind="tenant"``) or domain ``name`` changed."""
        self.changes.add((kind, name))


class Registry:
    """Tenants and their domains in SQLite or PostgreSQL.

    ``url`` is ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` or
    ``postgresql://user:password@host:port/dbname``. ``listen=False`` makes
    refreshers poll a PostgreSQL registry instead of waiting on ``NOTIFY``
    (for a connection pooler that drops ``LISTEN``). Every write appends what
    it touched to the change log; this process's writes prune the log's rows
    older than ``log_retention`` seconds. Every method raises
    :class:`RegistryUnavailable` when the database cannot be reached,
    :class:`SchemaTooNew` for a schema newer than the code, and
    :class:`ValueError` (with the reason) for input the rules refuse.
    """

    def __init__(
        self, url: str, *, listen: bool = True, log_retention: float = LOG_RETENTION
    ) -> None:
        if not isinstance(url, str):
            raise ValueError(f"a registry URL must be a string, not {type(url).__name__}")
        if (
            not isinstance(log_retention, int | float)
            or isinstance(log_retention, bool)
            or not log_retention > 0
        ):
            raise ValueError(
                f"log_retention must be a positive number of seconds, not {log_retention!r}"
            )
        self.url = url
        scheme = url.partition("://")[0].lower()
        if scheme == "sqlite":
            self._backend: _Backend = _SQLite(_sqlite_path(url), self)
        elif scheme in ("postgresql", "postgres"):
            _check_postgres_url(url)
            self._backend = _Postgres(url, self)
        else:
            raise ValueError(
                f"unsupported registry URL {mask_url(url)!r}: use sqlite:///path.db"
                " or postgresql://user:password@host:port/dbname"
            )
        #: Statements run by this process (for tests and the status page).
        self.statements = 0
        #: Whether refreshers LISTEN for writes (PostgreSQL); off behind a pooler
        #: that drops LISTEN (they then poll every ``refresh_interval``).
        self.listen = listen
        #: Seconds of change log this process's writes keep.
        self.log_retention = float(log_retention)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Registry({mask_url(self.url)!r})"

    @property
    def notifies(self) -> bool:
        """Whether refreshers wait on ``NOTIFY`` (PostgreSQL, unless ``listen=False``)."""
        return self._backend.notifies and self.listen

    @property
    def masked_url(self) -> str:
        """The URL with its password masked."""
        return mask_url(self.url)

    # -- plumbing --------------------------------------------------------------

    def _count(self, n: int = 1) -> None:
        self.statements += n

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[_Queries]:
        with self._lock, _unavailable_on_error(self), self._backend.transaction(write) as q:
            version = q("SELECT schema_version FROM appmux_meta WHERE id = 1")
            if version and version[0][0] > SCHEMA_VERSION:
                raise SchemaTooNew(version[0][0])
            if version and version[0][0] < SCHEMA_VERSION:
                raise RegistryUnavailable(
                    f"{self.masked_url}: the registry's schema is version {version[0][0]},"
                    f" older than this appmux's ({SCHEMA_VERSION}):"
                    " run `appmux registry init` to upgrade it in place"
                )
            yield q

    @contextmanager
    def _write(self) -> Iterator[_Writing]:
        """One write transaction at the next revision, logged and announced at its end.

        The revision is bumped first: that takes the meta row's lock, so
        concurrent writers commit in revision order and a reader that has seen
        revision N has seen every change logged at N or before.
        """
        with self._transaction(write=True) as q:
            bumped = q(
                "UPDATE appmux_meta SET revision = revision + 1 WHERE id = 1 RETURNING revision"
            )
            if not bumped:
                raise RegistryUnavailable(
                    f"{self.masked_url}: the registry has no schema: run `appmux registry init`"
                )
            writing = _Writing(q, int(bumped[0][0]))
            yield writing
            now = time.time()
            for kind, name in sorted(writing.changes):
                q(
                    "INSERT INTO appmux_changes (revision, kind, name, at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (writing.revision, kind, name, now),
                )
            self._prune(q, now - self.log_retention)
            self._backend.notify(q, writing.revision)

    @staticmethod
    def _prune(q: _Queries, cutoff: float) -> None:
        """Drop the log's rows older than ``cutoff``; its floor rises past them."""
        newest = q("SELECT MAX(revision) FROM appmux_changes WHERE at < ?", (cutoff,))[0][0]
        if newest is None:
            return
        q("DELETE FROM appmux_changes WHERE revision <= ?", (newest,))
        q(
            "UPDATE appmux_meta SET log_floor = ? WHERE id = 1 AND log_floor < ?",
            (newest, newest),
        )

    # -- schema and revision ---------------------------------------------------------

    def init(self) -> int:
        """Create the schema, or upgrade an older one in place (idempotent); its version."""
        self._backend.may_create = True
        with self._lock, _unavailable_on_error(self), self._backend.transaction(True) as q:
            for statement in _SCHEMA[:1]:
                q(statement)
            found = q("SELECT schema_version FROM appmux_meta WHERE id = 1")
            if found and found[0][0] > SCHEMA_VERSION:
                raise SchemaTooNew(found[0][0])
            for statement in _SCHEMA[1:]:
                q(statement)
            if found and found[0][0] == 1:
                for statement in _UPGRADE_FROM_1:
                    q(statement)
                logger.info("registry schema upgraded from version 1 to %s", SCHEMA_VERSION)
        return SCHEMA_VERSION

    def schema_version(self) -> int | None:
        """The database's schema version, or ``None`` before :meth:`init`."""
        with self._lock, _unavailable_on_error(self):
            try:
                rows = self._backend.query("SELECT schema_version FROM appmux_meta WHERE id = 1")
            except _database_errors() as exc:
                if _is_missing_table(exc):
                    return None
                raise
        return int(rows[0][0]) if rows else None

    def revision(self) -> int:
        """The registry's revision: it grows with every write."""
        with self._lock, _unavailable_on_error(self):
            rows = self._backend.query("SELECT revision FROM appmux_meta WHERE id = 1")
        if not rows:
            raise RegistryUnavailable(f"{self.masked_url}: the registry has no schema")
        return int(rows[0][0])

    def snapshot(self) -> Snapshot:
        """Every tenant and domain at one revision, read in one transaction."""
        # Rows and records are made by the hundred thousand and none is garbage:
        # the cyclic collector would only walk them over and over meanwhile.
        with _collector_paused(), self._transaction(write=False) as q:
            revision = int(q("SELECT revision FROM appmux_meta WHERE id = 1")[0][0])
            rows = q(_WHOLE_READ)
            return Snapshot.from_rows(revision, rows)

    def changes_since(self, revision: int, limit: int) -> ChangeSet | str:
        """What changed after ``revision``, read from the change log in one transaction.

        Returns the reason as a string instead when the log cannot bring
        ``revision`` up to date and a whole read is needed: the database is
        behind it (a restored backup), the log was pruned past it, or more
        than ``limit`` changes are pending.
        """
        with self._transaction(write=False) as q:
            current, floor = q("SELECT revision, log_floor FROM appmux_meta WHERE id = 1")[0]
            if current < revision:
                return (
                    f"the database's revision {current} is behind this process's {revision}"
                    " (restored from a backup?)"
                )
            if current > revision and revision < floor:
                return (
                    f"the change log no longer reaches back to revision {revision}"
                    f" (pruned up to {floor})"
                )
            rows = q(
                "SELECT kind, name FROM appmux_changes WHERE revision > ?"
                " ORDER BY revision LIMIT ?",
                (revision, limit + 1),
            )
            if len(rows) > limit:
                return f"more than {limit} changes pending (max_delta)"
            keys = sorted({name for kind, name in rows if kind == "tenant"})
            hosts = sorted({name for kind, name in rows if kind == "domain"})
            tenants: dict[str, TenantRecord | None] = dict.fromkeys(keys)
            for part in _chunks(keys):
                for key, status, reason, config, rev in q(
                    "SELECT key, status, reason, config, rev FROM appmux_tenants"
                    f" WHERE key IN ({_marks(part)})",
                    part,
                ):
                    tenants[key] = stored_record(key, status, reason, config, int(rev))
            domains: dict[str, DomainRow | None] = dict.fromkeys(hosts)
            for part in _chunks(hosts):
                for host, tenant, primary, redirect in q(
                    "SELECT host, tenant, is_primary, redirect FROM appmux_domains"
                    f" WHERE host IN ({_marks(part)})",
                    part,
                ):
                    domains[host] = DomainRow(host, tenant, bool(primary), bool(redirect))
        return ChangeSet(int(current), tenants, domains)

    def counts(self) -> dict[str, Any]:
        """The ``revision``, the ``tenants`` per status and the number of ``domains``."""
        with self._transaction(write=False) as q:
            revision = int(q("SELECT revision FROM appmux_meta WHERE id = 1")[0][0])
            by_status = q("SELECT status, COUNT(*) FROM appmux_tenants GROUP BY status")
            domains = int(q("SELECT COUNT(*) FROM appmux_domains")[0][0])
        tenants = {str(status): int(n) for status, n in by_status}
        return {"revision": revision, "tenants": tenants, "domains": domains}

    def lookup(self, host: str | None, key: str | None) -> Lookup:
        """The tenant ``host`` names (or the tenant ``key``), with its domains: one query.

        ``host`` is a normalized host: an exact custom domain wins, then the
        one-label wildcard above it, then ``key`` (the subdomain's label
        under a base domain, or ``None``). For an on-demand process's misses.
        """
        wildcard = None
        if host is not None:
            _label, dot, parent = host.partition(".")
            wildcard = f"*.{parent}" if dot else None
        with self._lock, _unavailable_on_error(self):
            rows = self._backend.query(_LOOKUP, (host, wildcard, key))
        revision, rank = int(rows[0][0]), rows[0][1]
        if rank is None:
            return Lookup(revision, None, None)
        snapshot = Snapshot.from_rows(revision, [row[2:] for row in rows])
        matched = host if rank == 0 else wildcard if rank == 1 else None
        return Lookup(revision, snapshot, matched)

    def names(
        self, add_key: Callable[[str], None], add_host: Callable[[str], None], keys: list[str]
    ) -> Snapshot:
        """Every tenant key and custom domain, streamed to ``add_key`` and ``add_host``.

        In the same transaction, the tenants ``keys`` are read whole: the
        snapshot returned holds them, at the revision read.
        """
        with _collector_paused(), self._transaction(write=False) as q:
            revision = int(q("SELECT revision FROM appmux_meta WHERE id = 1")[0][0])
            for (key,) in self._backend.stream("SELECT key FROM appmux_tenants"):
                add_key(key)
            for (host,) in self._backend.stream("SELECT host FROM appmux_domains"):
                add_host(host)
            rows: list[tuple[Any, ...]] = []
            for part in _chunks(sorted(keys)):
                rows += q(f"{_WHOLE_READ} WHERE t.key IN ({_marks(part)})", part)
        return Snapshot.from_rows(revision, rows)

    def log_status(self) -> dict[str, int | None]:
        """The change log: ``rows``, ``oldest`` revision held, ``floor`` (pruned up to)."""
        with self._transaction(write=False) as q:
            count, oldest = q("SELECT COUNT(*), MIN(revision) FROM appmux_changes")[0]
            floor = q("SELECT log_floor FROM appmux_meta WHERE id = 1")[0][0]
        return {
            "rows": int(count),
            "oldest": None if oldest is None else int(oldest),
            "floor": int(floor),
        }

    # -- tenants ----------------------------------------------------------------------

    def add_tenant(self, key: str, config: Any = None, *, status: str = "active") -> TenantRecord:
        """Add a tenant; ``ValueError`` if the key is invalid or taken (in any case)."""
        key = check_key(key)
        text = check_config(config)
        check_status(status)
        with self._write() as w:
            if w.q("SELECT 1 FROM appmux_tenants WHERE key = ?", (key,)):
                raise ValueError(f"tenant {key!r} already exists")
            w.q(
                "INSERT INTO appmux_tenants (key, status, reason, config, rev)"
                " VALUES (?, ?, NULL, ?, ?)",
                (key, status, text, w.revision),
            )
            w.changed("tenant", key)
        return self._require(key)

    def update_tenant(
        self,
        key: str,
        *,
        config: Any = None,
        status: str | None = None,
        reason: str | None = None,
    ) -> TenantRecord:
        """Replace a tenant's config and/or status (and the reason for it).

        A new ``status`` without ``reason`` clears the old reason.
        """
        key = check_key(key)
        text = check_config(config) if config is not None else None
        if status is not None:
            check_status(status)
        with self._write() as w:
            q = w.q
            self._existing(q, key)
            if text is not None:
                q("UPDATE appmux_tenants SET config = ? WHERE key = ?", (text, key))
            if status is not None or reason is not None:
                if status is not None:
                    q("UPDATE appmux_tenants SET status = ? WHERE key = ?", (status, key))
                q("UPDATE appmux_tenants SET reason = ? WHERE key = ?", (reason, key))
            q("UPDATE appmux_tenants SET rev = ? WHERE key = ?", (w.revision, key))
            w.changed("tenant", key)
        return self._require(key)

    def reload_tenant(self, key: str) -> TenantRecord:
        """Change nothing but the tenant's rev: every worker recreates its app."""
        key = check_key(key)
        with self._write() as w:
            self._existing(w.q, key)
            w.q("UPDATE appmux_tenants SET rev = ? WHERE key = ?", (w.revision, key))
            w.changed("tenant", key)
        return self._require(key)

    def remove_tenant(self, key: str) -> None:
        """Remove a tenant and its domains; ``ValueError`` if there is no such tenant."""
        key = check_key(key)
        with self._write() as w:
            q = w.q
            self._existing(q, key)
            for (host,) in q("SELECT host FROM appmux_domains WHERE tenant = ?", (key,)):
                w.changed("domain", host)
            q("DELETE FROM appmux_domains WHERE tenant = ?", (key,))
            q("DELETE FROM appmux_tenants WHERE key = ?", (key,))
            w.changed("tenant", key)

    def get_tenant(self, key: str) -> TenantRecord | None:
        """The tenant ``key`` with its domains, or ``None``."""
        try:
            key = check_key(key)
        except ValueError:
            return None
        with self._transaction(write=False) as q:
            rows = q(
                "SELECT key, status, reason, config, rev FROM appmux_tenants WHERE key = ?", (key,)
            )
            domains = q(
                "SELECT host, tenant, is_primary, redirect FROM appmux_domains WHERE tenant = ?",
                (key,),
            )
        if not rows:
            return None
        joined = [(*rows[0], host, primary, redirect) for host, _, primary, redirect in domains]
        snapshot = Snapshot.from_rows(0, joined or [(*rows[0], None, None, None)])
        return snapshot.tenants[key]

    def tenants(self) -> list[TenantRecord]:
        """Every tenant, by key."""
        return sorted(self.snapshot().tenants.values(), key=lambda record: record.key)

    # -- domains ----------------------------------------------------------------------

    def add_domain(
        self, host: str, tenant: str, *, primary: bool = False, redirect: bool = False
    ) -> DomainRow:
        """Give ``tenant`` the custom domain ``host`` (``*.`` wildcards allowed)."""
        host = check_domain(host)
        tenant = check_key(tenant)
        if primary and redirect:
            raise ValueError("a primary domain cannot also redirect (to itself)")
        if primary and host.startswith("*."):
            raise ValueError(f"a wildcard ({host}) cannot be a primary domain")
        with self._write() as w:
            q = w.q
            self._existing(q, tenant)
            owner = q("SELECT tenant FROM appmux_domains WHERE host = ?", (host,))
            if owner:
                raise ValueError(f"domain {host} already belongs to tenant {owner[0][0]!r}")
            if primary:
                current = self._primary(q, tenant)
                if current:
                    raise ValueError(
                        f"tenant {tenant!r} already has the primary domain {current}:"
                        " add this one without primary, then set-primary"
                    )
            q(
                "INSERT INTO appmux_domains (host, tenant, is_primary, redirect)"
                " VALUES (?, ?, ?, ?)",
                (host, tenant, primary, redirect),
            )
            w.changed("domain", host)
        return DomainRow(host, tenant, primary, redirect)

    def remove_domain(self, host: str) -> None:
        """Remove a custom domain; ``ValueError`` if no tenant has it."""
        host = check_domain(host)
        with self._write() as w:
            if not w.q("SELECT 1 FROM appmux_domains WHERE host = ?", (host,)):
                raise ValueError(f"no tenant has the domain {host}")
            w.q("DELETE FROM appmux_domains WHERE host = ?", (host,))
            w.changed("domain", host)

    def set_primary(self, host: str) -> DomainRow:
        """Make ``host`` its tenant's primary domain (the old one stops being primary)."""
        host = check_domain(host)
        if host.startswith("*."):
            raise ValueError(f"a wildcard ({host}) cannot be a primary domain")
        with self._write() as w:
            q = w.q
            row = q("SELECT tenant, redirect FROM appmux_domains WHERE host = ?", (host,))
            if not row:
                raise ValueError(f"no tenant has the domain {host}")
            tenant, redirect = row[0]
            if redirect:
                raise ValueError(f"{host} redirects to the primary domain: it cannot be primary")
            current = self._primary(q, tenant)
            if current is not None:
                w.changed("domain", current)
            q("UPDATE appmux_domains SET is_primary = ? WHERE tenant = ?", (False, tenant))
            q("UPDATE appmux_domains SET is_primary = ? WHERE host = ?", (True, host))
            w.changed("domain", host)
        return DomainRow(host, tenant, True, False)

    def domains(self) -> list[DomainRow]:
        """Every custom domain, by host."""
        return sorted(self.snapshot().domains.values(), key=lambda row: row.host)

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _existing(q: _Queries, key: str) -> None:
        if not q("SELECT 1 FROM appmux_tenants WHERE key = ?", (key,)):
            raise ValueError(f"no tenant {key!r}")

    @staticmethod
    def _primary(q: _Queries, tenant: str) -> str | None:
        rows = q(
            "SELECT host FROM appmux_domains WHERE tenant = ? AND is_primary = ?", (tenant, True)
        )
        return str(rows[0][0]) if rows else None

    def _require(self, key: str) -> TenantRecord:
        record = self.get_tenant(key)
        if record is None:  # removed by another writer in between
            raise ValueError(f"no tenant {key!r}")
        return record

    def listener(self) -> Listener | None:
        """A connection that waits for change notifications, or ``None`` (SQLite)."""
        with _unavailable_on_error(self):
            return self._backend.listener()

    def close(self) -> None:
        """Close this process's connection (a later call reopens it)."""
        with self._lock:
            self._backend.close()


# -- rows ----------------------------------------------------------------------------


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _chunks(names: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(names), _IN_CHUNK):
        yield names[start : start + _IN_CHUNK]


def _marks(names: list[str]) -> str:
    return ", ".join("?" * len(names))


# -- errors --------------------------------------------------------------------------


def _is_missing_table(exc: BaseException) -> bool:
    return "no such table" in str(exc) or "does not exist" in str(exc)


def _database_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.Error]
    try:
        import psycopg

        errors.append(psycopg.Error)
    except ImportError:
        pass
    return tuple(errors)


@contextmanager
def _unavailable_on_error(registry: Registry) -> Iterator[None]:
    """Turn a database error into :class:`RegistryUnavailable` with a one-line reason."""
    try:
        yield
    except _database_errors() as exc:
        if _is_integrity_error(exc):
            raise ValueError(f"refused by the database: {_first_line(exc)}") from None
        if _is_missing_table(exc):
            raise RegistryUnavailable(
                f"{registry.masked_url}: the registry has no schema: run `appmux registry init`"
            ) from None
        raise RegistryUnavailable(f"{registry.masked_url}: {_first_line(exc)}") from None


def _is_integrity_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    try:
        import psycopg

        return isinstance(exc, psycopg.IntegrityError)
    except ImportError:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# -- SQLite --------------------------------------------------------------------------


def _sqlite_path(url: str) -> str:
    rest = url.partition("://")[2]
    if not rest.startswith("/") or len(rest) < 2:
        raise ValueError(
            f"invalid SQLite URL {url!r}: use sqlite:///relative/path.db"
            " or sqlite:////absolute/path.db"
        )
    path = unquote(rest[1:])  # "/tenants.db" -> "tenants.db"; "//abs" -> "/abs"
    if "?" in path or "#" in path:
        raise ValueError(f"invalid SQLite URL {url!r}: no query or fragment")
    return path


class _SQLite:
    notifies = False

    def __init__(self, path: str, registry: Registry) -> None:
        self.path = path
        self.registry = registry
        #: Only ``init()`` creates the database file; readers never leave an empty one.
        self.may_create = False
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            if not self.may_create and not Path(self.path).is_file():
                raise sqlite3.OperationalError(
                    f"no database file {self.path}: run `appmux registry init`"
                )
            if not Path(self.path).parent.is_dir():
                raise sqlite3.OperationalError(f"no folder {Path(self.path).parent}")
            conn = sqlite3.connect(
                self.path, timeout=TIMEOUT, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={TIMEOUT * 1000}")
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.registry._count()
        return self.connection().execute(sql, tuple(params)).fetchall()

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        """Rows one batch at a time, inside a transaction (a million need not fit at once)."""
        self.registry._count()
        cursor = self.connection().execute(sql)
        while batch := cursor.fetchmany(_STREAM_BATCH):
            yield from batch

    @contextmanager
    def transaction(self, write: bool) -> Iterator[_Queries]:
        conn = self.connection()
        self.query("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield self.query
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def notify(self, q: _Queries, revision: int) -> None:
        pass

    def listener(self) -> Listener | None:
        return None

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None


# -- PostgreSQL ----------------------------------------------------------------------


def _check_postgres_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ValueError(f"invalid PostgreSQL URL {mask_url(url)!r}: bad port") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(f"invalid PostgreSQL URL {mask_url(url)!r}: no host")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise RegistryUnavailable(
            "a postgresql:// registry needs psycopg: pip install 'appmux[postgres]'"
        ) from None
    return psycopg


class _Postgres:
    notifies = True
    may_create = True

    def __init__(self, url: str, registry: Registry) -> None:
        self.url = url
        self.registry = registry
        self._conn: Any = None
        self._pid = 0

    def connect(self) -> Any:
        psycopg = _psycopg()
        return psycopg.connect(self.url, autocommit=True, connect_timeout=TIMEOUT)

    def connection(self) -> Any:
        if self._conn is not None and self._pid == os.getpid() and self._conn.closed:
            self._conn = None
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid = self.connect(), os.getpid()
        return self._conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.registry._count()
        try:
            cursor = self.connection().execute(sql.replace("?", "%s"), tuple(params))
        except _psycopg().OperationalError:
            self._drop()  # a broken connection is reopened on the next call
            raise
        return cursor.fetchall() if cursor.description else []

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except Exception:
                pass

    def stream(self, sql: str) -> Iterator[tuple[Any, ...]]:
        """Rows one batch at a time through a server-side cursor (inside a transaction)."""
        self.registry._count()
        with self.connection().cursor(name="appmux_stream") as cursor:
            cursor.itersize = _STREAM_BATCH
            cursor.execute(sql)
            yield from cursor

    @contextmanager
    def transaction(self, write: bool) -> Iterator[_Queries]:
        conn = self.connection()
        try:
            with conn.transaction():
                if not write:
                    self.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield self.query
        except _psycopg().OperationalError:
            self._drop()
            raise

    def notify(self, q: _Queries, revision: int) -> None:
        q("SELECT pg_notify(?, ?)", (CHANNEL, str(revision)))

    def listener(self) -> Listener | None:
        return _PostgresListener(self.connect())

    def close(self) -> None:
        self._drop()


class _PostgresListener:
    """A dedicated autocommit connection that has run ``LISTEN appmux_registry``."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> int | None:
        psycopg = _psycopg()
        announced: int | None = None
        try:
            for notify in self.conn.notifies(timeout=timeout, stop_after=1):
                revision = int(notify.payload) if notify.payload.isdigit() else 0
                announced = max(announced or 0, revision)
        except psycopg.Error as exc:
            raise RegistryUnavailable(f"the LISTEN connection failed: {_first_line(exc)}") from exc
        return announced

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass
