"""Scenario 8: the tenant registry.

a. A registry tenant's cache hit against a plain ``SubdomainDispatcher`` hit,
   measured in the same run (target: at most 1.1x the added cost).
b. A snapshot of 10,000 tenants and 10,000 domains: its memory and the time
   to read and build it.
c. Propagation: how long a change takes to reach every one of 4 gunicorn
   workers, over 20 changes, for SQLite polling, PostgreSQL LISTEN and
   PostgreSQL polling. Each worker reports when it installed the snapshot.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import appmux
from appmux.registry import Registry, Snapshot, TenantDispatcher, TenantRecord

from .harness import App, compare, environ_for, raw_app

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def bulk_registry(path: Path, tenants: int, domains: int) -> Registry:
    """A SQLite registry with ``tenants`` tenants and ``domains`` custom domains.

    Filled with one bulk insert (not one API call per row) so setup stays fast.
    """
    registry = Registry(f"sqlite:///{path}")
    registry.init()
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO appmux_tenants (key, status, reason, config, rev) VALUES (?, ?, NULL, ?, 1)",
        [(f"t{i}", "active", json.dumps({"theme": "dark", "seats": i})) for i in range(tenants)],
    )
    db.executemany(
        "INSERT INTO appmux_domains (host, tenant, is_primary, redirect) VALUES (?, ?, ?, ?)",
        [
            (f"shop{i}.customer{i}.com", f"t{i % tenants}", i < tenants, False)
            for i in range(domains)
        ],
    )
    db.execute("UPDATE appmux_meta SET revision = revision + 1")
    db.commit()
    db.close()
    return registry


def hit_scenario(rounds: int, calls: int, counts: list[int]) -> list[dict[str, Any]]:
    """Cache hits: TenantDispatcher vs SubdomainDispatcher, both unbounded, same tenants."""
    rows = []
    for tenants in counts:
        with tempfile.TemporaryDirectory() as tmp:
            registry = bulk_registry(Path(tmp) / "t.db", tenants, 0)

            def ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
                return [b"ok"]

            contenders: dict[str, App] = {
                "raw": raw_app,
                "SubdomainDispatcher": appmux.SubdomainDispatcher("example.com", lambda key: ok),
                "TenantDispatcher": TenantDispatcher(
                    registry, lambda record: ok, base_domains=["example.com"]
                ),
            }
            rng = random.Random(tenants)
            picks = [rng.randrange(tenants) for _ in range(4096)]
            for name in ("SubdomainDispatcher", "TenantDispatcher"):
                for i in range(tenants):
                    contenders[name](environ_for("/", f"t{i}.example.com"), lambda *a: None)
            environs = [environ_for("/page", f"t{i}.example.com") for i in picks]
            result = compare(contenders, environs, rounds=rounds, calls=calls)
            contenders["TenantDispatcher"].close()  # type: ignore[attr-defined]
            registry.close()
        raw = result["raw"]
        added = {name: value - raw for name, value in result.items() if name != "raw"}
        rows.append(
            {
                "case": f"{tenants} tenants",
                "ns": result,
                "added": added,
                "ratio": added["TenantDispatcher"] / added["SubdomainDispatcher"],
            }
        )
    return rows


def snapshot_scenario(tenants: int, domains: int) -> dict[str, Any]:
    """Read-and-build time and memory of one snapshot."""
    with tempfile.TemporaryDirectory() as tmp:
        registry = bulk_registry(Path(tmp) / "t.db", tenants, domains)
        registry.snapshot()  # warm the file cache and the connection
        reads = []
        for _ in range(5):
            started = time.perf_counter()
            registry.snapshot()
            reads.append(time.perf_counter() - started)
        rows = registry.snapshot()
        records = [
            TenantRecord(r.key, r.status, r.reason, r.config, rev=r.rev)
            for r in rows.tenants.values()
        ]
        domain_rows = list(rows.domains.values())
        builds = []
        for _ in range(5):
            started = time.perf_counter()
            Snapshot(1, records, domain_rows)
            builds.append(time.perf_counter() - started)
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        kept = registry.snapshot()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert len(kept) == tenants
        registry.close()
    return {
        "tenants": tenants,
        "domains": domains,
        "read_and_build_ms": statistics.median(reads) * 1000,
        "build_ms": statistics.median(builds) * 1000,
        "memory_mb": size / 1e6,
    }


def propagation_scenario(changes: int, workers: int = 4) -> list[dict[str, Any]]:
    """Latency from commit to each worker's new snapshot, per registry mode."""
    sys.path.insert(0, str(TESTS))
    from postgres import PostgresServer, bin_dir
    from servers import serve
    from test_registry_serve import SITE, stats_of_every_worker

    modes: list[tuple[str, dict[str, str]]] = [("SQLite, polling every 1 s", {})]
    postgres = None
    if bin_dir() is not None:
        postgres = PostgresServer(bin_dir())  # type: ignore[arg-type]
        modes += [
            ("PostgreSQL, LISTEN/NOTIFY", {"pg": "1"}),
            ("PostgreSQL, polling every 1 s", {"pg": "1", "REGISTRY_LISTEN": "0"}),
        ]
    rows = []
    try:
        for name, extra in modes:
            with tempfile.TemporaryDirectory() as tmp:
                if extra.pop("pg", None):
                    assert postgres is not None
                    url = postgres.new_database()
                else:
                    url = f"sqlite:///{tmp}/t.db"
                writer = Registry(url)
                writer.init()
                writer.add_tenant("acme")
                env = {"APPMUX_REGISTRY_URL": url, "REGISTRY_REFRESH_INTERVAL": "1.0", **extra}
                args = ["--server", "gunicorn", "--workers", str(workers), "--threads", "2"]
                delays: list[float] = []
                worst: list[float] = []
                rng = random.Random(8)
                with serve(SITE, *args, tmp_path=Path(tmp), env=env) as server:
                    stats_of_every_worker(server, workers)
                    time.sleep(1.5)
                    for change in range(changes):
                        time.sleep(rng.uniform(0.1, 1.0))  # a random phase of the poll
                        writer.update_tenant("acme", config={"change": change})
                        committed = time.time()
                        revision = writer.revision()
                        deadline = time.monotonic() + 10
                        while True:
                            found = stats_of_every_worker(server, workers)
                            if all(s["revision"] >= revision for s in found.values()):
                                break
                            assert time.monotonic() < deadline, "a worker did not catch up"
                            time.sleep(0.2)
                        each = [s["installed_at"] - committed for s in found.values()]
                        delays += each
                        worst.append(max(each))
                    server.stop()
                writer.close()
            rows.append(
                {
                    "mode": name,
                    "changes": changes,
                    "workers": workers,
                    "median_ms": statistics.median(delays) * 1000,
                    "max_ms": max(delays) * 1000,
                    "median_slowest_worker_ms": statistics.median(worst) * 1000,
                }
            )
    finally:
        if postgres is not None:
            postgres.destroy()
    return rows
