"""The instance pool alone: single flight, failures, negatives, bounds, counters."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from appmux.core.pool import CreationFailed, InstancePool


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hit_returns_the_created_value_and_counts() -> None:
    calls: list[str] = []
    pool: InstancePool[str] = InstancePool(lambda k: calls.append(k) or f"app-{k}")
    assert pool.get("a") == "app-a"
    assert pool.get("a") == "app-a"
    assert pool.get("b") == "app-b"
    assert calls == ["a", "b"]
    stats = pool.stats()
    assert (stats.live, stats.hits, stats.misses, stats.creations) == (2, 1, 2, 2)
    assert pool.keys() == ["a", "b"]


def test_concurrent_first_requests_create_once() -> None:
    calls: list[str] = []
    release = threading.Event()

    def slow_factory(key: str) -> object:
        calls.append(key)
        assert release.wait(10)
        return object()

    pool: InstancePool[object] = InstancePool(slow_factory)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(pool.get("k"))) for _ in range(32)]
    for t in threads:
        t.start()
    # Release the factory only once all 32 requests have missed: they are all concurrent.
    deadline = time.monotonic() + 10
    while pool.stats().misses < 32 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.stats().misses == 32
    release.set()
    for t in threads:
        t.join(10)
    assert calls == ["k"]
    assert len(results) == 32 and len({id(r) for r in results}) == 1


def test_slow_key_does_not_block_other_keys() -> None:
    release = threading.Event()
    slow_started = threading.Event()

    def factory(key: str) -> str:
        if key == "slow":
            slow_started.set()
            release.wait(10)
        return key

    pool: InstancePool[str] = InstancePool(factory)
    pool.get("fast")
    slow = threading.Thread(target=pool.get, args=("slow",))
    slow.start()
    assert slow_started.wait(10)  # "slow" is being created now
    started = time.monotonic()
    assert pool.get("fast") == "fast"  # a hit
    assert pool.get("other") == "other"  # a creation, while "slow" is being created
    elapsed = time.monotonic() - started
    release.set()
    slow.join(10)
    assert elapsed < 1.0  # generous: the slow factory would hold it for 10 s


def test_failure_backs_off_then_retries(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    attempts: list[str] = []

    def flaky(key: str) -> str:
        attempts.append(key)
        if len(attempts) == 1:
            raise RuntimeError("database down")
        return "app"

    pool: InstancePool[str] = InstancePool(flaky, failure_backoff=2.0, clock=clock)
    with caplog.at_level(logging.ERROR, logger="appmux"), pytest.raises(CreationFailed):
        pool.get("k")
    assert "database down" in caplog.text  # the traceback went to the appmux logger
    clock.now += 1.0
    with pytest.raises(CreationFailed) as failure:
        pool.get("k")  # still backing off: the factory is not called
    assert failure.value.retry_after == pytest.approx(1.0)
    assert attempts == ["k"]
    assert pool.get("other") == "app"  # other keys are unaffected
    clock.now += 1.5
    assert pool.get("k") == "app"
    assert pool.stats().creation_failures == 1


def test_waiters_of_a_failing_creation_fail_too() -> None:
    gate = threading.Event()

    def failing(key: str) -> str:
        gate.wait(5)
        raise RuntimeError("boom")

    pool: InstancePool[str] = InstancePool(failing)
    errors: list[BaseException] = []

    def request() -> None:
        try:
            pool.get("k")
        except CreationFailed as exc:
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(errors) == 8
    assert pool.stats().creation_failures == 1


def test_base_exception_in_factory_still_wakes_waiters() -> None:
    def interrupted(key: str) -> str:
        raise KeyboardInterrupt

    pool: InstancePool[str] = InstancePool(interrupted)
    with pytest.raises(KeyboardInterrupt):
        pool.get("k")
    assert pool._creating == {}


def test_negative_results_are_cached_bounded_and_expire() -> None:
    clock = FakeClock()
    calls: list[str] = []
    pool: InstancePool[str] = InstancePool(
        lambda k: calls.append(k), negative_ttl=5.0, max_negative=100, clock=clock
    )
    for _ in range(3):
        assert pool.get("nobody") is None
    assert calls == ["nobody"]
    clock.now += 6
    assert pool.get("nobody") is None
    assert calls == ["nobody", "nobody"]
    for i in range(10_000):
        pool.get(f"flood-{i}")
    assert pool.stats().negative <= 100
    pool.get("flood-9999")
    assert calls.count("flood-9999") == 1


def test_invalidate_drops_a_negative_entry_at_once() -> None:
    known: set[str] = set()
    pool: InstancePool[str] = InstancePool(lambda k: k if k in known else None)
    assert pool.get("new") is None
    known.add("new")
    assert pool.get("new") is None  # still cached
    assert pool.invalidate("new") is True
    assert pool.get("new") == "new"


def test_max_instances_evicts_least_recently_used() -> None:
    retired: list[str] = []
    pool: InstancePool[str] = InstancePool(
        lambda k: k, max_instances=2, on_retire=lambda k, v: retired.append(k)
    )
    pool.get("a")
    pool.get("b")
    pool.get("a")  # a is now most recent
    pool.get("c")
    assert retired == ["b"]
    assert sorted(pool.keys()) == ["a", "c"]
    assert pool.stats().evictions == 1


def test_idle_timeout_retires_idle_instances() -> None:
    clock = FakeClock()
    retired: list[str] = []
    pool: InstancePool[str] = InstancePool(
        lambda k: k, idle_timeout=10, clock=clock, on_retire=lambda k, v: retired.append(k)
    )
    pool.get("idle")
    pool.get("busy")
    for _ in range(4):
        clock.now += 4
        pool.get("busy")
    assert retired == ["idle"]  # retired by the lookups themselves
    assert pool.keys() == ["busy"]
    clock.now += 11
    assert pool.prune() == 1
    assert retired == ["idle", "busy"]


def test_clear_retires_everything() -> None:
    retired: list[str] = []
    pool: InstancePool[str] = InstancePool(lambda k: k, on_retire=lambda k, v: retired.append(k))
    pool.get("a")
    pool.get("b")
    pool.clear()
    assert sorted(retired) == ["a", "b"]
    assert len(pool) == 0


def test_rejected_keys_never_reach_the_factory() -> None:
    calls: list[str] = []
    pool: InstancePool[str] = InstancePool(
        lambda k: calls.append(k) or k, accept_key=lambda k: "/" not in k
    )
    assert pool.get("a/b") is None
    assert calls == []


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        InstancePool(lambda k: k, max_instances=0)
    with pytest.raises(ValueError):
        InstancePool(lambda k: k, idle_timeout=0)


def test_invalidate_during_creation_retires_the_value_it_was_making() -> None:
    started, release = threading.Event(), threading.Event()
    retired: list[tuple[str, str]] = []
    versions = iter(["old", "new"])

    def factory(key: str) -> str:
        value = next(versions)
        if value == "old":
            started.set()
            release.wait(10)
        return value

    pool: InstancePool[str] = InstancePool(factory, on_retire=lambda k, v: retired.append((k, v)))
    got: list[str | None] = []
    thread = threading.Thread(target=lambda: got.append(pool.get("a")))
    thread.start()
    assert started.wait(10)
    pool.invalidate("a")  # the config changed while "old" was being built
    release.set()
    thread.join(10)
    assert got == ["old"]  # the request that asked for it still gets it
    assert retired == [("a", "old")]
    assert pool.get("a") == "new"  # never served from the pool again
