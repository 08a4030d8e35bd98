"""The site configuration: ``appmux.toml`` or ``[tool.appmux]`` in ``pyproject.toml``.

The file describes a routing tree. Each node is an app reference string, or a
table with ``app``, ``mounts`` or ``tenants`` (one of them) and optionally
``hosts``, whose entries claim their hosts before the rest is consulted::

    [proxy]                       # werkzeug ProxyFix, applied outermost
    x_for = 1
    x_proto = 1
    x_host = 1

    [server]                      # defaults for `appmux serve`
    bind = "0.0.0.0:8000"
    workers = 2
    server = "uvicorn"            # or "gunicorn", "waitress" (default: by the apps' kind)
    worker_class = "gthread"      # gunicorn's: "sync", "gthread", or "asgi" (its ASGI worker)

    [asgi]                        # apps of the other kind, and ASGI lifespans
    threads = 32                  # the one pool all WSGI apps share under an ASGI server
    lifespan_timeout = 10         # seconds a lifespan startup or shutdown may take
    drain_timeout = 30            # seconds a retired instance's requests get before shutdown

    [mounts]                      # prefix dispatch; "/" is the root app
    "/" = "frontend_app:application"
    "/backend" = "backend_app:application"
    "/api/v2" = "fastapi_app:app"  # ASGI apps beside WSGI ones

    [mounts."/odd"]               # where detection cannot tell an app's kind
    app = "odd:application"
    interface = "asgi"            # or "wsgi"

    [hosts."api.example.com"]     # exact host; "*.example.com" is a wildcard
    app = "api:create_app('prod')"

    [hosts."*.example.com".tenants]
    by = "subdomain"              # or "path", or "header" (with header = "X-Tenant")
    domain = "example.com"
    factory = "tenants:make_app"  # make_app(key) -> WSGI app, or None
    default = "tenants:not_found" # optional: requests without a tenant app
    max_instances = 1000
    idle_timeout = 600
    create_timeout = 30           # a request waits this long for another's creation

    [admin]                       # /metrics, /status, /status.json (off without this table)
    bind = "127.0.0.1:9100"       # beyond loopback only with a token
    token = "..."                 # every request then needs "Authorization: Bearer <token>"

    [metrics]
    per_tenant = false            # true: appmux_tenant_requests_total{tenant=...}
    per_tenant_limit = 100        # tenants with a label of their own; the rest are "other"

    [registry]                    # the tenant registry that by = "registry" follows
    url = "sqlite:///tenants.db"  # relative to this file; APPMUX_REGISTRY_URL overrides
    refresh_interval = 1.0
    reserved = ["www"]            # keys `appmux tenants add` refuses
    listen = true                 # PostgreSQL: LISTEN/NOTIFY (false behind a pooler that drops it)
    max_delta = 1000              # more changes pending than this: read the registry whole
    resync_interval = 600         # seconds (with jitter) between whole re-reads, a backstop
    log_retention = 86400         # seconds of change log that writers keep
    load = "all"                  # or "on-demand": hold only recently served tenants
    record_cache = 10000          # on-demand: how many tenants' records to hold

    [hosts."*.example.net".tenants]
    by = "registry"               # tenants and custom domains from the registry
    base_domains = ["example.net"]
    factory = "tenants:create_app"  # create_app(record) -> WSGI app

Parsing checks the file's structure only; importing the references is
:mod:`appmux.serve.site`'s job. Every problem is a :class:`ConfigError` naming the
file and the key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union

from ..core.cascade import BODY_LIMIT, CASCADE_ON
from ..core.hosts import normalize_domain, normalize_host_pattern
from ..core.pool import PoolOptions
from ..core.prefixes import normalize_prefix
from .refs import BadReference, parse_reference

__all__ = [
    "AdminSettings",
    "AppNode",
    "AsgiSettings",
    "CascadeNode",
    "ConfigError",
    "HostsNode",
    "MetricsSettings",
    "MountsNode",
    "Node",
    "RegistrySettings",
    "ServerSettings",
    "SiteConfig",
    "TenantsNode",
    "find_config",
    "load_config",
    "parse_config",
]

PROXY_KEYS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
SERVER_KEYS = ("bind", "workers", "threads", "server", "worker_class")
SERVERS = ("gunicorn", "waitress", "uvicorn")
#: gunicorn's worker classes appmux serves with: its two WSGI ones and its ASGI one.
WORKER_CLASSES = ("sync", "gthread", "asgi")
NODE_KEYS = (
    "app",
    "cascade",
    "mounts",
    "tenants",
    "hosts",
    "interface",
    "max_concurrency",
    "queue_timeout",
    "cascade_on",
    "cascade_body_limit",
    "strip_prefix",
)
#: Keys that go beside ``app`` in a node table only.
APP_KEYS = ("interface", "max_concurrency", "queue_timeout")
#: Keys that go beside ``cascade`` only.
CASCADE_KEYS = ("cascade_on", "cascade_body_limit")
INTERFACES = ("asgi", "wsgi")
ASGI_KEYS = ("threads", "drain_timeout", "lifespan_timeout")
TENANT_KINDS = ("subdomain", "path", "header", "registry")
TENANT_KEYS = (
    "by",
    "factory",
    "domain",
    "header",
    "base_domains",
    "default",
    *PoolOptions.names(),
    "suspended_status",
    "interface",
)
REGISTRY_KEYS = (
    "url",
    "refresh_interval",
    "reserved",
    "listen",
    "max_delta",
    "resync_interval",
    "log_retention",
    "load",
    "record_cache",
)
#: The values of ``[registry] load``.
REGISTRY_LOADS = ("all", "on-demand")
ADMIN_KEYS = ("bind", "token")
METRICS_KEYS = ("per_tenant", "per_tenant_limit")
#: The environment variable that overrides ``[registry] url``.
REGISTRY_URL_ENV = "APPMUX_REGISTRY_URL"


class ConfigError(Exception):
    """A problem in a config file: ``file: key: what is wrong`` on one line."""

    def __init__(self, file: Path | str, key: str, message: str) -> None:
        self.file = str(file)
        self.key = key
        self.message = message
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class AppNode:
    """An app (WSGI or ASGI) given by reference; ``interface`` when detection cannot tell."""

    ref: str
    key: str
    interface: str | None = None
    #: A cap on the app's requests in flight per process, and the wait for a slot.
    max_concurrency: int | None = None
    queue_timeout: float = 0.0
    #: False: under a mount, the app sees the whole path (``strip_prefix = false``).
    strip_prefix: bool = True


@dataclass(frozen=True)
class CascadeNode:
    """Apps tried in order, a 404 (or 405, or the marker) passing to the next."""

    apps: tuple[AppNode, ...]
    key: str
    cascade_on: str = "status"
    body_limit: int = 1024 * 1024
    strip_prefix: bool = True


@dataclass(frozen=True)
class MountsNode:
    """Prefix dispatch; ``root`` answers what no mount matches (404 if None)."""

    root: Node | None
    mounts: dict[str, Node]
    key: str


@dataclass(frozen=True)
class HostsNode:
    """Host dispatch; ``default`` answers other hosts (404 if None)."""

    hosts: dict[str, Node]
    default: Node | None
    key: str


@dataclass(frozen=True)
class TenantsNode:
    """Lazily created per-tenant apps."""

    by: str
    factory: str
    key: str
    domain: str | None = None
    header: str | None = None
    default: Node | None = None
    options: dict[str, Any] = field(default_factory=dict)
    base_domains: tuple[str, ...] = ()
    #: What the factory returns (``"asgi"``, ``"wsgi"``), when detection cannot tell.
    interface: str | None = None


Node = Union[AppNode, CascadeNode, MountsNode, HostsNode, TenantsNode]  # noqa: UP007


@dataclass(frozen=True)
class ServerSettings:
    """Defaults for ``appmux serve`` from the ``[server]`` table."""

    bind: str | None = None
    workers: int | None = None
    threads: int | None = None
    server: str | None = None
    worker_class: str | None = None


@dataclass(frozen=True)
class AsgiSettings:
    """The ``[asgi]`` table: the WSGI thread pool under an ASGI server, and lifespan bounds."""

    threads: int = 32
    drain_timeout: float = 30.0
    lifespan_timeout: float = 10.0


@dataclass(frozen=True)
class RegistrySettings:
    """The ``[registry]`` table: where the tenant registry lives."""

    url: str | None = None
    refresh_interval: float = 1.0
    reserved: tuple[str, ...] = ("www",)
    listen: bool = True
    max_delta: int = 1000
    resync_interval: float = 600.0
    log_retention: float = 24 * 3600.0
    load: str = "all"
    record_cache: int = 10_000


@dataclass(frozen=True)
class AdminSettings:
    """The ``[admin]`` table: where ``/metrics`` and ``/status`` listen (off without it)."""

    bind: str
    token: str | None = None


@dataclass(frozen=True)
class MetricsSettings:
    """The ``[metrics]`` table: per-tenant labels, off by default."""

    per_tenant: bool = False
    per_tenant_limit: int = 100


@dataclass(frozen=True)
class SiteConfig:
    """A parsed config file."""

    path: Path
    root: Node
    proxy: dict[str, int] | None = None
    server: ServerSettings = ServerSettings()
    registry: RegistrySettings = RegistrySettings()
    admin: AdminSettings | None = None
    metrics: MetricsSettings = MetricsSettings()
    asgi: AsgiSettings = AsgiSettings()

    @property
    def folder(self) -> Path:
        """The folder references are imported from."""
        return self.path.parent

    def registry_url(self) -> str | None:
        """``APPMUX_REGISTRY_URL``, else ``[registry] url`` (made absolute for SQLite)."""
        return os.environ.get(REGISTRY_URL_ENV) or self.registry.url

    def base_domains(self) -> tuple[str, ...]:
        """Every base domain of the site's registry tenants."""
        found: list[str] = []
        for node in _walk(self.root):
            if isinstance(node, TenantsNode) and node.by == "registry":
                found += [d for d in node.base_domains if d not in found]
        return tuple(found)


