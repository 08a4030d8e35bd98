"""Scenarios 3-5: threads, head-of-line blocking, thundering herd."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import appmux

from . import snippets
from .harness import App, environ_for, raw_app

Factory = Callable[[str], Any]
DISPATCHERS: dict[str, Callable[[Factory], App]] = {
    "documented": lambda factory: snippets.SubdomainDispatcher("example.com", factory),
    "appmux": lambda factory: appmux.SubdomainDispatcher("example.com", factory),
}


def _noop(*args: Any) -> None:
    return None


def throughput(app: App, threads: int, seconds: float, tenants: int = 100) -> float:
    """Calls per second of ``threads`` threads hammering cache hits."""
    environs = [environ_for("/", f"t{i % tenants}.example.com") for i in range(1000)]
    for environ in environs:
        app(environ.copy(), _noop)
    stop = threading.Event()
    barrier = threading.Barrier(threads + 1)
    counts = [0] * threads

    def worker(index: int) -> None:
        barrier.wait()
        done = 0
        while not stop.is_set():
            for environ in environs:
                app(environ.copy(), _noop)
            done += len(environs)
        counts[index] = done

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def thread_scenario(seconds: float, rounds: int) -> list[dict[str, Any]]:
    """Throughput with 1, 2 and 8 threads, relative to one thread (medians)."""
    rows = []
    for name, make in DISPATCHERS.items():
        app = make(lambda key: raw_app)
        rates = {
            n: statistics.median(throughput(app, n, seconds) for _ in range(rounds))
            for n in (1, 2, 8)
        }
        rows.append(
            {
                "contender": name,
                "rates": rates,
                "relative": {n: rate / rates[1] for n, rate in rates.items()},
            }
        )
    return rows


def head_of_line(factory_seconds: float = 1.0) -> list[dict[str, Any]]:
    """Latency of an existing tenant, requested every 10 ms, while a new one is created."""
    return [_head_of_line(name, make, factory_seconds) for name, make in DISPATCHERS.items()]


def _head_of_line(
    name: str, make: Callable[[Factory], App], factory_seconds: float
) -> dict[str, Any]:
    def factory(key: str) -> App:
        if key == "slow":
            time.sleep(factory_seconds)
        return raw_app

    app = make(factory)
    app(environ_for("/", "fast.example.com"), _noop)
    slow = threading.Thread(target=app, args=(environ_for("/", "slow.example.com"), _noop))
    slow.start()
    time.sleep(0.01)
    latencies = []
    while slow.is_alive():
        started = time.perf_counter()
        app(environ_for("/", "fast.example.com"), _noop)
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    slow.join()
    latencies.sort()
    return {
        "contender": name,
        "requests": len(latencies),
        "max_ms": latencies[-1],
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def thundering_herd(threads: int = 64) -> list[dict[str, Any]]:
    """How many times the factory runs when ``threads`` ask for one new tenant at once."""
    return [_herd(name, make, threads) for name, make in DISPATCHERS.items()]


def _herd(name: str, make: Callable[[Factory], App], threads: int) -> dict[str, Any]:
    calls: list[str] = []

    def factory(key: str) -> App:
        calls.append(key)
        time.sleep(0.05)
        return raw_app

    app = make(factory)
    barrier = threading.Barrier(threads)
    served: list[Any] = []

    def request() -> None:
        barrier.wait()
        served.append(app(environ_for("/", "herd.example.com"), _noop))

    pool = [threading.Thread(target=request) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"contender": name, "factory_calls": len(calls), "served": len(served)}
