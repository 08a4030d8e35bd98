"""Turn a :class:`~appmux.config.SiteConfig` into one app, and explain it.

* :func:`served_site` imports every reference and nests the dispatchers of
  one front: the WSGI forms (``appmux.wsgi``) or the ASGI forms
  (:mod:`appmux.asgi`), with ``[proxy]``'s ``ProxyFix`` outermost. Apps of
  the other kind are bridged (:mod:`appmux.interop`). :func:`build_site` is
  the WSGI front's app.
* :func:`check_site` does the same but collects every problem.
* :func:`route_rows` lists the routing table without importing anything.
* :func:`resolve_url` finds which app a URL reaches without running any app:
  the tree is built with probes in place of the apps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import create_environ

from .. import asgi
from .. import wsgi as wsgi_forms
from ..asgi.nodes import Node as ASGINode
from ..asgi.nodes import StaticApp
from ..asgi.proxy import ProxyFix as ASGIProxyFix
from ..interop import ASGIBridge, declared, is_asgi
from ..observe import MeteredApp, Observer, RouteLabel, asgi_meter
from ..observe.meter import TenantRouteLabel
from ..registry import Registry, SchemaTooNew, TenantDispatcher
from ..registry.dispatcher import RegistryTenants
from ..wsgi.keys import header_key
from ..wsgi.types import Environ, ResponseBody, StartResponse, WSGIApplication
from .config import (
    REGISTRY_URL_ENV,
    AppNode,
    CascadeNode,
    ConfigError,
    HostsNode,
    MountsNode,
    Node,
    SiteConfig,
    TenantsNode,
)
from .refs import BadReference, load_reference

__all__ = [
    "FORMS",
    "Resolution",
    "RouteRow",
    "ServedSite",
    "build_site",
    "check_site",
    "needs_asgi",
    "resolve_url",
    "route_rows",
    "served_site",
]

#: ``loader(reference, config_key, role)`` returns the app (role ``"app"``) or
#: the factory (role ``"factory"``) a reference names.
Loader = Callable[[str, str, str], Any]

#: The dispatcher classes and wrappers of each front.
FORMS = {
    "wsgi": SimpleNamespace(
        DispatcherMiddleware=wsgi_forms.DispatcherMiddleware,
        HostDispatcher=wsgi_forms.HostDispatcher,
        LazyDispatcher=wsgi_forms.LazyDispatcher,
        PathDispatcher=wsgi_forms.PathDispatcher,
        SubdomainDispatcher=wsgi_forms.SubdomainDispatcher,
        TenantDispatcher=TenantDispatcher,
        ConcurrencyLimit=wsgi_forms.ConcurrencyLimit,
        Cascade=wsgi_forms.Cascade,
        KeepPrefix=wsgi_forms.KeepPrefix,
        RouteLabel=RouteLabel,
        TenantRouteLabel=TenantRouteLabel,
        Metered=MeteredApp,
        ProxyFix=ProxyFix,
    ),
    "asgi": SimpleNamespace(
        DispatcherMiddleware=asgi.DispatcherMiddleware,
        HostDispatcher=asgi.HostDispatcher,
        LazyDispatcher=asgi.LazyDispatcher,
        PathDispatcher=asgi.PathDispatcher,
        SubdomainDispatcher=asgi.SubdomainDispatcher,
        TenantDispatcher=asgi.TenantDispatcher,
        ConcurrencyLimit=asgi.ConcurrencyLimit,
        Cascade=asgi.Cascade,
        KeepPrefix=asgi.KeepPrefix,
        RouteLabel=asgi_meter.RouteLabel,
        TenantRouteLabel=asgi_meter.TenantRouteLabel,
        Metered=asgi_meter.MeteredSite,
        ProxyFix=ASGIProxyFix,
    ),
}


@dataclass
class ServedSite:
    """The site's app for one front (``"wsgi"`` or ``"asgi"``).

    On the WSGI front, ``bridges`` are its ASGI apps in config order: each
    serving process starts their lifespans (:meth:`startup`) before its first
    request and shuts them down in reverse order (:meth:`shutdown`). On the
    ASGI front the site answers the server's lifespan scope itself.
    """

    app: Any
    front: str
    bridges: list[ASGIBridge] = field(default_factory=list)
    #: The WSGI front's lazy dispatchers: their instances are retired at shutdown.
    lazy: list[wsgi_forms.LazyDispatcher] = field(default_factory=list)

    def startup(self) -> None:
        """Start every bridged ASGI app's lifespan in this process (``LifespanFailed``)."""
        started: list[ASGIBridge] = []
        try:
            for bridge in self.bridges:
                bridge.startup()
                started.append(bridge)
        except Exception:
            for bridge in reversed(started):
                bridge.close()
            raise

    def shutdown(self) -> None:
        """Retire every tenant instance (an ASGI one shuts down), then shut the
        bridged static apps down, in reverse order of startup."""
        for dispatcher in reversed(self.lazy):
            dispatcher.clear()
        for bridge in reversed(self.bridges):
            bridge.close()


