"""``max_concurrency``: a stuck tenant cannot take the others down.

In process (WSGI through ``wsgiref.validate``, and ASGI) for every kind of
dispatcher and for one static app, then on a real gunicorn with threads: one
tenant hangs under 30 clients while the others are served at once.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_helpers import http_scope
from servers import serve
from wsgi_helpers import make_environ

import appmux.asgi
from appmux import (
    ConcurrencyLimit,
    LazyDispatcher,
    PathDispatcher,
    Registry,
    SubdomainDispatcher,
    TenantDispatcher,
    host_key,
)
from appmux.serve.config import ConfigError, load_config


def status_of(
    app: Any, host: str = "example.com", path: str = "/"
) -> tuple[int, Any, dict[str, str]]:
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"] = status
        seen.update(headers)
        return lambda data: None

    body = app(make_environ(path, host), start_response)
    return int(seen["status"].split()[0]), body, seen


def ok_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def record_factory(record: Any) -> Any:
    return ok_app


@pytest.fixture
def registry(tmp_path: Path) -> Any:
    registry = Registry(f"sqlite:///{tmp_path}/t.db")
    registry.init()
    for key in ("a", "b"):
        registry.add_tenant(key)
    yield registry
    registry.close()


def dispatchers(registry: Registry) -> dict[str, tuple[Any, str, str, str]]:
    """Each dispatcher kind capped at 2, with a host and path for tenant a and for b."""
    return {
        "subdomain": (
            SubdomainDispatcher("example.com", lambda key: ok_app, max_concurrency=2),
            "a.example.com",
            "b.example.com",
            "/",
        ),
        "path": (PathDispatcher(ok_app, lambda key: ok_app, max_concurrency=2), "x", "x", "/a/"),
        "host": (
            LazyDispatcher(host_key, lambda key: ok_app, max_concurrency=2),
            "a.example.com",
            "b.example.com",
            "/",
        ),
        "registry": (
            TenantDispatcher(
                registry, record_factory, base_domains=["example.com"], max_concurrency=2
            ),
            "a.example.com",
            "b.example.com",
            "/",
        ),
    }


@pytest.mark.parametrize("kind", ["subdomain", "path", "host", "registry"])
def test_a_tenant_over_its_cap_gets_503_and_the_others_are_served(
    kind: str, registry: Registry
) -> None:
    app, host_a, host_b, path_a = dispatchers(registry)[kind]
    first = status_of(app, host_a, path_a)
    second = status_of(app, host_a, path_a)
    assert first[0] == second[0] == 200  # two bodies still open: two in flight
    third = status_of(app, host_a, path_a)
    assert third[0] == 503 and third[2]["Retry-After"] == "1"
    third[1].close()
    other_path = "/b/" if kind == "path" else "/"
    other = status_of(app, host_b, other_path)
    assert other[0] == 200
    other[1].close()
    first[1].close()  # a slot frees when a streamed body is closed
    again = status_of(app, host_a, path_a)
    assert again[0] == 200
    for _, body, _ in (second, again):
        body.close()
    stats = app.stats()
    assert stats.rejections == 1
    assert [key for _, key in app.recent_rejections] == ["a.example.com" if kind == "host" else "a"]


def test_queue_timeout_waits_for_a_slot_then_gives_up() -> None:
    app = SubdomainDispatcher(
        "example.com", lambda key: ok_app, max_concurrency=1, queue_timeout=0.5
    )
    status, body, _ = status_of(app, "a.example.com")
    assert status == 200
    threading.Timer(0.1, body.close).start()
    began = time.monotonic()
    status, waited, _ = status_of(app, "a.example.com")  # gets the slot when it frees
    assert status == 200 and 0.05 < time.monotonic() - began < 0.45
    began = time.monotonic()
    status, refused, _ = status_of(app, "a.example.com")  # nobody frees it: 503 after 0.5 s
    assert status == 503 and 0.45 < time.monotonic() - began < 3
    refused.close()
    waited.close()


def test_a_static_app_takes_the_same_cap() -> None:
    limited = ConcurrencyLimit(ok_app, max_concurrency=1)
    status, body, _ = status_of(limited)
    assert status == 200
    assert status_of(limited)[0] == 503 and limited.rejections == 1
    body.close()
    assert status_of(limited)[0] == 200
    with pytest.raises(ValueError, match="max_concurrency"):
        ConcurrencyLimit(ok_app, max_concurrency=0)


def test_the_asgi_forms_cap_in_flight_requests_and_websockets() -> None:
    gates: list[asyncio.Event] = []

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")  # declined, as Django does
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await gates[-1].wait()
        await send({"type": "http.response.body", "body": b"done"})

    async def run(app: Any, host: str) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(http_scope("/", host), receive, send)
        return int(sent[0]["status"])

    async def scenario(app: Any, other: str | None) -> list[int]:
        release = asyncio.Event()  # of this scenario's loop
        gates.append(release)
        held = [asyncio.create_task(run(app, "a.example.com")) for _ in range(2)]
        await asyncio.sleep(0.05)
        over = await run(app, "a.example.com")
        others = [] if other is None else [await asyncio.wait_for(run(app, other), 5)]
        release.set()
        return [over, *others, *[await task for task in held]]

    tenants = appmux.asgi.SubdomainDispatcher(
        "example.com", lambda key: slow if key == "a" else ok_app, max_concurrency=2
    )
    assert asyncio.run(scenario(tenants, "b.example.com")) == [503, 200, 200, 200]
    assert tenants.stats().rejections == 1
    static = appmux.asgi.ConcurrencyLimit(slow, max_concurrency=2)
    assert asyncio.run(scenario(static, None)) == [503, 200, 200]


def test_config_takes_max_concurrency_for_tenants_and_for_one_app(tmp_path: Path) -> None:
    config = tmp_path / "appmux.toml"
    config.write_text(
        '[hosts."localhost".mounts]\n"/" = "site:frontend"\n'
        '[hosts."localhost".mounts."/reports"]\napp = "site:reports"\nmax_concurrency = 4\n'
        "queue_timeout = 0.5\n"
        '[tenants]\nby = "subdomain"\ndomain = "example.com"\n'
        'factory = "site:make"\nmax_concurrency = 2\n'
    )
    loaded = load_config(config)
    reports = loaded.root.hosts["localhost"].mounts["/reports"]  # type: ignore[union-attr]
    assert (reports.max_concurrency, reports.queue_timeout) == (4, 0.5)
    assert loaded.root.default.options["max_concurrency"] == 2  # type: ignore[union-attr]
    for bad, message in (
        ('[mounts."/r"]\napp = "site:r"\nmax_concurrency = 0\n', "max_concurrency"),
        ('[mounts."/r"]\nmounts = {}\nmax_concurrency = 2\n', "goes beside app"),
        ('[mounts."/r"]\napp = "site:r"\nqueue_timeout = -1\n', "queue_timeout"),
    ):
        config.write_text('[mounts]\n"/" = "site:frontend"\n' + bad)
        with pytest.raises(ConfigError, match=message):
            load_config(config)


# -- on a real server ---------------------------------------------------------------------

STUCK_APP = """
import os, time
from pathlib import Path

