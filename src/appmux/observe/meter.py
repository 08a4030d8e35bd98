"""Per-process request counting, cheap enough for every request: no lock, no I/O.

:class:`MeteredApp` wraps a whole site. When a response body is closed it
appends one ``(route, status, seconds)`` tuple to :attr:`Meter.pending` (a
``deque``: one atomic C call); an exporter thread drains it into Prometheus
metrics off the request path. :class:`RouteLabel` wraps a routing node's app
and names the route a request took, in ``environ["appmux.route"]``: the
innermost label wins, and requests no node labelled count as ``root``. Labels
come from the config (``mount:/backend``, ``host:api.example.com``,
``tenants:*.example.com``), never from a request, so their number is bounded
whatever clients send.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..wsgi.body import ReleasingBody
from ..wsgi.lazy import LazyDispatcher
from ..wsgi.types import Environ, ResponseBody, StartResponse, WSGIApplication

__all__ = ["ROUTE_KEY", "Meter", "MeteredApp", "RouteLabel"]

#: The environ key routing nodes write their label to.
ROUTE_KEY = "appmux.route"

_clock = time.perf_counter


class Meter:
    """Observations waiting for the exporter, and this process's start time."""

    def __init__(self) -> None:
        #: ``(route, status line, seconds)`` per finished request, oldest first;
        #: ``route`` is a ``(route, tenant)`` pair under ``TenantRouteLabel``.
        self.pending: deque[tuple[Any, str | int, float]] = deque()
        #: ``(route, +1)`` when a websocket is accepted, ``(route, -1)`` when it ends.
        self.websockets: deque[tuple[str, int]] = deque()
        self.started_at = time.time()

    def drain(self) -> list[tuple[Any, str | int, float]]:
        """Take every pending observation (safe while requests append)."""
        return _drain(self.pending)

    def drain_websockets(self) -> list[tuple[str, int]]:
        """Take every pending websocket event."""
        return _drain(self.websockets)


def _drain(queue: deque[Any]) -> list[Any]:
    taken = []
    try:
        while True:
            taken.append(queue.popleft())
    except IndexError:
        return taken


class RouteLabel:
    """Names the route of requests that pass through ``app``."""

    __slots__ = ("label", "app")

    def __init__(self, label: str, app: WSGIApplication) -> None:
        self.label = label
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        environ[ROUTE_KEY] = self.label
        return self.app(environ, start_response)


class TenantRouteLabel:
    """Names the route and the tenant of a tenants node (``[metrics] per_tenant``).

    The label is a ``(route, tenant key or None)`` pair. The key is read before
    the dispatcher runs (it may rewrite the environ) and kept only if the key
    has a live app once it has: made-up hosts and paths never become labels.
    """

    __slots__ = ("label", "dispatcher")

    def __init__(self, label: str, dispatcher: LazyDispatcher) -> None:
        self.label = label
        self.dispatcher = dispatcher

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        dispatcher = self.dispatcher
        key = dispatcher.request_key(environ)
        environ[ROUTE_KEY] = (self.label, None)
        body = dispatcher(environ, start_response)
        if key is not None and dispatcher.has_app(key):
            environ[ROUTE_KEY] = (self.label, key)
        return body


class MeteredApp:
    """Counts every request of ``app`` by route and status, timed until the body closes.

    A body that is a ``list`` is complete when the app returns: it is recorded
    then, and passed on untouched (no wrapper to iterate or close).
    """

    __slots__ = ("app", "pending", "on_request")

    def __init__(
        self, app: WSGIApplication, meter: Meter, on_request: Callable[[], None] | None = None
    ) -> None:
        self.app = app
        self.pending = meter.pending
        #: Called once, on this process's first request (starts the exporter).
        self.on_request = on_request

    def __call__(self, environ: Environ, start_response: StartResponse) -> ResponseBody:
        if self.on_request is not None:
            self._first_request()
        timed = _Timed()
        timed.outer = start_response
        timed.status = "000"
        started = _clock()
        try:
            body = self.app(environ, timed.start_response)
        except BaseException:
            self.pending.append((environ.get(ROUTE_KEY, "root"), "500", _clock() - started))
            raise
        pending = self.pending
        if type(body) is list:
            pending.append((environ.get(ROUTE_KEY, "root"), timed.status, _clock() - started))
            return body

        def record() -> None:
            pending.append((environ.get(ROUTE_KEY, "root"), timed.status, _clock() - started))

        return ReleasingBody(body, record)

    def _first_request(self) -> None:
        # A forked child starts its exporter from its at-fork hook, so clearing
        # this is safe for pre-fork servers too.
        on_request, self.on_request = self.on_request, None
        if on_request is not None:
            on_request()


class _Timed:
    """One request's ``start_response``, remembering the status it was given."""

    __slots__ = ("outer", "status")

    outer: StartResponse
    status: str

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.status = status
        return self.outer(status, headers, exc_info)
