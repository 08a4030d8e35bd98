"""A registry of a million tenants: ``python -m benchmarks.scale [--quick]`` (``make bench-scale``).

Each scenario runs on SQLite and on PostgreSQL (Debian's server, started here
in a temp dir) with registries filled by bulk inserts: every tenant has its own
config and one custom domain.

a. First load (``load = "all"``), 100k tenants: CPU seconds and memory held.
b. CPU per applied change per process (revision check, change log read,
   ``Snapshot.evolve``), 100k and 1M tenants: config edits, new domains, reloads.
c. ``load = "on-demand"``, 1M tenants, 1,000 served: the memory the registry's
   part holds (filters, held records, host memo), and the queries that 10,000
   invented subdomains cost.
d. Propagation to 4 gunicorn workers while a writer makes 10 changes a second,
   100k tenants, each worker recording when it installed each revision; and
   the database connections each serving process holds.
e. Hits on other tenants while changes are applied: p50/p99 of a hit in one
   process, with and without a writer at 10 changes a second.

Targets are printed beside the figures, never asserted: the machines are noisy.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from appmux import Registry, TenantDispatcher, TenantRecord
from appmux.registry.ondemand import OnDemandView
from appmux.registry.refresher import Refresher

from .harness import environ_for

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

BASE = ("example.com",)


# -- registries ----------------------------------------------------------------------------


def _tenant_rows(count: int) -> Iterator[tuple[str, str, str, int]]:
    for i in range(count):
        yield f"t{i}", "active", json.dumps({"theme": "dark", "seats": i}), 1


def _domain_rows(count: int) -> Iterator[tuple[str, str, bool, bool]]:
    for i in range(count):
        yield f"shop{i}.customer{i}.com", f"t{i}", True, False


def fill(url: str, tenants: int) -> Registry:
    """A new registry at ``url`` with ``tenants`` tenants, one custom domain each."""
    registry = Registry(url)
    registry.init()
    if url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(url.partition(":///")[2])
        db.executemany(
            "INSERT INTO appmux_tenants (key, status, reason, config, rev)"
            " VALUES (?, ?, NULL, ?, ?)",
            _tenant_rows(tenants),
        )
        db.executemany(
            "INSERT INTO appmux_domains (host, tenant, is_primary, redirect) VALUES (?, ?, ?, ?)",
            _domain_rows(tenants),
        )
        db.execute("UPDATE appmux_meta SET revision = revision + 1")
        db.commit()
        db.close()
    else:
        import psycopg

        with psycopg.connect(url) as conn, conn.cursor() as cur:
            with cur.copy("COPY appmux_tenants (key, status, config, rev) FROM STDIN") as copy:
                for row in _tenant_rows(tenants):
                    copy.write_row(row)
            with cur.copy(
                "COPY appmux_domains (host, tenant, is_primary, redirect) FROM STDIN"
            ) as copy:
                for row in _domain_rows(tenants):
                    copy.write_row(row)
            cur.execute("UPDATE appmux_meta SET revision = revision + 1")
            cur.execute("ANALYZE")
    return registry


@contextmanager
def stores(quick: bool) -> Iterator[Callable[[str], str]]:
    """``new_url(kind)`` for ``"sqlite"`` and ``"postgresql"`` (a server started here)."""
    from postgres import PostgresServer, bin_dir

    with tempfile.TemporaryDirectory() as tmp:
        postgres = PostgresServer(bin_dir()) if bin_dir() is not None else None  # type: ignore[arg-type]
        names = iter(range(1000))
        try:

            def new_url(kind: str) -> str:
                if kind == "sqlite":
                    return f"sqlite:///{tmp}/r{next(names)}.db"
                assert postgres is not None, "PostgreSQL's server package is not installed"
                return postgres.new_database()

            yield new_url
        finally:
            if postgres is not None:
                postgres.destroy()


def kinds() -> list[str]:
    from postgres import bin_dir

    return ["sqlite", "postgresql"] if bin_dir() is not None else ["sqlite"]


def held_bytes(make: Callable[[], Any]) -> tuple[Any, float]:
    """What ``make()`` returns, and the bytes it holds once made (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    made = make()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return made, sum(stat.size_diff for stat in after.compare_to(before, "filename"))


# -- scenarios -----------------------------------------------------------------------------

_WRITER = """
import random, sys, time
from appmux import Registry
url, tenants, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
registry, rng, made = Registry(url), random.Random(3), 0
until = time.monotonic() + seconds
while time.monotonic() < until:
    registry.update_tenant(f"t{rng.randrange(200, tenants)}", config={"n": made})
    made += 1
    time.sleep(max(0.0, made * 0.1 - (time.monotonic() - until + seconds)))
print(made)
"""


def first_load(url: str, tenants: int) -> dict[str, Any]:
    """a. CPU and memory of a whole read."""
    registry = fill(url, tenants)
    registry.snapshot()  # warm the caches
    cpu = []
    for _ in range(3):
        started = time.process_time()
        snapshot = registry.snapshot()
        cpu.append(time.process_time() - started)
        del snapshot
    _, size = held_bytes(registry.snapshot)
    registry.close()
    return {
        "tenants": tenants,
        "cpu_s": min(cpu),
        "cpu_s_median": statistics.median(cpu),
        "memory_mb": size / 1e6,
        "bytes_per_tenant": size / tenants,
    }


def change_cost(url: str, tenants: int, changes: int) -> dict[str, Any]:
    """b. CPU per applied change: the refresher's check, with one change pending."""
    registry = fill(url, tenants)
    installed: list[Any] = []
    refresher = Refresher(registry, installed.append, 1.0)
    refresher.load_now()
    writer = Registry(url)
    rng = random.Random(15)
    cpu = []
    for change in range(changes):
        key = f"t{rng.randrange(tenants)}"
        kind = change % 3
        if kind == 0:
            writer.update_tenant(key, config={"theme": "light", "change": change})
        elif kind == 1:
            writer.add_domain(f"extra{change}.customer.com", key)
        else:
            writer.reload_tenant(key)
        started = time.process_time()
        refresher.check()
        cpu.append(time.process_time() - started)
    assert refresher.full_reads == 1, "a change was not applied incrementally"
    writer.close()
    registry.close()
    return {
        "tenants": tenants,
        "changes": changes,
        "cpu_ms_median": statistics.median(cpu) * 1e3,
        "cpu_ms_max": max(cpu) * 1e3,
    }


def on_demand(url: str, tenants: int, served: int, invented: int) -> dict[str, Any]:
    """c. The on-demand view's memory with ``served`` tenants held, and invented hosts' queries."""
    registry = fill(url, tenants)
    rng = random.Random(7)
    picks = rng.sample(range(tenants), served)

    def serve_some() -> OnDemandView:
        view = OnDemandView(registry, BASE, record_cache=10_000)
        view.reload()
        for i in picks:
            match = view.resolve(f"t{i}.example.com", BASE)
            assert match is not None and match.record is not None
        return view

    started = time.process_time()
    view, size = held_bytes(serve_some)
    cpu = time.process_time() - started
    lookups, statements = view.lookups, registry.statements
    for _ in range(invented):
        label = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
        match = view.resolve(f"{label}.example.com", BASE)
        assert match is not None and match.record is None
    registry.close()
    return {
        "tenants": tenants,
        "served": served,
        "held": len(view),
        "memory_mb": size / 1e6,
        "load_and_serve_cpu_s": cpu,
        "invented": invented,
        "lookups": view.lookups - lookups,
        "statements": registry.statements - statements,
    }


def propagation(url: str, tenants: int, seconds: float, workers: int = 4) -> dict[str, Any]:
    """d. Commit to install on every worker while a writer makes 10 changes a second."""
    from servers import serve
    from test_registry_serve import SITE, stats_of_every_worker

    registry = fill(url, tenants)
    registry.add_tenant("acme")  # the site's /_stats answers through it
    listen = url.startswith("postgres")
    env = {"APPMUX_REGISTRY_URL": url, "REGISTRY_REFRESH_INTERVAL": "1.0"}
    args = ["--server", "gunicorn", "--workers", str(workers), "--threads", "2"]
    commits: dict[int, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve(SITE, *args, tmp_path=Path(tmp), env=env) as server,
    ):
        stats_of_every_worker(server, workers)
        time.sleep(1.5)
        rng = random.Random(9)
        deadline = time.monotonic() + seconds
        change = 0
        while time.monotonic() < deadline:
            key = f"t{rng.randrange(tenants)}"
            registry.update_tenant(key, config={"theme": "light", "change": change})
            commits[registry.revision()] = time.time()
            change += 1
            time.sleep(0.1)
        time.sleep(2.5)  # the last changes arrive
        found = stats_of_every_worker(server, workers)
        connections = None
        if listen:
            import psycopg

            database = url.rsplit("/", 1)[1]
            with psycopg.connect(url) as conn:
                (connections,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND pid <> pg_backend_pid()",
                    (database,),
                ).fetchone()  # type: ignore[misc]
        server.stop()
    delays = []
    for stats in found.values():
        installs = sorted(stats["installs"])
        for revision, committed in commits.items():
            seen = next((at for rev, at in installs if rev >= revision), None)
            assert seen is not None, f"revision {revision} never reached worker {stats['pid']}"
            delays.append(max(0.0, seen - committed))
    registry.close()
    full_reads = sum(stats["full_reads"] for stats in found.values())
    per_process = None if connections is None else (connections - 1) / workers  # the writer's
    return {
        "tenants": tenants,
        "changes": len(commits),
        "workers": workers,
        "median_ms": statistics.median(delays) * 1e3,
        "max_ms": max(delays) * 1e3,
        "full_reads": full_reads,
        "connections_per_process": per_process,
        "mode": "LISTEN/NOTIFY" if listen else "polling every 1 s",
    }


def hits_under_changes(url: str, tenants: int, seconds: float) -> dict[str, Any]:
    """e. p50/p99 of hits on other tenants, with and without 10 changes a second."""
    registry = fill(url, tenants)

    def ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return [b"ok"]

    def factory(record: TenantRecord) -> Any:
        return ok

    tenants_app = TenantDispatcher(
        registry, factory, base_domains=list(BASE), refresh_interval=0.05
    )
    hosts = [f"t{i}.example.com" for i in range(200)]
    for host in hosts:
        tenants_app(environ_for("/", host), lambda *a: None)
    environs = [environ_for("/page", host) for host in hosts]

    def measure() -> list[int]:
        samples = []
        until = time.monotonic() + seconds
        count = 0
        while time.monotonic() < until:
            environ = dict(environs[count % len(environs)])
            count += 1
            started = time.perf_counter_ns()
            tenants_app(environ, lambda *a: None)
            samples.append(time.perf_counter_ns() - started)
        return samples

    quiet = measure()
    # The writer is another process, as an operator's CLI is: 10 changes a second.
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, url, str(tenants), str(seconds + 1)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    applied_before = tenants_app.refresher.applied
    busy = measure()
    made = int(writer.communicate(timeout=60)[0])
    applied = tenants_app.refresher.applied - applied_before
    tenants_app.close()
    registry.close()

    def pct(samples: list[int], q: float) -> float:
        samples = sorted(samples)
        return samples[int(q * (len(samples) - 1))] / 1e3

    return {
        "tenants": tenants,
        "changes": made,
        "applied": applied,
        "quiet_p50_us": pct(quiet, 0.5),
        "quiet_p99_us": pct(quiet, 0.99),
        "busy_p50_us": pct(busy, 0.5),
        "busy_p99_us": pct(busy, 0.99),
    }


# -- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small registries: a smoke run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    quick = args.quick
    big, huge = (10_000, 20_000) if quick else (100_000, 1_000_000)
    results: dict[str, Any] = {"quick": quick}
    print(f"# appmux at scale ({'quick' if quick else 'full'}): {big:,} and {huge:,} tenants")
    with stores(quick) as new_url:
        for kind in kinds():
            print(f"\n## {kind}")
            row = first_load(new_url(kind), big)
            results[f"{kind}.first_load"] = row
            print(
                f"a. first load, {big:,} tenants: {row['cpu_s']:.2f} s CPU (median"
                f" {row['cpu_s_median']:.2f}), {row['memory_mb']:.1f} MB,"
                f" {row['bytes_per_tenant']:.0f} B/tenant (target <= 0.5 s, <= 40 MB at 100k)"
            )
            for size in (big, huge):
                row = change_cost(new_url(kind), size, 15 if quick else 60)
                results[f"{kind}.change_{size}"] = row
                print(
                    f"b. CPU per applied change, {size:,} tenants: median"
                    f" {row['cpu_ms_median']:.2f} ms, max {row['cpu_ms_max']:.2f} ms over"
                    f" {row['changes']} changes (target <= 5 ms)"
                )
            row = on_demand(new_url(kind), huge, 1000, 10_000)
            results[f"{kind}.on_demand"] = row
            print(
                f"c. on demand, {huge:,} tenants, {row['served']:,} served: registry part"
                f" {row['memory_mb']:.1f} MB (target <= 30 MB at 1M); {row['invented']:,}"
                f" invented hosts cost {row['lookups']} lookups, {row['statements']}"
                f" statements (target <= 100)"
            )
            row = propagation(new_url(kind), big, 3 if quick else 10)
            results[f"{kind}.propagation"] = row
            conns = row["connections_per_process"]
            conns = "1 (SQLite file)" if conns is None else f"{conns:g}"
            print(
                f"d. propagation to {row['workers']} workers, {row['changes']} changes at 10/s,"
                f" {big:,} tenants, {row['mode']}: median {row['median_ms']:.0f} ms, max"
                f" {row['max_ms']:.0f} ms, whole reads after the first {row['full_reads'] - 4}"
                f" (target SQLite max <= 1 s; LISTEN median <= 20 ms, max <= 100 ms);"
                f" connections per serving process: {conns}"
            )
            row = hits_under_changes(new_url(kind), big, 1.5 if quick else 4)
            results[f"{kind}.hits"] = row
            print(
                f"e. hits, {big:,} tenants: quiet p50 {row['quiet_p50_us']:.1f} us, p99"
                f" {row['quiet_p99_us']:.1f} us; with {row['changes']} changes at 10/s"
                f" ({row['applied']} applied) p50 {row['busy_p50_us']:.1f} us, p99"
                f" {row['busy_p99_us']:.1f} us"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
