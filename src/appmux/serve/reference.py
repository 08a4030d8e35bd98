"""Every ``appmux.toml`` key with its type, default and meaning: the one source of the
configuration reference that the documentation renders.

:func:`undocumented` compares it with the key lists the parser accepts
(:mod:`appmux.serve.config`), so a key added to the parser without a line here
fails the documentation build and the test suite.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

from ..core.pool import PoolOptions
from .config import (
    ADMIN_KEYS,
    ASGI_KEYS,
    METRICS_KEYS,
    NODE_KEYS,
    PROXY_KEYS,
    REGISTRY_KEYS,
    SERVER_KEYS,
    TENANT_KEYS,
)

__all__ = ["TABLES", "Key", "Table", "undocumented"]


@dataclass(frozen=True)
class Key:
    """One key: its name, TOML type, default (as written in TOML, or ``-``) and meaning."""

    name: str
    type: str
    default: str
    meaning: str


@dataclass(frozen=True)
class Table:
    """One table of the config file: where it goes, what it does, the parser's keys."""

    title: str
    about: str
    accepted: tuple[str, ...]
    keys: tuple[Key, ...]


_POOL_MEANINGS = {
    "max_instances": "At most this many live tenant apps per process; least recently used leave.",
    "idle_timeout": "Seconds unused after which a tenant app is retired (closed once idle).",
    "negative_ttl": "Seconds a factory's 'no app' answer for a key is remembered.",
    "failure_backoff": "Seconds a key's requests get 503 after its factory raised.",
    "create_timeout": "Seconds a request waits for another's creation of its key (then 503).",
    "max_concurrency": "Requests in flight on one tenant's app per process, at most (then 503).",
    "queue_timeout": "Seconds a request over max_concurrency waits for a slot before its 503.",
}


def _pool_keys() -> tuple[Key, ...]:
    keys = []
    for option in fields(PoolOptions):
        kind = "integer" if option.metadata["kind"] == "count" else "number (seconds)"
        default = "-" if option.default in (None, MISSING) else f"{option.default!r}"
        keys.append(Key(option.name, kind, default, _POOL_MEANINGS[option.name]))
    return tuple(keys)


