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

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

from .records import (
    TenantRecord,
    check_config,
    check_domain,
    check_key,
    check_status,
    freeze_config,
)
from .snapshot import DomainRow, Snapshot

__all__ = [
    "CHANNEL",
    "SCHEMA_VERSION",
    "Registry",
    "RegistryUnavailable",
    "SchemaTooNew",
    "mask_url",
]

logger = logging.getLogger("appmux")

#: The schema this code reads and writes.
SCHEMA_VERSION = 1
#: The PostgreSQL channel every write notifies.
CHANNEL = "appmux_registry"
#: Seconds a connection attempt or a locked SQLite database may take.
TIMEOUT = 5

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS appmux_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        schema_version INTEGER NOT NULL,
        revision BIGINT NOT NULL
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
    f"""INSERT INTO appmux_meta (id, schema_version, revision) VALUES (1, {SCHEMA_VERSION}, 1)
        ON CONFLICT (id) DO NOTHING""",
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

    def notify(self, q: _Queries, revision: int) -> None: ...

    def listener(self) -> Listener | None: ...

    def close(self) -> None: ...


class Listener(Protocol):
    """A connection that waits for change notifications (PostgreSQL)."""

    def wait(self, timeout: float) -> int | None:
        """Block up to ``timeout`` seconds; the revision a write announced, if any."""

    def close(self) -> None:
        """Close the connection."""


class Registry:
    """Tenants and their domains in SQLite or PostgreSQL.

    ``url`` is ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` or
    ``postgresql://user:password@host:port/dbname``. ``listen=False`` makes
    refreshers poll a PostgreSQL registry instead of waiting on ``NOTIFY``
    (for a connection pooler that drops ``LISTEN``). Every method raises
    :class:`RegistryUnavailable` when the database cannot be reached,
    :class:`SchemaTooNew` for a schema newer than the code, and
    :class:`ValueError` (with the reason) for input the rules refuse.
    """

    def __init__(self, url: str, *, listen: bool = True) -> None:
        if not isinstance(url, str):
            raise ValueError(f"a registry URL must be a string, not {type(url).__name__}")
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
            yield q

    @contextmanager
    def _write(self) -> Iterator[_Queries]:
        """One write transaction; the revision is bumped (and announced) at its end."""
        with self._transaction(write=True) as q:
            if not q("SELECT 1 FROM appmux_meta WHERE id = 1"):
                raise RegistryUnavailable(
                    f"{self.masked_url}: the registry has no schema: run `appmux registry init`"
                )
            yield q
            q("UPDATE appmux_meta SET revision = revision + 1 WHERE id = 1")
            revision = q("SELECT revision FROM appmux_meta WHERE id = 1")[0][0]
            self._backend.notify(q, revision)

    def _next_rev(self, q: _Queries) -> int:
        return int(q("SELECT revision FROM appmux_meta WHERE id = 1")[0][0]) + 1

    # -- schema and revision ---------------------------------------------------------

    def init(self) -> int:
        """Create or upgrade the schema (idempotent); return its version."""
        self._backend.may_create = True
        with self._lock, _unavailable_on_error(self), self._backend.transaction(True) as q:
            for statement in _SCHEMA[:1]:
                q(statement)
            found = q("SELECT schema_version FROM appmux_meta WHERE id = 1")
            if found and found[0][0] > SCHEMA_VERSION:
                raise SchemaTooNew(found[0][0])
            for statement in _SCHEMA[1:]:
                q(statement)
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
        with self._transaction(write=False) as q:
            revision = int(q("SELECT revision FROM appmux_meta WHERE id = 1")[0][0])
            tenants = [
                TenantRecord(key, status, reason, freeze_config(config), rev=int(rev))
                for key, status, reason, config, rev in q(
                    "SELECT key, status, reason, config, rev FROM appmux_tenants"
                )
            ]
            domains = [
                DomainRow(host, tenant, bool(primary), bool(redirect))
                for host, tenant, primary, redirect in q(
                    "SELECT host, tenant, is_primary, redirect FROM appmux_domains"
                )
            ]
        return Snapshot(revision, tenants, domains)

    # -- tenants ----------------------------------------------------------------------

    def add_tenant(self, key: str, config: Any = None, *, status: str = "active") -> TenantRecord:
        """Add a tenant; ``ValueError`` if the key is invalid or taken (in any case)."""
        key = check_key(key)
        text = check_config(config)
        check_status(status)
        with self._write() as q:
            if q("SELECT 1 FROM appmux_tenants WHERE key = ?", (key,)):
                raise ValueError(f"tenant {key!r} already exists")
            q(
                "INSERT INTO appmux_tenants (key, status, reason, config, rev)"
                " VALUES (?, ?, NULL, ?, ?)",
                (key, status, text, self._next_rev(q)),
            )
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
        with self._write() as q:
            self._existing(q, key)
            if text is not None:
                q("UPDATE appmux_tenants SET config = ? WHERE key = ?", (text, key))
            if status is not None or reason is not None:
                if status is not None:
                    q("UPDATE appmux_tenants SET status = ? WHERE key = ?", (status, key))
                q("UPDATE appmux_tenants SET reason = ? WHERE key = ?", (reason, key))
            q("UPDATE appmux_tenants SET rev = ? WHERE key = ?", (self._next_rev(q), key))
        return self._require(key)

    def reload_tenant(self, key: str) -> TenantRecord:
        """Change nothing but the tenant's rev: every worker recreates its app."""
        key = check_key(key)
        with self._write() as q:
            self._existing(q, key)
            q("UPDATE appmux_tenants SET rev = ? WHERE key = ?", (self._next_rev(q), key))
        return self._require(key)

    def remove_tenant(self, key: str) -> None:
        """Remove a tenant and its domains; ``ValueError`` if there is no such tenant."""
        key = check_key(key)
        with self._write() as q:
            self._existing(q, key)
            q("DELETE FROM appmux_domains WHERE tenant = ?", (key,))
            q("DELETE FROM appmux_tenants WHERE key = ?", (key,))

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
        key, status, reason, config, rev = rows[0]
        record = TenantRecord(key, status, reason, freeze_config(config), rev=int(rev))
        rows_ = [DomainRow(h, t, bool(p), bool(r)) for h, t, p, r in domains]
        return Snapshot(0, [record], rows_).tenants[key]

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
        with self._write() as q:
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
        return DomainRow(host, tenant, primary, redirect)

    def remove_domain(self, host: str) -> None:
        """Remove a custom domain; ``ValueError`` if no tenant has it."""
        host = check_domain(host)
        with self._write() as q:
            if not q("SELECT 1 FROM appmux_domains WHERE host = ?", (host,)):
                raise ValueError(f"no tenant has the domain {host}")
            q("DELETE FROM appmux_domains WHERE host = ?", (host,))

    def set_primary(self, host: str) -> DomainRow:
        """Make ``host`` its tenant's primary domain (the old one stops being primary)."""
        host = check_domain(host)
        if host.startswith("*."):
            raise ValueError(f"a wildcard ({host}) cannot be a primary domain")
        with self._write() as q:
            row = q("SELECT tenant, redirect FROM appmux_domains WHERE host = ?", (host,))
            if not row:
                raise ValueError(f"no tenant has the domain {host}")
            tenant, redirect = row[0]
            if redirect:
                raise ValueError(f"{host} redirects to the primary domain: it cannot be primary")
            q("UPDATE appmux_domains SET is_primary = ? WHERE tenant = ?", (False, tenant))
            q("UPDATE appmux_domains SET is_primary = ? WHERE host = ?", (True, host))
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