RELEASE = Path(os.environ["STUCK_RELEASE"])


def make(key):
    def app(environ, start_response):
        if key == "stuck":
            deadline = time.monotonic() + 20
            while not RELEASE.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [key.encode()]
    return app
"""


def stuck_tenant_run(tmp_path: Path, limit: str) -> dict[str, Any]:
    """30 clients on a tenant that hangs, and other tenants requested meanwhile."""
    site = tmp_path / ("limited" if limit else "unlimited")
    site.mkdir()
    (site / "stuck_app.py").write_text(STUCK_APP)
    (site / "appmux.toml").write_text(
        '[tenants]\nby = "subdomain"\ndomain = "example.com"\nfactory = "stuck_app:make"\n' + limit
    )
    release = site / "release"
    args = ["--server", "gunicorn", "--workers", "2", "--worker-class", "gthread", "--threads", "8"]
    stuck: list[tuple[int | None, float]] = []
    others: list[tuple[int | None, float]] = []

    clients = threading.local()  # one client per thread: making one costs ~10 ms of TLS setup

    def ask(host: str, timeout: float, into: list[tuple[int | None, float]]) -> None:
        client = getattr(clients, "client", None)
        if client is None:
            client = clients.client = httpx.Client()
        began = time.monotonic()
        try:
            answer = client.get(
                f"{server.url}/", headers={"Host": host, "Connection": "close"}, timeout=timeout
            )
            into.append((answer.status_code, time.monotonic() - began))
        except httpx.HTTPError:
            into.append((None, time.monotonic() - began))

    with serve(
        site / "appmux.toml", *args, tmp_path=site, env={"STUCK_RELEASE": str(release)}
    ) as server:
        for key in ("a", "b", "c", "d"):  # every tenant but the stuck one exists already
            for _ in range(4):
                ask(f"{key}.example.com", 5, [])
        stuck_clients = [
            threading.Thread(target=ask, args=("stuck.example.com", 25, stuck)) for _ in range(30)
        ]
        for client in stuck_clients:
            client.start()
        time.sleep(1.0)  # the stuck tenant has all the requests it will get

        def other_tenant(key: str) -> None:
            # One asker per tenant: the askers alone never exceed the cap of a tenant.
            for _ in range(10):
                ask(f"{key}.example.com", 1, others)

        askers = [threading.Thread(target=other_tenant, args=(key,)) for key in "abcd"]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(60)
        release.touch()
        for client in stuck_clients:
            client.join(30)
    return {"stuck": stuck, "others": others}


def test_a_stuck_tenant_cannot_starve_the_others_with_max_concurrency(tmp_path: Path) -> None:
    run = stuck_tenant_run(tmp_path, "max_concurrency = 2\n")
    others = run["others"]
    assert len(others) == 40 and all(status == 200 for status, _ in others)
    latencies = sorted(seconds for _, seconds in others)
    assert latencies[int(0.99 * (len(latencies) - 1))] < 0.1, statistics.quantiles(latencies)
    refused = [seconds for status, seconds in run["stuck"] if status == 503]
    served = [status for status, _ in run["stuck"] if status == 200]
    assert len(refused) + len(served) == 30
    assert len(served) <= 4  # two per worker held the slots
    assert refused and max(refused) < 1.0  # at once, not after a wait


def test_without_max_concurrency_a_stuck_tenant_starves_the_others(tmp_path: Path) -> None:
    """The defect the cap fixes: 30 hanging requests hold the threads of a worker.

    How gunicorn's two workers split the 30 accepts varies: both may be full (all
    40 other requests time out), or one may keep a thread or more free, but the
    worker that took 15 or more stuck requests is full, and about half the others
    land on it and time out.
    """
    run = stuck_tenant_run(tmp_path, "")
    failed = [status for status, _ in run["others"] if status != 200]
    assert len(failed) >= 10 and set(failed) == {None}  # client timeouts, not answers


def test_rejections_show_in_metrics_and_on_the_status_page(tmp_path: Path) -> None:
    from servers import free_port
    from test_observe import samples, wait_for

    port = free_port()
    admin = f"http://127.0.0.1:{port}"
    (tmp_path / "stuck_app.py").write_text(STUCK_APP)
    (tmp_path / "appmux.toml").write_text(
        f'[admin]\nbind = "127.0.0.1:{port}"\n'
        '[tenants]\nby = "subdomain"\ndomain = "example.com"\nfactory = "stuck_app:make"\n'
        "max_concurrency = 1\n"
    )
    release = tmp_path / "release"
    args = ["--server", "gunicorn", "--workers", "1", "--threads", "4"]
    env = {"STUCK_RELEASE": str(release)}
    with serve(tmp_path / "appmux.toml", *args, tmp_path=tmp_path, env=env) as server:
        held = threading.Thread(target=lambda: server.get("/", host="stuck.example.com"))
        held.start()
        try:
            refused = 0
            deadline = time.monotonic() + 10
            time.sleep(0.5)  # the held request has its slot
            while refused < 3 and time.monotonic() < deadline:
                try:  # if this one got the slot first, it hangs: give up on it
                    answer = httpx.get(
                        server.url + "/", headers={"Host": "stuck.example.com"}, timeout=2
                    )
                except httpx.TimeoutException:
                    continue
                refused += answer.status_code == 503
            assert refused == 3
        finally:
            release.touch()
            held.join(30)
        label = "tenants:*"

        def rejections() -> float:
            return samples(admin, "appmux_tenant_rejections_total").get(
                (("dispatcher", label),), 0.0
            )

        assert wait_for(lambda: rejections() == 3), samples(admin, "appmux_tenant_rejections_total")
        status = httpx.get(admin + "/status.json", timeout=10).json()["dispatchers"][label]
        assert status["rejections"] == 3
        assert [r["key"] for r in status["rejected"]] == ["stuck", "stuck", "stuck"]
        page = httpx.get(admin + "/status", timeout=10).text
        assert 'class="rejected-key">stuck<' in page and "Rejected at max_concurrency" in page
