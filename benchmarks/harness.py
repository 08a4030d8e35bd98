"""Timing in one process: interleaved rounds, shuffled order, medians.

A contender is a WSGI app; each call gets a fresh copy of a prepared environ
(dispatchers rewrite ``SCRIPT_NAME``/``PATH_INFO``), and the raw app pays the
same copy, so "added cost" is contender minus raw.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

App = Callable[[dict[str, Any], Any], Iterable[bytes]]

BODY = [b"ok"]


def raw_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The app every contender dispatches to: as cheap as a WSGI app can be."""
    return BODY


def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
    return None


def environ_for(path: str, host: str = "example.com") -> dict[str, Any]:
    """A minimal environ: what the dispatchers read."""
    return {"PATH_INFO": path, "SCRIPT_NAME": "", "HTTP_HOST": host, "SERVER_NAME": host}


def time_per_call(app: App, environs: list[dict[str, Any]], calls: int) -> float:
    """Nanoseconds per call, cycling through ``environs``."""
    reps = max(1, calls // len(environs))
    sr = start_response
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(reps):
            for environ in environs:
                app(environ.copy(), sr)
        elapsed = time.perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed / (reps * len(environs))


def compare(
    contenders: Mapping[str, App],
    environs: list[dict[str, Any]],
    *,
    rounds: int,
    calls: int,
    seed: int = 0,
) -> dict[str, float]:
    """Median ns per call of each contender over interleaved, shuffled rounds."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    rng = random.Random(seed)
    names = list(contenders)
    for name in names:  # warm-up: first calls create lazy apps, fill caches
        time_per_call(contenders[name], environs, len(environs))
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            samples[name].append(time_per_call(contenders[name], environs, calls))
    return {name: statistics.median(values) for name, values in samples.items()}