TABLES: tuple[Table, ...] = (
    Table(
        "node table",
        "The top level, a `[mounts]` or `[hosts]` entry, or any node: what serves a request.",
        NODE_KEYS,
        (
            Key("app", "string", "-", "An app reference: 'module:attr' or 'module:factory(args)'."),
            Key("cascade", "array of strings", "-", "Apps tried in order; a 404/405 passes on."),
            Key("mounts", "table", "-", "Prefix → node; '/' is the root app."),
            Key("tenants", "table", "-", "Lazily created per-tenant apps (the [tenants] table)."),
            Key("hosts", "table", "-", "Host pattern → node ('*.' wildcards); claimed first."),
            Key("interface", "string", "detected", "'asgi' or 'wsgi' when detection cannot tell."),
            Key(
                "max_concurrency", "integer", "-", "Beside app: its requests in flight per process."
            ),
            Key("queue_timeout", "number (seconds)", "0", "Beside app: the wait for a slot."),
            Key("cascade_on", "string", "'status'", "'status' (404, 405) or 'marker' (X-Cascade)."),
            Key("cascade_body_limit", "integer (bytes)", "1048576", "The body a cascade replays."),
            Key(
                "strip_prefix",
                "boolean",
                "true",
                "false: the app sees its mount prefix in its path.",
            ),
        ),
    ),
    Table(
        "[tenants]",
        "One app per tenant, created on first request (in any node as `tenants`).",
        TENANT_KEYS,
        (
            Key("by", "string", "-", "'subdomain', 'path', 'header' or 'registry'."),
            Key(
                "factory",
                "string",
                "-",
                "A reference to create_app(key) (a record for 'registry').",
            ),
            Key("domain", "string", "-", "by = 'subdomain': the parent domain."),
            Key("header", "string", "-", "by = 'header': the header naming the tenant."),
            Key("base_domains", "array of strings", "[]", "by = 'registry': <key>.<base> hosts."),
            Key("default", "string or table", "404", "The node for requests without a tenant app."),
            *_pool_keys(),
            Key(
                "suspended_status",
                "integer",
                "403",
                "by = 'registry': a suspended tenant's status.",
            ),
            Key("interface", "string", "detected", "What the factory returns: 'asgi' or 'wsgi'."),
        ),
    ),
    Table(
        "[server]",
        "Defaults for `appmux serve`; its flags win.",
        SERVER_KEYS,
        (
            Key("bind", "string", "'127.0.0.1:8000'", "HOST:PORT to listen on."),
            Key("workers", "integer", "1", "Processes (gunicorn, or uvicorn workers under it)."),
            Key("threads", "integer", "1", "Threads per worker (gthread, waitress)."),
            Key("server", "string", "auto", "'gunicorn', 'waitress' or 'uvicorn'."),
            Key("worker_class", "string", "auto", "gunicorn's 'sync', 'gthread' or 'asgi'."),
        ),
    ),
    Table(
        "[asgi]",
        "Bridging WSGI and ASGI, and lifespans.",
        ASGI_KEYS,
        (
            Key("threads", "integer", "32", "The one thread pool every WSGI app shares on ASGI."),
            Key("drain_timeout", "number (seconds)", "30", "A retired ASGI instance's drain."),
            Key(
                "lifespan_timeout",
                "number (seconds)",
                "10",
                "An app's lifespan startup or shutdown.",
            ),
        ),
    ),
    Table(
        "[registry]",
        'The tenant registry that `by = "registry"` follows.',
        REGISTRY_KEYS,
        (
            Key(
                "url",
                "string",
                "-",
                "sqlite:///file.db or postgresql://...; APPMUX_REGISTRY_URL wins.",
            ),
            Key("refresh_interval", "number (seconds)", "1.0", "Between revision checks."),
            Key("reserved", "array of strings", "['www']", "Keys `appmux tenants add` refuses."),
            Key("listen", "boolean", "true", "PostgreSQL: LISTEN/NOTIFY (false: poll)."),
            Key("max_delta", "integer", "1000", "More changes pending: read the registry whole."),
            Key("resync_interval", "number (seconds)", "600", "A jittered whole read, a backstop."),
            Key("log_retention", "number (seconds)", "86400", "Change log the writers keep."),
            Key("load", "string", "'all'", "'all' or 'on-demand' (recently served tenants only)."),
            Key("record_cache", "integer", "10000", "On demand: the records held."),
        ),
    ),
    Table(
        "[admin]",
        "The admin listener: /metrics, /status, /status.json (off without this table).",
        ADMIN_KEYS,
        (
            Key("bind", "string", "-", "HOST:PORT; beyond loopback only with a token."),
            Key(
                "token", "string", "-", "A bearer token of 16+ characters; APPMUX_ADMIN_TOKEN wins."
            ),
        ),
    ),
    Table(
        "[metrics]",
        "What the metrics name.",
        METRICS_KEYS,
        (
            Key("per_tenant", "boolean", "false", "appmux_tenant_requests_total{tenant=...}."),
            Key(
                "per_tenant_limit", "integer", "100", "Tenants named server-wide; the rest 'other'."
            ),
        ),
    ),
    Table(
        "[proxy]",
        "werkzeug's ProxyFix, outermost: how many proxies to trust for each header.",
        PROXY_KEYS,
        (
            Key("x_for", "integer", "0", "X-Forwarded-For hops."),
            Key("x_proto", "integer", "0", "X-Forwarded-Proto hops."),
            Key("x_host", "integer", "0", "X-Forwarded-Host hops."),
            Key("x_port", "integer", "0", "X-Forwarded-Port hops."),
            Key("x_prefix", "integer", "0", "X-Forwarded-Prefix hops."),
        ),
    ),
)


def undocumented() -> list[str]:
    """The keys the parser accepts that no :data:`TABLES` entry documents (``table: key``)."""
    missing = []
    for table in TABLES:
        documented = {key.name for key in table.keys}
        missing += [f"{table.title}: {name}" for name in table.accepted if name not in documented]
        missing += [
            f"{table.title}: {name} (not a key)" for name in documented - set(table.accepted)
        ]
    return missing