def build_site(config: SiteConfig, observer: Observer | None = None) -> WSGIApplication:
    """Import every app and factory of ``config`` and build the site's WSGI app.

    With an ``observer``, every request is metered by the route it took, and
    the lazy and registry dispatchers report to it. Raises
    :class:`ConfigError` for the first problem, a registry schema newer than
    this appmux included: the registry is read once here (no thread starts),
    so a pre-fork server's workers inherit a snapshot.
    """
    return served_site(config, observer, "wsgi").app  # type: ignore[no-any-return]


def served_site(
    config: SiteConfig, observer: Observer | None = None, front: str | None = None
) -> ServedSite:
    """Build the site for ``front`` (``None``: ASGI if any app is ASGI, else WSGI)."""
    loader = _import_loader(config)
    if front is None:
        front = "asgi" if needs_asgi(config, loader) else "wsgi"
    builder = _Builder(config, loader, observer=observer, front=front)
    site = builder.site()
    builder.warm_registry()
    return ServedSite(site, front, builder.bridges, builder.lazy)


def needs_asgi(config: SiteConfig, loader: Loader | None = None) -> bool:
    """Whether any app of ``config`` is ASGI (a ``[tenants]`` table says so with
    ``interface = "asgi"``): such a site is served on the ASGI front by default."""
    load = loader or _import_loader(config)
    for node in _nodes(config.root):
        if isinstance(node, AppNode):
            if is_asgi(declared(load(node.ref, node.key, "app"), node.interface)):
                return True
        elif isinstance(node, TenantsNode) and node.interface == "asgi":
            return True
    return False


def _nodes(node: Node | None) -> Iterable[Node]:
    if node is None:
        return
    yield node
    if isinstance(node, MountsNode):
        yield from _nodes(node.root)
        for child in node.mounts.values():
            yield from _nodes(child)
    elif isinstance(node, HostsNode):
        for child in node.hosts.values():
            yield from _nodes(child)
        yield from _nodes(node.default)
    elif isinstance(node, TenantsNode):
        yield from _nodes(node.default)
    elif isinstance(node, CascadeNode):
        yield from node.apps


def route_label(host: str, prefix: str, tenants: bool = False) -> str:
    """The metrics label of a routing node, from its place in the config.

    ``tenants:*.example.com`` for a tenants node, else ``mount:/backend`` under
    a mount, ``host:api.example.com`` under a host, ``root`` at the top. Only
    config values, never request values: the set of labels is bounded.
    """
    if tenants:
        return f"tenants:{host if host != '*' else (prefix or '*')}"
    if prefix:
        return f"mount:{prefix}"
    return "root" if host == "*" else f"host:{host}"


def check_site(config: SiteConfig) -> list[ConfigError]:
    """Import every app and factory; return every problem found (empty: all well)."""
    builder = _Builder(config, _import_loader(config), errors=[])
    builder.site()
    errors = builder.errors or []
    try:
        builder.warm_registry()
    except ConfigError as exc:
        errors.append(exc)
    return errors


