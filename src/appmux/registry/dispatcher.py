"""The WSGI app that serves tenants from the registry: :class:`TenantDispatcher`.

::

    from appmux import Registry, TenantDispatcher

    def create_app(record):
        app = make_flask_app()
        app.config.update(record.config)
        return app

    application = TenantDispatcher(
        Registry("sqlite:///tenants.db"), create_app, base_domains=["example.com"]
    )

A request's host is normalized as everywhere in appmux, then resolved against
the process's current snapshot: a custom domain (exact, then ``*.`` wildcard),
else ``<key>.<base domain>``, else ``400``. An unknown key is a ``404`` (or
``unknown_tenant_app``); a suspended tenant gets ``suspended_status`` and an
archived one ``410``; a redirecting domain a ``308`` to the primary host. An
active tenant's app is built by ``create_app(record)`` once per tenant key,
whichever host reached it, and sees ``environ["appmux.tenant"]``.

No request queries the registry: a background refresher swaps in a new
snapshot when the registry's revision moves, and retires the apps of tenants
whose status, config or rev changed (each is closed once its in-flight
requests finish, and rebuilt on its next request). The constructor reads
nothing: the registry is read on first use, or by :meth:`TenantDispatcher.start`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from ..core.hosts import normalize_domain
from ..core.lease import Lease
from ..core.pool import InstancePool
from ..core.router import LazyRouter
from ..wsgi.lazy import LazyDispatcher
from ..wsgi.types import WSGIApplication
from .ondemand import OnDemandView
from .records import TenantRecord
from .refresher import MAX_DELTA, RESYNC_INTERVAL, Refresher
from .routing import TenantHosts
from .snapshot import View
from .store import Registry

__all__ = ["RegistryTenants", "TenantDispatcher"]

RecordFactory = Callable[[TenantRecord], "WSGIApplication | None"]
#: The values of ``load``, and the default of ``record_cache``.
LOADS = ("all", "on-demand")
RECORD_CACHE = 10_000


class RegistryTenants:
    """What both forms of :class:`TenantDispatcher` do: follow a registry, resolve hosts.

    Mixed in before a ``LazyDispatcher`` (WSGI or ASGI), which it configures
    with the registry's key rule and a factory of records.
    """

    _router: LazyRouter
    _pool: InstancePool[Lease]
    clear: Callable[[], None]

    def __init__(
        self,
        registry: Registry,
        create_app: RecordFactory,
        *,
        base_domains: Iterable[str] = (),
        refresh_interval: float = 1.0,
        unknown_tenant_app: Any | None = None,
        suspended_status: int = 403,
        max_delta: int = MAX_DELTA,
        resync_interval: float = RESYNC_INTERVAL,
        load: str = "all",
        record_cache: int = RECORD_CACHE,
        **options: Any,
    ) -> None:
        if isinstance(base_domains, str):
            base_domains = [base_domains]
        if not callable(create_app):
            raise TypeError("create_app must be callable")
        self.registry = registry
        self.base_domains = tuple(normalize_domain(domain) for domain in base_domains)
        self.create_tenant_app = create_app
        if load not in LOADS:
            raise ValueError(f"load must be 'all' or 'on-demand', not {load!r}")
        #: ``"all"`` (every record held) or ``"on-demand"`` (recently served ones).
        self.load = load
        self._snapshot: View | None = None
        self._start_lock = threading.Lock()
        read_whole = None
        if load == "on-demand":
            read_whole = OnDemandView(registry, self.base_domains, record_cache).reload
        self.refresher = Refresher(
            registry,
            self._install,
            refresh_interval,
            max_delta=max_delta,
            resync_interval=resync_interval,
            read_whole=read_whole,
        )
        rule = TenantHosts(
            self._current,
            self.base_domains,
            suspended_status=suspended_status,
            refresh_interval=refresh_interval,
        )
        super().__init__(  # type: ignore[call-arg]
            rule,
            self._create_for_key,
            default_app=unknown_tenant_app,
            tenant_of=self._record_of,
            **options,
        )

    @property
    def snapshot(self) -> View | None:
        """The view requests are served from (``None`` until the first read): a
        :class:`~appmux.registry.Snapshot`, or on demand an ``OnDemandView``."""
        return self._snapshot

    def warm(self) -> View | None:
        """Read the registry now, without following it; ``None`` (logged) if it is down.

        A pre-fork master calls it so that its workers start with a snapshot;
        a worker that has one starts following the registry at once.
        :class:`~appmux.registry.SchemaTooNew` propagates.
        """
        with self._start_lock:
            return self.refresher.load_now()

    def start(self) -> None:
        """Read the registry if this process never has, and follow it from now on.

        Runs by itself on the first request that needs the registry; a server
        may call it earlier (an ASGI lifespan startup).
        """
        if self._snapshot is None and not self.refresher.started:
            with self._start_lock:
                if self._snapshot is None and not self.refresher.started:
                    self.refresher.load_now()
        self.refresher.ensure_running()

    def _current(self) -> View | None:
        self.start()
        return self._snapshot

    def _record_of(self, key: str) -> TenantRecord | None:
        snapshot = self._snapshot
        return snapshot.record(key) if snapshot is not None else None

    def _create_for_key(self, key: str) -> WSGIApplication | None:
        record = self._record_of(key)
        if record is None or record.status != "active":
            return None  # changed under this request; the next snapshot retires it
        return self.create_tenant_app(record)

    # -- following the registry ------------------------------------------------------------

    def _install(self, new: View) -> None:
        """Serve from ``new``; retire the apps of tenants that changed."""
        old, self._snapshot = self._snapshot, new
        router = self._router
        router.forget_routes()  # at once: no memo hit serves an old record from here on
        for key in new.stale_after(old):
            self._pool.invalidate(key)
        router.forget_routes()  # again: requests may have memoized a retired app meanwhile

    def close(self) -> None:
        """Stop following the registry and retire every app."""
        self.refresher.stop()
        self.clear()


class TenantDispatcher(RegistryTenants, LazyDispatcher):
    """Serve one app per registry tenant, by custom domain or subdomain of a base domain.

    :param registry: the :class:`~appmux.registry.Registry` to follow.
    :param create_app: ``create_app(record)`` builds an active tenant's WSGI app.
    :param base_domains: ``acme.example.com`` is tenant ``acme`` for base ``example.com``.
    :param refresh_interval: seconds between the refresher's revision checks.
    :param unknown_tenant_app: answers hosts of unknown tenants (a sign-up page);
        a 404 if ``None``.
    :param suspended_status: the status suspended tenants get (403 by default).
    :param max_delta: more changes pending than this are caught up by a whole read.
    :param resync_interval: seconds (with jitter) between whole re-reads, a backstop.
    :param load: ``"all"`` holds every tenant's record; ``"on-demand"`` only the
        ``record_cache`` most recently served ones, fetching a miss with one query.
    :param record_cache: with ``load="on-demand"``, how many records to hold.
    :param options: the pool's options as keywords (``max_instances``,
        ``idle_timeout``, ``failure_backoff``, ``create_timeout``...).
    """
