"""Scenario 6: RSS growth for 100,000 distinct random hosts.

Run in a fresh interpreter per contender (``python -m benchmarks.memory NAME N``)
so one contender's garbage cannot hide another's growth. Prints JSON.
"""

from __future__ import annotations

import gc
import json
import random
import string
import sys
from typing import Any

import appmux

from . import snippets
from .harness import environ_for


def rss_bytes() -> int:
    """Resident set size of this process, from /proc."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def make_tenant_app(key: str) -> Any:
    """A small distinct app per tenant, as a real factory returns."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return [key.encode()]

    return app


def run(contender: str, hosts: int) -> dict[str, Any]:
    if contender == "appmux":
        app = appmux.SubdomainDispatcher("example.com", make_tenant_app, max_instances=1000)
    else:
        app = snippets.SubdomainDispatcher("example.com", make_tenant_app)
    rng = random.Random(7)
    names = ["".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(hosts)]
    environs = [environ_for("/", f"{name}.example.com") for name in names]
    gc.collect()
    start = rss_bytes()
    checkpoints = []
    warm = hosts // 5
    for i, environ in enumerate(environs, 1):
        app(environ, lambda *a: None)
        if i in (warm, hosts):
            gc.collect()
            checkpoints.append(rss_bytes())
    return {
        "contender": contender,
        "hosts": hosts,
        "growth_mb": (checkpoints[1] - start) / 2**20,
        "after_warmup_mb": (checkpoints[1] - checkpoints[0]) / 2**20,
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]))))