def _import_loader(config: SiteConfig) -> Loader:
    loaded: dict[tuple[str, str], Any] = {}  # a reference that calls runs once per build

    def load(ref: str, key: str, role: str) -> Any:
        if (ref, role) not in loaded:
            loaded[ref, role] = load_once(ref, key, role)
        return loaded[ref, role]

    def load_once(ref: str, key: str, role: str) -> Any:
        try:
            obj = load_reference(ref, config.folder)
        except BadReference as exc:
            raise ConfigError(config.path, key, str(exc)) from None
        if not callable(obj):
            what = "a WSGI application" if role == "app" else "an app factory"
            raise ConfigError(
                config.path, key, f"{ref!r} is {type(obj).__name__}, not {what} (not callable)"
            )
        return obj

    return load


def _declaring(factory: Callable[[Any], Any], interface: str) -> Callable[[Any], Any]:
    """``factory`` whose apps are taken for ``interface`` (``[tenants] interface``)."""

    def create(key: Any) -> Any:
        app = factory(key)
        if app is None or isinstance(app, HTTPException):
            return app
        return declared(app, interface)

    return create


class _Builder:
    def __init__(
        self,
        config: SiteConfig,
        loader: Loader,
        errors: list[ConfigError] | None = None,
        observer: Observer | None = None,
        front: str = "wsgi",
    ) -> None:
        self.config = config
        self.loader = loader
        self.errors = errors
        self.observer = observer
        self.front = front
        self.forms = FORMS[front]
        self._registry: Registry | None = None
        #: The registry dispatchers built, in order.
        self.tenant_dispatchers: list[RegistryTenants] = []
        #: On the WSGI front: the ASGI apps, bridged, in config order.
        self.bridges: list[ASGIBridge] = []
        #: On the WSGI front: the lazy dispatchers built, in config order.
        self.lazy: list[wsgi_forms.LazyDispatcher] = []

    def load(self, ref: str, key: str, role: str) -> Any:
        try:
            loaded = self.loader(ref, key, role)
        except ConfigError as exc:
            if self.errors is None:
                raise
            self.errors.append(exc)
            return NotFound() if role == "app" else (lambda key: None)
        if isinstance(loaded, RegistryTenants):  # built by user code: warmed all the same
            self.tenant_dispatchers.append(loaded)
        return loaded

    def site(self) -> Any:
        app = self.build(self.config.root)
        if self.config.proxy:
            app = self.forms.ProxyFix(app, **self.config.proxy)
        if self.observer is not None:
            app = self.forms.Metered(app, self.observer.meter, self.observer.on_request)
        return app

    def labelled(self, app: Any, host: str, prefix: str) -> Any:
        """``app`` naming its route for the metrics (only when observed)."""
        if self.observer is None:
            return app
        return self.forms.RouteLabel(route_label(host, prefix), app)

    def app(self, node: AppNode) -> Any:
        """The app a reference names, ready for this front (capped by ``max_concurrency``)."""
        app = self.front_app(node)
        if node.max_concurrency is None:
            return app
        return self.forms.ConcurrencyLimit(
            app, node.max_concurrency, queue_timeout=node.queue_timeout
        )

    def front_app(self, node: AppNode) -> Any:
        """The app a reference names, as this front serves it."""
        app = declared(self.load(node.ref, node.key, "app"), node.interface)
        if not is_asgi(app) or isinstance(app, ASGINode):
            return app
        name = f"{self.config.path}: {node.key}"  # lifespan failures name the config key
        if self.front == "asgi":
            return StaticApp(app, name)
        bridge = ASGIBridge(app, name)
        self.bridges.append(bridge)
        return bridge

    def build(self, node: Node, host: str = "*", prefix: str = "") -> Any:
        forms = self.forms
        if isinstance(node, AppNode):
            return self.app(node)
        if isinstance(node, CascadeNode):
            apps = [self.app(app) for app in node.apps]
            return forms.Cascade(apps, cascade_on=node.cascade_on, body_limit=node.body_limit)
        if isinstance(node, MountsNode):
            root = self.build(node.root, host, prefix) if node.root is not None else NotFound()
            mounts = {
                mount: self.labelled(self.mounted(child, host, prefix, mount), host, prefix + mount)
                for mount, child in node.mounts.items()
            }
            return forms.DispatcherMiddleware(root, mounts) if mounts else root
        if isinstance(node, HostsNode):
            hosts = {
                pattern: self.labelled(self.build(child, pattern, prefix), pattern, prefix)
                for pattern, child in node.hosts.items()
            }
            default = self.build(node.default, host, prefix) if node.default is not None else None
            return forms.HostDispatcher(hosts, default_app=default)
        return self.tenants(node, host, prefix)

    def mounted(self, node: Node, host: str, prefix: str, mount: str) -> Any:
        """The app at ``mount``, given the whole path back with ``strip_prefix = false``."""
        app = self.build(node, host, prefix + mount)
        if isinstance(node, AppNode | CascadeNode) and not node.strip_prefix:
            return self.forms.KeepPrefix(app, mount)
        return app

    def registry(self) -> Registry:
        """The site's one :class:`Registry` (``[registry] url`` or the environment)."""
        if self._registry is None:
            url = self.config.registry_url()
            if url is None:
                raise ConfigError(
                    self.config.path,
                    "registry.url",
                    f"missing: by = 'registry' needs [registry] url (or {REGISTRY_URL_ENV})",
                )
            try:
                settings = self.config.registry
                self._registry = Registry(
                    url, listen=settings.listen, log_retention=settings.log_retention
                )
            except ValueError as exc:
                raise ConfigError(self.config.path, "registry.url", str(exc)) from None
        return self._registry

    def warm_registry(self) -> None:
        """Read the registry once, so pre-forked workers start with a snapshot.

        A schema newer than this code is a :class:`ConfigError`; an unreachable
        registry is none (logged): the workers read it on first use, and answer
        ``503`` until they could.
        """
        try:
            for tenants in self.tenant_dispatchers:
                tenants.warm()
        except SchemaTooNew as exc:
            raise ConfigError(self.config.path, "registry", str(exc)) from None
        finally:
            for tenants in self.tenant_dispatchers:
                tenants.registry.close()  # each serving process opens its own connection

    def tenants(self, node: TenantsNode, host: str, prefix: str) -> Any:
        dispatcher = self.dispatcher(node, host, prefix)
        if isinstance(dispatcher, wsgi_forms.LazyDispatcher):
            self.lazy.append(dispatcher)
        if self.observer is None:
            return dispatcher
        label = route_label(host, prefix, tenants=True)
        if isinstance(dispatcher, wsgi_forms.LazyDispatcher | asgi.LazyDispatcher):
            self.observer.add_dispatcher(label, dispatcher)
            if self.observer.per_tenant:
                return self.forms.TenantRouteLabel(label, dispatcher)
        return self.forms.RouteLabel(label, dispatcher)

    def dispatcher(self, node: TenantsNode, host: str, prefix: str) -> Any:
        forms = self.forms
        factory = self.load(node.factory, f"{node.key}.factory", "factory")
        if node.interface is not None:
            factory = _declaring(factory, node.interface)
        default = self.build(node.default, host, prefix) if node.default is not None else None
        if node.by == "registry":
            tenants = forms.TenantDispatcher(
                self.registry(),
                factory,
                base_domains=node.base_domains,
                refresh_interval=self.config.registry.refresh_interval,
                max_delta=self.config.registry.max_delta,
                resync_interval=self.config.registry.resync_interval,
                load=self.config.registry.load,
                record_cache=self.config.registry.record_cache,
                unknown_tenant_app=default,
                **node.options,
            )
            self.tenant_dispatchers.append(tenants)
            return tenants
        if node.by == "subdomain":
            assert node.domain is not None  # the parser guarantees it
            return forms.SubdomainDispatcher(
                node.domain, factory, default_app=default, **node.options
            )
        if node.by == "path":
            return forms.PathDispatcher(default or NotFound(), factory, **node.options)
        assert node.header is not None
        return forms.LazyDispatcher(
            header_key(node.header), factory, default_app=default, **node.options
        )


