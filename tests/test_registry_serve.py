"""The registry under real servers: every gunicorn worker follows it, with no query per request."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import Server, serve

from appmux import Registry

SITES = Path(__file__).resolve().parent / "sites"
SITE = SITES / "registry_site.toml"
WORKERS = 4


def get(server: Server, path: str = "/", host: str = "acme.example.com") -> httpx.Response:
    # A new connection each time, so that gunicorn hands requests to all workers.
    return httpx.get(server.url + path, headers={"Host": host, "Connection": "close"}, timeout=20)


def fields(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split())


def stats_of_every_worker(server: Server, expected: int = WORKERS) -> dict[str, Any]:
    """``/_stats`` from each worker (a worker is reached by asking until it answers).

    Bounded by count and time; a pause now and then lets a busy worker get back
    to ``accept()`` (without one, one worker can miss 400 connections in a row).
    """
    found: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    for attempt in range(2000):
        stats = get(server, "/_stats").json()
        found[str(stats["pid"])] = stats
        if len(found) == expected:
            return found
        if time.monotonic() > deadline:
            break
        if attempt % 20 == 19:
            time.sleep(0.05)
    raise AssertionError(f"reached {len(found)} of {expected} workers")


def cli(url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "appmux", *args, "--registry", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tenants.db'}"
    registry = Registry(url)
    registry.init()
    registry.add_tenant("acme", {"theme": "light"})
    registry.add_tenant("globex")
    registry.close()
    return url


def test_sqlite_change_reaches_all_four_workers_once_each(
    registry_url: str, tmp_path: Path
) -> None:
    args = ["--server", "gunicorn", "--workers", str(WORKERS), "--threads", "4"]
    env = {"APPMUX_REGISTRY_URL": registry_url}
    with serve(SITE, *args, tmp_path=tmp_path, env=env) as server:
        # Every worker builds acme once.
        light: set[str] = set()
        for _ in range(400):
            answer = fields(get(server).text)
            assert answer["theme"] == "light"
            light.add(answer["pid"])
            if len(light) == WORKERS:
                break
        assert len(light) == WORKERS

        # No statement per request: 1,000 requests cost only the refresher's checks.
        before = stats_of_every_worker(server)
        for i in range(1000):
            host = "acme.example.com" if i % 2 else f"nobody{i}.example.com"
            assert get(server, host=host).status_code in (200, 404)
        after = stats_of_every_worker(server)
        for pid, stats in after.items():
            statements = stats["statements"] - before[pid]["statements"]
            checks = stats["checks"] - before[pid]["checks"]
            assert statements == checks, f"worker {pid}: {statements} statements, {checks} checks"

        # A request in flight when the change lands keeps its instance until it ends.
        slow: dict[str, Any] = {}

        def slow_request() -> None:
            response = get(server, "/slow?s=1.5")
            slow.update(fields(response.text), ended=time.time())

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.3)
        cli(registry_url, "tenants", "set", "acme", "theme=dark")
        committed = time.time()
        changed_at = time.monotonic()
        dark: set[str] = set()
        while len(dark) < WORKERS:  # every worker answers with the new config
            answer = fields(get(server).text)
            if answer["theme"] == "dark":
                dark.add(answer["pid"])
            assert time.monotonic() - changed_at < 15, f"only {sorted(dark)} turned dark"
        thread.join(10)
        assert slow["theme"] == "light"  # served to the end by the old instance

        final = stats_of_every_worker(server)
        # Each worker says when it read the change: sampling responses would time
        # how gunicorn spreads connections over workers, not propagation.
        delays = {pid: stats["installed_at"] - committed for pid, stats in final.items()}
        assert max(delays.values()) < 2.0, delays
        for pid, stats in final.items():
            assert stats["creations"]["acme"] == 2, (pid, stats["creations"])
            assert all(close["active"] == 0 for close in stats["closes"]), stats["closes"]
        closes = final[slow["pid"]]["closes"]
        old = [c for c in closes if c["instance"] == int(slow["instance"])]
        assert len(old) == 1 and old[0]["at"] >= slow["ended"] - 0.5
        assert server.stop() == 0
