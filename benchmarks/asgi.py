"""ASGI scenarios: the bridges against a2wsgi, ASGI dispatch against Starlette's routing.

* ``bridge_scenario``: added latency per request in one process (one event
  loop, requests one after another) of a WSGI app under ``as_asgi`` vs
  a2wsgi's ``WSGIMiddleware`` (over a native ASGI app), and of an ASGI app
  under ``as_wsgi`` vs a2wsgi's ``ASGIMiddleware`` (over a raw WSGI app).
* ``uvicorn_scenario``: requests/s under uvicorn with wrk at 32 connections,
  the WSGI app behind each bridge.
* ``dispatch_scenario``: prefix, host and subdomain hits of ``appmux.asgi``
  vs Starlette's ``Mount``/``Host`` routes to the same native ASGI app.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import e2e
from .asgi_apps import raw_asgi, raw_wsgi, wsgi_a2wsgi, wsgi_appmux
from .harness import compare, environ_for

ASGIApp = Callable[..., Any]


def scope_for(path: str, host: str = "example.com") -> dict[str, Any]:
    """A minimal HTTP scope: what dispatchers and bridges read."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", host.encode()), (b"accept", b"*/*"), (b"user-agent", b"bench")],
        "server": (host, 80),
        "client": ("127.0.0.1", 50000),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _time_asgi(app: ASGIApp, scopes: list[dict[str, Any]], calls: int) -> float:
    reps = max(1, calls // len(scopes))
    start = time.perf_counter_ns()
    for _ in range(reps):
        for scope in scopes:
            await app(scope.copy(), _receive, _send)
    return (time.perf_counter_ns() - start) / (reps * len(scopes))


def compare_asgi(
    contenders: Mapping[str, ASGIApp], scopes: list[dict[str, Any]], *, rounds: int, calls: int
) -> dict[str, float]:
    """Median ns per request of each contender over interleaved, shuffled rounds (one loop)."""

    async def run() -> dict[str, float]:
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        rng = random.Random(0)
        for name in names:
            await _time_asgi(contenders[name], scopes, len(scopes) * 20)
        for _ in range(rounds):
            rng.shuffle(names)
            for name in names:
                samples[name].append(await _time_asgi(contenders[name], scopes, calls))
        return {name: statistics.median(values) for name, values in samples.items()}

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return asyncio.run(run())
    finally:
        if gc_was_enabled:
            gc.enable()


def _added(ns: dict[str, float], raw: str, ours: str, theirs: str) -> dict[str, Any]:
    added = {name: ns[name] - ns[raw] for name in ns if name != raw}
    return {"ns": ns, "added": added, "ratio": added[ours] / added[theirs]}


def bridge_scenario(rounds: int, calls: int) -> dict[str, Any]:
    """Added latency of each bridge in one process, against a2wsgi's."""
    from a2wsgi import ASGIMiddleware

    from appmux.interop import as_wsgi

    calls = max(200, calls // 20)  # a bridged request costs tens of microseconds
    scopes = [scope_for("/item")]
    wsgi_under_asgi = compare_asgi(
        {"raw": raw_asgi, "appmux": wsgi_appmux, "a2wsgi": wsgi_a2wsgi},
        scopes,
        rounds=rounds,
        calls=calls,
    )
    environ = environ_for("/item")
    environ.update(
        REQUEST_METHOD="GET",
        QUERY_STRING="",
        SERVER_PORT="80",
        SERVER_PROTOCOL="HTTP/1.1",
        **{"wsgi.url_scheme": "http", "wsgi.input": _EmptyInput()},
    )
    appmux_bridge, a2wsgi_bridge = as_wsgi(raw_asgi), ASGIMiddleware(raw_asgi)
    asgi_under_wsgi = compare(
        {
            "raw": _consuming(raw_wsgi),
            "appmux": _consuming(appmux_bridge),
            "a2wsgi": _consuming(a2wsgi_bridge),
        },
        [environ],
        rounds=rounds,
        calls=calls,
    )
    return {
        "wsgi_under_asgi": _added(wsgi_under_asgi, "raw", "appmux", "a2wsgi"),
        "asgi_under_wsgi": _added(asgi_under_wsgi, "raw", "appmux", "a2wsgi"),
    }


class _EmptyInput:
    def read(self, size: int = -1) -> bytes:
        return b""


def _consuming(app: Any) -> Any:
    """A WSGI app that consumes and closes ``app``'s body, as a server does."""

    def consume(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = app(environ, start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return []

    return consume


def _start_uvicorn(target: str) -> tuple[subprocess.Popen[bytes], str]:
    port = e2e._free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
            target,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=e2e.os.path.dirname(e2e.os.path.dirname(e2e.os.path.abspath(__file__))),
    )
    url = f"http://127.0.0.1:{port}/item"
    return e2e.wait_ready(process, url, "uvicorn"), url


def _wrk32(url: str, seconds: float) -> float:
    return e2e._wrk(url, seconds, connections=32, threads=2)


def uvicorn_scenario(rounds: int, seconds: float) -> dict[str, Any]:
    """Requests/s of the WSGI app behind each bridge, under uvicorn, 32 connections."""
    import shutil

    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed"}
    targets = {
        "appmux": "benchmarks.asgi_apps:wsgi_appmux",
        "a2wsgi": "benchmarks.asgi_apps:wsgi_a2wsgi",
    }
    rates: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            process, url = _start_uvicorn(target)
            try:
                _wrk32(url, 1)  # warm-up
                rates[name].append(_wrk32(url, seconds))
            finally:
                e2e._stop(process)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {"rps": medians, "ratio": medians["appmux"] / medians["a2wsgi"]}


def dispatch_scenario(rounds: int, calls: int) -> list[dict[str, Any]]:
    """Prefix, host and subdomain hits: appmux.asgi vs Starlette routing, same app."""
    from starlette.routing import Host, Mount, Router

    from appmux import asgi

    mounts = {f"/m{i}": raw_asgi for i in range(50)}
    cases = {
        "prefix hit (50 mounts)": (
            asgi.DispatcherMiddleware(raw_asgi, mounts),
            Router(routes=[Mount(prefix, app=app) for prefix, app in mounts.items()]),
            [scope_for("/m25/item")],
        ),
        "host hit (50 hosts)": (
            asgi.HostDispatcher({f"h{i}.example.com": raw_asgi for i in range(50)}),
            Router(routes=[Host(f"h{i}.example.com", app=raw_asgi) for i in range(50)]),
            [scope_for("/item", "h25.example.com")],
        ),
        "subdomain hit": (
            asgi.SubdomainDispatcher("example.com", lambda key: raw_asgi),
            Router(routes=[Host("{tenant}.example.com", app=raw_asgi)]),
            [scope_for("/item", f"t{i}.example.com") for i in range(100)],
        ),
    }
    rows = []
    for case, (ours, theirs, scopes) in cases.items():
        ns = compare_asgi(
            {"raw": raw_asgi, "appmux": ours, "starlette": theirs},
            scopes,
            rounds=rounds,
            calls=calls // 5,
        )
        rows.append({"case": case, **_added(ns, "raw", "appmux", "starlette")})
    return rows


def metering_scenario(rounds: int, calls: int) -> dict[str, Any]:
    """What metering adds to an ASGI request in one process (``[admin]`` on the ASGI front)."""
    from appmux.asgi.nodes import static_app
    from appmux.observe.asgi_meter import MeteredSite, RouteLabel
    from appmux.observe.meter import Meter

    meter = Meter()
    # The site serves a static ASGI app through its StaticApp (its own lifespan state)
    # with or without [admin]: the contenders differ by the metering alone.
    served = static_app(raw_asgi, "mount:/api")
    metered = MeteredSite(RouteLabel("mount:/api", served), meter)
    ns = compare_asgi(
        {"raw": served, "metered": metered}, [scope_for("/item")], rounds=rounds, calls=calls // 5
    )
    meter.drain()
    return {"ns": ns, "metering_added_ns": ns["metered"] - ns["raw"]}