# -- the routing table ------------------------------------------------------------


@dataclass(frozen=True)
class RouteRow:
    """One line of ``appmux routes``; ``label`` names the route in the metrics."""

    host: str
    prefix: str
    target: str
    kind: str
    options: str
    label: str = "root"


def route_rows(config: SiteConfig) -> list[RouteRow]:
    """The routing table of ``config``, most specific host first; imports nothing."""
    return list(_rows(config.root, "*", ""))


def _rows(
    node: Node, host: str, prefix: str, label: str = "root", label_host: str = "*"
) -> Iterable[RouteRow]:
    # ``host`` is what the table shows; ``label_host`` what the builder labels by.
    if isinstance(node, AppNode):
        yield RouteRow(host, prefix or "/", node.ref, "app", "", label)
    elif isinstance(node, CascadeNode):
        target = " | ".join(app.ref for app in node.apps)
        yield RouteRow(host, prefix or "/", target, f"cascade on {node.cascade_on}", "", label)
    elif isinstance(node, MountsNode):
        for mount, child in node.mounts.items():
            inner = route_label(label_host, prefix + mount)
            yield from _rows(child, host, prefix + mount, inner, label_host)
        if node.root is not None:
            yield from _rows(node.root, host, prefix, label, label_host)
    elif isinstance(node, HostsNode):
        for pattern, child in node.hosts.items():
            yield from _rows(child, pattern, prefix, route_label(pattern, prefix), pattern)
        if node.default is not None:
            shown = "*" if host == "*" else f"{host} (other)"
            yield from _rows(node.default, shown, prefix, label, label_host)
    else:
        if node.by == "subdomain":
            kind = f"tenant per subdomain of {node.domain}"
        elif node.by == "path":
            kind = "tenant per path segment"
        elif node.by == "registry":
            kind = f"tenant per registry entry (base {', '.join(node.base_domains) or '-'})"
        else:
            kind = f"tenant per {node.header} header"
        options = " ".join(f"{k}={v}" for k, v in node.options.items())
        inner = route_label(label_host, prefix, tenants=True)
        yield RouteRow(host, prefix or "/", f"{node.factory}(key)", kind, options, inner)
        if node.default is not None:
            yield from _rows(node.default, host, prefix, inner, label_host)