def _walk(node: Node | None) -> list[Node]:
    if node is None:
        return []
    nodes: list[Node] = [node]
    if isinstance(node, MountsNode):
        for child in [node.root, *node.mounts.values()]:
            nodes += _walk(child)
    elif isinstance(node, HostsNode):
        for child in [*node.hosts.values(), node.default]:
            nodes += _walk(child)
    elif isinstance(node, TenantsNode):
        nodes += _walk(node.default)
    elif isinstance(node, CascadeNode):
        nodes += list(node.apps)
    return nodes


def find_config(folder: Path) -> Path | None:
    """``appmux.toml`` in ``folder``, else a ``pyproject.toml`` with ``[tool.appmux]``."""
    candidate = folder / "appmux.toml"
    if candidate.is_file():
        return candidate
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return pyproject  # load_config reports the problem precisely
        if "appmux" in data.get("tool", {}):
            return pyproject
    return None


def load_config(path: Path | str) -> SiteConfig:
    """Read and parse a config file; raises :class:`ConfigError`."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"invalid TOML: {exc}") from None
    prefix = ""
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("appmux")
        if table is None:
            raise ConfigError(path, "tool.appmux", "no [tool.appmux] table")
        data, prefix = table, "tool.appmux"
    return parse_config(data, path, prefix)


def parse_config(data: dict[str, Any], path: Path, prefix: str = "") -> SiteConfig:
    """Parse the decoded TOML of a config file (``prefix`` is its table's key)."""
    return _Parser(path).site(data, prefix)


def _join(parent: str, key: str) -> str:
    part = key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'
    return f"{parent}.{part}" if parent else part


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.path, key, message)

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, not {type(value).__name__}")
        return value

    def no_unknown_keys(self, table: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in table:
            if name not in allowed:
                raise self.error(
                    _join(key, name), f"unknown key (expected one of: {', '.join(allowed)})"
                )

    def site(self, data: dict[str, Any], prefix: str) -> SiteConfig:
        tables = ("proxy", "server", "registry", "admin", "metrics", "asgi")
        self.no_unknown_keys(data, prefix, (*tables, *NODE_KEYS))
        proxy = self.proxy(data["proxy"], _join(prefix, "proxy")) if "proxy" in data else None
        server = self.server(data.get("server", {}), _join(prefix, "server"))
        registry = self.registry(data.get("registry", {}), _join(prefix, "registry"))
        admin = self.admin(data["admin"], _join(prefix, "admin")) if "admin" in data else None
        metrics = self.metrics(data.get("metrics", {}), _join(prefix, "metrics"))
        if "metrics" in data and admin is None:
            raise self.error(_join(prefix, "metrics"), "needs [admin]: metrics are served there")
        routing = {k: v for k, v in data.items() if k in NODE_KEYS}
        if not routing:
            raise self.error(prefix, "nothing to serve: add [mounts], [hosts], [tenants] or app")
        if "interface" in routing:
            raise self.error(_join(prefix, "interface"), "goes beside app in a node table")
        root = self.node(routing, prefix)
        asgi = self.asgi(data.get("asgi", {}), _join(prefix, "asgi"))
        return SiteConfig(self.path, root, proxy, server, registry, admin, metrics, asgi)

    def asgi(self, value: Any, key: str) -> AsgiSettings:
        table = self.table(value, key)
        self.no_unknown_keys(table, key, ASGI_KEYS)
        threads = table.get("threads", 32)
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise self.error(_join(key, "threads"), "must be a whole number >= 1")
        seconds = {}
        for name in ("drain_timeout", "lifespan_timeout"):
            value = table.get(name, AsgiSettings.__dataclass_fields__[name].default)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise self.error(_join(key, name), "must be a positive number of seconds")
            seconds[name] = float(value)
        return AsgiSettings(threads, **seconds)

    def interface(self, table: dict[str, Any], key: str) -> str | None:
        value = table.get("interface")
        if value is not None and value not in INTERFACES:
            raise self.error(_join(key, "interface"), "must be 'asgi' or 'wsgi'")
        return value

    def metrics(self, value: Any, key: str) -> MetricsSettings:
        table = self.table(value, key)
        self.no_unknown_keys(table, key, METRICS_KEYS)
        per_tenant = table.get("per_tenant", False)
        if not isinstance(per_tenant, bool):
            raise self.error(_join(key, "per_tenant"), "must be true or false")
        limit = table.get("per_tenant_limit", 100)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise self.error(_join(key, "per_tenant_limit"), "must be a whole number >= 1")
        return MetricsSettings(per_tenant, limit)

    def admin(self, value: Any, key: str) -> AdminSettings:
        table = self.table(value, key)
        self.no_unknown_keys(table, key, ADMIN_KEYS)
        bind = table.get("bind")
        if not isinstance(bind, str) or ":" not in bind:
            raise self.error(_join(key, "bind"), "required: 'HOST:PORT', e.g. '127.0.0.1:9100'")
        token = table.get("token")
        if token is not None and (not isinstance(token, str) or len(token) < 16):
            raise self.error(_join(key, "token"), "must be a string of at least 16 characters")
        return AdminSettings(bind, token)

    def registry(self, value: Any, key: str) -> RegistrySettings:
        table = self.table(value, key)
        self.no_unknown_keys(table, key, REGISTRY_KEYS)
        url = table.get("url")
        if url is not None:
            if not isinstance(url, str) or "://" not in url:
                raise self.error(_join(key, "url"), "must be a URL such as 'sqlite:///tenants.db'")
            url = _relative_to(url, self.path.parent)
        interval = table.get("refresh_interval", 1.0)
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise self.error(_join(key, "refresh_interval"), "must be a positive number of seconds")
        reserved = table.get("reserved", ["www"])
        if not isinstance(reserved, list) or not all(isinstance(k, str) for k in reserved):
            raise self.error(_join(key, "reserved"), "must be a list of tenant keys")
        listen = table.get("listen", True)
        if not isinstance(listen, bool):
            raise self.error(_join(key, "listen"), "must be true or false")
        defaults = RegistrySettings()
        max_delta = table.get("max_delta", defaults.max_delta)
        record_cache = table.get("record_cache", defaults.record_cache)
        for name, number in (("max_delta", max_delta), ("record_cache", record_cache)):
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise self.error(_join(key, name), "must be a positive integer")
        seconds = {}
        for name in ("resync_interval", "log_retention"):
            value = table.get(name, getattr(defaults, name))
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise self.error(_join(key, name), "must be a positive number of seconds")
            seconds[name] = float(value)
        load = table.get("load", defaults.load)
        if load not in REGISTRY_LOADS:
            raise self.error(_join(key, "load"), "must be 'all' or 'on-demand'")
        return RegistrySettings(
            url,
            float(interval),
            tuple(k.lower() for k in reserved),
            listen,
            max_delta,
            seconds["resync_interval"],
            seconds["log_retention"],
            load,
            record_cache,
        )

    def proxy(self, value: Any, key: str) -> dict[str, int]:
        table = self.table(value, key)
        self.no_unknown_keys(table, key, PROXY_KEYS)
        for name, hops in table.items():
            if not isinstance(hops, int) or isinstance(hops, bool) or hops < 0:
                raise self.error(_join(key, name), "must be a whole number of proxies >= 0")
        return dict(table)

    def server(self, value: Any, key: str) -> ServerSettings:
        table = self.table(value, key)
        self.no_unknown_keys(table, key, SERVER_KEYS)
        for name in ("workers", "threads"):
            count = table.get(name)
            if count is not None and (
                not isinstance(count, int) or isinstance(count, bool) or count < 1
            ):
                raise self.error(_join(key, name), "must be a whole number >= 1")
        if "bind" in table and not isinstance(table["bind"], str):
            raise self.error(_join(key, "bind"), "must be a string 'HOST:PORT'")
        if "server" in table and table["server"] not in SERVERS:
            raise self.error(_join(key, "server"), f"must be one of: {', '.join(SERVERS)}")
        if "worker_class" in table and table["worker_class"] not in WORKER_CLASSES:
            raise self.error(
                _join(key, "worker_class"), f"must be one of: {', '.join(WORKER_CLASSES)}"
            )
        return ServerSettings(**table)

    def ref(self, value: Any, key: str) -> AppNode:
        try:
            parse_reference(value)
        except BadReference as exc:
            raise self.error(key, str(exc)) from None
        return AppNode(value, key)

    def node(self, value: Any, key: str) -> Node:
        if isinstance(value, str):
            return self.ref(value, key)
        if isinstance(value, list):
            return self.cascade({"cascade": value}, key, key)
        table = self.table(value, key)
        self.no_unknown_keys(table, key, NODE_KEYS)
        given = [name for name in ("app", "cascade", "mounts", "tenants") if name in table]
        if len(given) > 1:
            raise self.error(key, f"give only one of app, cascade, mounts, tenants (got {given})")
        base: Node | None = None
        for name in APP_KEYS:
            if name in table and "app" not in table:
                raise self.error(_join(key, name), "goes beside app (or in a [tenants] table)")
        for name in CASCADE_KEYS:
            if name in table and "cascade" not in table:
                raise self.error(_join(key, name), "goes beside cascade")
        strip = table.get("strip_prefix", True)
        if not isinstance(strip, bool):
            raise self.error(_join(key, "strip_prefix"), "must be true or false")
        if "strip_prefix" in table and "app" not in table and "cascade" not in table:
            raise self.error(_join(key, "strip_prefix"), "goes beside app or cascade")
        if "app" in table:
            app_key = _join(key, "app")
            limits = {}
            for name in ("max_concurrency", "queue_timeout"):
                if name in table:
                    problem = PoolOptions.problem(name, table[name])
                    if problem is not None:
                        raise self.error(_join(key, name), problem)
                    limits[name] = table[name]
            base = AppNode(
                self.ref(table["app"], app_key).ref,
                app_key,
                self.interface(table, key),
                limits.get("max_concurrency"),
                float(limits.get("queue_timeout", 0.0)),
                strip,
            )
        elif "cascade" in table:
            base = replace(self.cascade(table, key, _join(key, "cascade")), strip_prefix=strip)
        elif "mounts" in table:
            base = self.mounts(table["mounts"], _join(key, "mounts"))
        elif "tenants" in table:
            base = self.tenants(table["tenants"], _join(key, "tenants"))
        if "hosts" in table:
            return self.hosts(table["hosts"], _join(key, "hosts"), base)
        if base is None:
            raise self.error(key, "nothing to serve: give app, mounts, tenants or hosts")
        return base

    def cascade(self, table: dict[str, Any], key: str, apps_key: str) -> CascadeNode:
        """A list of app references tried in order (``cascade = [...]``, or a bare list)."""
        refs = table["cascade"]
        if not isinstance(refs, list) or len(refs) < 2:
            raise self.error(apps_key, "must be a list of at least two app references")
        apps = tuple(self.ref(ref, f"{apps_key}[{i}]") for i, ref in enumerate(refs))
        cascade_on = table.get("cascade_on", "status")
        if cascade_on not in CASCADE_ON:
            raise self.error(_join(key, "cascade_on"), "must be 'status' or 'marker'")
        limit = table.get("cascade_body_limit", BODY_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise self.error(_join(key, "cascade_body_limit"), "must be a whole number of bytes")
        return CascadeNode(apps, apps_key, cascade_on, limit)

    def mounts(self, value: Any, key: str) -> MountsNode:
        table = self.table(value, key)
        root: Node | None = None
        mounts: dict[str, Node] = {}
        seen: dict[str, str] = {}
        for prefix, child in table.items():
            child_key = _join(key, prefix)
            try:
                normalized = normalize_prefix(prefix)
            except ValueError as exc:
                raise self.error(child_key, str(exc)) from None
            if normalized in seen:
                raise self.error(
                    child_key,
                    f"overlaps mount {seen[normalized]!r}: both are {normalized or '/'!r}",
                )
            seen[normalized] = prefix
            node = self.node(child, child_key)
            if normalized:
                mounts[normalized] = node
            else:
                root = node
        if not table:
            raise self.error(key, "no mounts given")
        return MountsNode(root, mounts, key)

    def hosts(self, value: Any, key: str, default: Node | None) -> HostsNode:
        table = self.table(value, key)
        hosts: dict[str, Node] = {}
        seen: dict[str, str] = {}
        for pattern, child in table.items():
            child_key = _join(key, pattern)
            try:
                normalized = normalize_host_pattern(pattern)
            except ValueError as exc:
                raise self.error(child_key, str(exc)) from None
            if normalized in seen:
                raise self.error(child_key, f"same host as {seen[normalized]!r}")
            seen[normalized] = pattern
            hosts[pattern] = self.node(child, child_key)
        return HostsNode(hosts, default, key)

    def tenants(self, value: Any, key: str) -> TenantsNode:
        table = self.table(value, key)
        self.no_unknown_keys(table, key, TENANT_KEYS)
        by = table.get("by")
        if by not in TENANT_KINDS:
            raise self.error(_join(key, "by"), f"must be one of: {', '.join(TENANT_KINDS)}")
        if "factory" not in table:
            raise self.error(_join(key, "factory"), "missing: the reference of create_app(key)")
        factory = self.ref(table["factory"], _join(key, "factory")).ref
        domain = header = None
        if by == "subdomain":
            raw = table.get("domain")
            try:
                domain = normalize_domain(raw) if isinstance(raw, str) else None
            except ValueError as exc:
                raise self.error(_join(key, "domain"), str(exc)) from None
            if domain is None:
                raise self.error(_join(key, "domain"), "required with by = 'subdomain'")
        elif "domain" in table:
            raise self.error(_join(key, "domain"), "only goes with by = 'subdomain'")
        base_domains: tuple[str, ...] = ()
        if by == "registry":
            base_domains = self.base_domains(table.get("base_domains"), _join(key, "base_domains"))
            if "negative_ttl" in table:
                raise self.error(_join(key, "negative_ttl"), "does not go with by = 'registry'")
        elif "base_domains" in table:
            raise self.error(_join(key, "base_domains"), "only goes with by = 'registry'")
        if "suspended_status" in table:
            status = table["suspended_status"]
            if by != "registry":
                raise self.error(_join(key, "suspended_status"), "only goes with by = 'registry'")
            if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
                raise self.error(_join(key, "suspended_status"), "must be a 4xx or 5xx status")
        if by == "header":
            header = table.get("header")
            if not isinstance(header, str) or not header:
                raise self.error(_join(key, "header"), "required with by = 'header'")
        elif "header" in table:
            raise self.error(_join(key, "header"), "only goes with by = 'header'")
        default = self.node(table["default"], _join(key, "default")) if "default" in table else None
        options = self.pool_options(table, key)
        if "suspended_status" in table:
            options["suspended_status"] = table["suspended_status"]
        interface = self.interface(table, key)
        return TenantsNode(
            by, factory, key, domain, header, default, options, base_domains, interface
        )

    def pool_options(self, table: dict[str, Any], key: str) -> dict[str, Any]:
        """The pool's options given in a ``[tenants]`` table, checked by their kind."""
        options: dict[str, Any] = {}
        for name in PoolOptions.names():
            if name in table:
                problem = PoolOptions.problem(name, table[name])
                if problem is not None:
                    raise self.error(_join(key, name), problem)
                options[name] = table[name]
        return options

    def base_domains(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
            raise self.error(key, "must be a list of domains, e.g. ['example.com']")
        domains: list[str] = []
        for domain in value:
            try:
                domains.append(normalize_domain(domain))
            except ValueError as exc:
                raise self.error(key, str(exc)) from None
        return tuple(domains)


def _relative_to(url: str, folder: Path) -> str:
    """A ``sqlite:///relative.db`` URL made absolute against ``folder``."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() == "sqlite" and rest.startswith("/") and not rest.startswith("//"):
        return f"sqlite:///{folder / rest[1:]}"
    return url
