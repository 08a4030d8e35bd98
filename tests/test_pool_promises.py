"""The pool keeps its promises: bounded memory for the documented factory, idle apps retired.

Each test here failed before the fix it names (issue: "hold every claim").
"""

from __future__ import annotations

import multiprocessing
import os
import random
import string
import threading
import time
import tracemalloc
from typing import Any

import pytest
from werkzeug.exceptions import Gone, NotFound
from wsgi_helpers import call, echo_app

from appmux import LazyDispatcher, PathDispatcher, SubdomainDispatcher, header_key
from appmux.background import reaper
from appmux.core.pool import InstancePool

KNOWN = {"acme", "globex"}


def documented_make_app(subdomain: str) -> Any:
    """Flask's page: an app for a known subdomain, ``NotFound()`` for any other."""
    if subdomain not in KNOWN:
        return NotFound()
    return echo_app(f"tenant:{subdomain}")


def random_label(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits, k=12))


# -- defect 1: an HTTPException from the factory is an answer, not a tenant ------------


def test_flood_of_invented_subdomains_keeps_no_instance_and_bounded_memory() -> None:
    dispatcher = SubdomainDispatcher("example.com", documented_make_app)
    rng = random.Random(7)
    assert call(dispatcher, host="acme.example.com").text == "tenant:acme||/"

    def flood(count: int) -> None:
        for _ in range(count):
            response = call(dispatcher, host=f"{random_label(rng)}.example.com")
            assert response.status == 404

    flood(3_000)  # warm-up: the negative cache and the host memo fill up to their bounds
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    flood(8_000)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    stats = dispatcher.stats()
    assert stats.live == 1 and dispatcher.keys() == ["acme"]
    assert list(dispatcher.instances) == ["acme"]
    assert 0 < stats.negative <= 1024
    # Before the fix each invented host kept a live app: ~8,000 x 800 B = 6 MB.
    assert grown < 1_000_000, f"memory grew by {grown} bytes over 8,000 invented hosts"


@pytest.mark.parametrize("kind", ["subdomain", "path", "header"])
def test_http_exception_answer_is_served_cached_and_never_live(kind: str) -> None:
    calls: list[str] = []

    def factory(key: str) -> Any:
        calls.append(key)
        return Gone() if key == "old" else echo_app(f"tenant:{key}")

    dispatcher: LazyDispatcher
    if kind == "subdomain":
        dispatcher = SubdomainDispatcher("example.com", factory, max_instances=10)
        request: dict[str, Any] = {"host": "old.example.com"}
    elif kind == "path":
        dispatcher = PathDispatcher(echo_app("default"), factory)
        request = {"path": "/old/x"}
    else:
        dispatcher = LazyDispatcher(header_key("X-Tenant"), factory, idle_timeout=60)
        request = {"HTTP_X_TENANT": "old"}
    for _ in range(3):
        response = call(dispatcher, **request)
        assert response.status == 410
    assert calls == ["old"]  # cached: the factory ran once
    assert dispatcher.keys() == [] and dict(dispatcher.instances) == {}
    stats = dispatcher.stats()
    assert (stats.live, stats.negative, stats.creations) == (0, 1, 0)
    assert dispatcher.invalidate("old") is True  # dropped at once
    assert dispatcher.stats().negative == 0
    assert call(dispatcher, **request).status == 410
    assert calls == ["old", "old"]


def test_http_exception_answer_expires_with_negative_ttl() -> None:
    answers = {"n": 0}

    def factory(key: str) -> Any:
        answers["n"] += 1
        return NotFound() if answers["n"] == 1 else echo_app(f"tenant:{key}")

    dispatcher = SubdomainDispatcher("example.com", factory, negative_ttl=0.2)
    assert call(dispatcher, host="late.example.com").status == 404
    assert call(dispatcher, host="late.example.com").status == 404  # cached
    time.sleep(0.4)
    assert call(dispatcher, host="late.example.com").text == "tenant:late||/"


# -- defect 2: an idle app is retired, never revived -------------------------------------


class Closable:
    def __init__(self, key: str, serial: int) -> None:
        self.key, self.serial = key, serial
        self.closed = threading.Event()

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        assert not self.closed.is_set(), "served after close()"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{self.key}#{self.serial}".encode()]

    def close(self) -> None:
        self.closed.set()


class ClosableFactory:
    def __init__(self) -> None:
        self.made: list[Closable] = []

    def __call__(self, key: str) -> Closable:
        app = Closable(key, len(self.made))
        self.made.append(app)
        return app


@pytest.mark.parametrize("closable", [True, False])
def test_app_idle_past_the_timeout_is_replaced_not_revived(closable: bool) -> None:
    made: list[str] = []

    def factory(key: str) -> Any:
        made.append(key)
        if closable:
            return Closable(key, len(made))
        return echo_app(f"{key}#{len(made)}")

    dispatcher = SubdomainDispatcher("example.com", factory, idle_timeout=0.2)
    first = call(dispatcher, host="acme.example.com").text
    time.sleep(0.7)
    second = call(dispatcher, host="acme.example.com").text
    assert made == ["acme", "acme"], "the idle instance served the second request"
    assert first != second
    assert dispatcher.stats().evictions >= 1


def test_pool_lookup_never_returns_a_value_idle_for_the_timeout() -> None:
    now = [100.0]
    retired: list[tuple[str, str]] = []
    serial = iter(range(100))
    pool: InstancePool[str] = InstancePool(
        lambda key: f"{key}{next(serial)}",
        idle_timeout=10,
        clock=lambda: now[0],
        on_retire=lambda key, value: retired.append((key, value)),
    )
    assert pool.get("a") == "a0"
    now[0] += 9.9
    assert pool.get("a") == "a0"  # used within the timeout: same value
    now[0] += 10  # exactly idle_timeout since the last use
    assert pool.get("a") == "a1"
    assert retired == [("a", "a0")]


def test_quiet_server_frees_idle_apps_without_any_request() -> None:
    factory = ClosableFactory()
    dispatcher = SubdomainDispatcher("example.com", factory, idle_timeout=0.4)
    for key in ("a", "b", "c"):
        assert call(dispatcher, host=f"{key}.example.com").status == 200
    assert reaper.running()
    started = time.monotonic()
    deadline = started + 5  # the promise is ~1.5 x 0.4 s; the margin is for a noisy machine
    while dispatcher.keys() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dispatcher.keys() == []
    assert all(app.closed.is_set() for app in factory.made)
    assert time.monotonic() - started < 5


def test_reaper_is_one_thread_per_process_however_many_pools() -> None:
    dispatchers = [
        SubdomainDispatcher("example.com", ClosableFactory(), idle_timeout=30) for _ in range(5)
    ]
    for dispatcher in dispatchers:
        call(dispatcher, host="a.example.com")
    names = [t.name for t in threading.enumerate() if t.name == "appmux-reaper"]
    assert names == ["appmux-reaper"]


def test_unbounded_pool_never_starts_the_reaper_for_itself() -> None:
    dispatcher = SubdomainDispatcher("example.com", ClosableFactory())
    call(dispatcher, host="a.example.com")
    assert dispatcher._pool not in reaper.watched()


def _child_reports_reaper(queue: Any) -> None:
    queue.put((os.getpid(), reaper.running()))


def test_forked_child_with_live_apps_runs_its_own_reaper() -> None:
    dispatcher = SubdomainDispatcher("example.com", ClosableFactory(), idle_timeout=30)
    call(dispatcher, host="a.example.com")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_reports_reaper, args=(queue,))
    child.start()
    pid, running = queue.get(timeout=20)
    child.join(20)
    assert pid != os.getpid() and running