# -- resolving a URL ----------------------------------------------------------------


@dataclass
class Resolution:
    """Where a URL goes: the app's reference, its environ, and the tenant key."""

    status: str
    target: str | None = None
    kind: str | None = None
    script_name: str | None = None
    path_info: str | None = None
    tenant_key: str | None = None


def resolve_url(config: SiteConfig, url: str) -> Resolution:
    """Dispatch a request for ``url`` through ``config``'s tree of probes."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    environ = create_environ(path, f"{parts.scheme}://resolve.invalid/")
    # The Host header exactly as given: malformed ones must reach the dispatchers.
    environ["HTTP_HOST"] = parts.netloc
    resolution = Resolution(status="")

    def probe(target: str, kind: str, tenant_key: str | None = None) -> WSGIApplication:
        def app(environ: Environ, start_response: StartResponse) -> ResponseBody:
            resolution.target, resolution.kind = target, kind
            resolution.script_name = environ.get("SCRIPT_NAME", "")
            resolution.path_info = environ.get("PATH_INFO", "")
            resolution.tenant_key = tenant_key
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b""]

        return app

    def loader(ref: str, key: str, role: str) -> Any:
        if role == "app":
            return probe(ref, "app")

        def factory(tenant: Any) -> WSGIApplication:
            key = getattr(tenant, "key", tenant)  # a registry factory gets the record
            return probe(f"{ref}({key!r})", "tenant", key)

        return factory

    builder = _Builder(config, loader)
    site = builder.site()
    for tenants in builder.tenant_dispatchers:
        # One request: the registry is read only if the URL reaches it, and
        # no refresher thread is started to follow it.
        tenants.refresher.stop()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        resolution.status = status
        return lambda data: None

    body = site(environ, start_response)
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return resolution
