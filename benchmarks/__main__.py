"""Run the benchmark suite and print a table: ``python -m benchmarks [--quick]``.

Every figure compares contenders measured in the same run (interleaved rounds,
medians). Targets are reported, never asserted: the machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import asgi, concurrency, e2e, metrics, micro, registry

HERE = Path(__file__).resolve().parent


def _fmt(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.0f}"


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_added(title: str, rows: list[dict[str, Any]], target: str) -> None:
    print(f"\n## {title}\n(ns per call; 'added' is the cost over the raw app; {target})")
    names = [n for n in rows[0]["ns"] if n != "raw"]
    header = ["case", "raw", *[f"{n} added" for n in names], "ratio"]
    print(" | ".join(header))
    for row in rows:
        cells = [
            row["case"],
            _fmt(row["ns"]["raw"]),
            *[_fmt(row["added"][n]) for n in names],
            f"{row['ratio']:.2f}x",
        ]
        print(" | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a one-minute smoke run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--plot", type=Path, help="write the cost plot (PNG) here")
    args = parser.parse_args()

    quick = args.quick
    rounds, calls = (3, 20_000) if quick else (7, 100_000)
    mount_counts = [1, 100, 10_000]
    tenant_counts = [1, 1000, 10_000] if quick else [1, 1000, 100_000]
    results: dict[str, Any] = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {_cpu_count()} cores",
        "quick": quick,
    }
    started = time.monotonic()
    print(f"# appmux benchmarks ({'quick' if quick else 'full'}) — {results['machine']}")

    prefix = micro.prefix_scenario(rounds, calls, mount_counts)
    results["prefix"] = prefix
    print_added(
        "1. Prefix dispatch: appmux vs werkzeug",
        prefix,
        "target: ratio <= 0.8 shallow, <= 0.3 on 11 segments, flat in mounts",
    )

    tenants = micro.tenant_scenario(rounds, calls, tenant_counts)
    results["tenants"] = tenants
    for kind, title in (("subdomain", "2a. Subdomain"), ("path", "2b. Path segment")):
        print_added(
            f"{title} cache hits: appmux vs the documented snippet",
            [row for row in tenants if row["scenario"] == kind],
            "target: ratio <= 0.35",
        )
    for kind in ("subdomain", "path"):
        rows = [r for r in tenants if r["scenario"] == kind]
        ours = rows[-1]["added"]["appmux"] - rows[0]["added"]["appmux"]
        floor = rows[-1]["added"]["dict lookup"] - rows[0]["added"]["dict lookup"]
        print(
            f"{kind}: growth {rows[0]['case']} -> {rows[-1]['case']}: appmux {_fmt(ours)} ns,"
            f" dict lookup {_fmt(floor)} ns (target: appmux growth <= 1.3x the dict's + noise)"
        )

    threads = concurrency.thread_scenario(0.3 if quick else 1.0, 1 if quick else 3)
    results["threads"] = threads
    print("\n## 3. Threads hammering cache hits (rate relative to one thread; target >= 0.7)")
    for row in threads:
        rel = row["relative"]
        print(
            f"{row['contender']}: 1 thread {_fmt(row['rates'][1])}/s, "
            f"2 threads {rel[2]:.2f}x, 8 threads {rel[8]:.2f}x "
            f"({_mark(rel[8] >= 0.7) if row['contender'] == 'appmux' else 'baseline'})"
        )

    hol = concurrency.head_of_line(1.0)
    results["head_of_line"] = hol
    print("\n## 4. Head-of-line: an existing tenant while a 1 s factory runs (target max < 20 ms)")
    for row in hol:
        print(
            f"{row['contender']}: max {row['max_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms "
            f"over {row['requests']} requests"
        )

    herd = concurrency.thundering_herd(64)
    results["herd"] = herd
    print("\n## 5. Thundering herd: 64 threads, one new tenant (target: 1 factory call)")
    for row in herd:
        print(f"{row['contender']}: {row['factory_calls']} factory call(s), {row['served']} served")

    hosts = 20_000 if quick else 100_000
    memory = [_memory(name, hosts) for name in ("documented", "appmux")]
    results["memory"] = memory
    print(f"\n## 6. Memory: {hosts:,} random hosts (appmux max_instances=1000; target < 5 MB)")
    for row in memory:
        print(
            f"{row['contender']}: RSS +{row['growth_mb']:.1f} MB, "
            f"+{row['after_warmup_mb']:.1f} MB after the first fifth"
        )

    e2e_rows = e2e.e2e_scenario(1 if quick else 5, 1 if quick else 3)
    results["e2e"] = e2e_rows
    print("\n## 7. End to end with wrk on 127.0.0.1 (requests/s; target ratio >= 0.97)")
    for row in e2e_rows:
        if "skipped" in row:
            print(f"skipped: {row['skipped']}")
        else:
            print(
                f"{row['server']}: raw {_fmt(row['raw_rps'])}/s, appmux 100 mounts "
                f"{_fmt(row['appmux_rps'])}/s, ratio {row['ratio']:.3f} "
                f"(A/A noise floor: raw vs raw {row['aa_ratio']:.3f})"
            )

    hits = registry.hit_scenario(rounds, calls, [1000] if quick else [1000, 10_000])
    results["registry_hits"] = hits
    print("\n## 8a. Registry tenant cache hits vs SubdomainDispatcher (target: ratio <= 1.1)")
    for row in hits:
        print(
            f"{row['case']}: raw {_fmt(row['ns']['raw'])} ns, SubdomainDispatcher added "
            f"{_fmt(row['added']['SubdomainDispatcher'])} ns, TenantDispatcher added "
            f"{_fmt(row['added']['TenantDispatcher'])} ns, ratio {row['ratio']:.2f}x "
            f"({_mark(row['ratio'] <= 1.1)})"
        )
    size = 2_000 if quick else 10_000
    snap = registry.snapshot_scenario(size, size)
    results["registry_snapshot"] = snap
    print(
        f"\n## 8b. Snapshot of {size:,} tenants and {size:,} domains: "
        f"read and build {snap['read_and_build_ms']:.0f} ms "
        f"(build alone {snap['build_ms']:.0f} ms), {snap['memory_mb']:.1f} MB"
    )
    propagation = registry.propagation_scenario(3 if quick else 20)
    results["registry_propagation"] = propagation
    print("\n## 8c. Propagation to 4 gunicorn workers (commit -> snapshot installed)")
    for row in propagation:
        print(
            f"{row['mode']}: median {row['median_ms']:.0f} ms, max {row['max_ms']:.0f} ms, "
            f"slowest worker per change (median) {row['median_slowest_worker_ms']:.0f} ms "
            f"over {row['changes']} changes"
        )

    cost = metrics.inprocess_scenario(rounds, calls)
    results["metrics_inprocess"] = cost
    print(
        "\n## 9a. Metrics in one process (ns per request, body consumed; target: <= 1,000 ns added)"
    )
    print(
        f"raw {_fmt(cost['ns']['raw'])}, metrics off {_fmt(cost['ns']['metrics off'])}, "
        f"metrics on {_fmt(cost['ns']['metrics on'])}: metrics add "
        f"{_fmt(cost['metrics_added_ns'])} ns ({_mark(cost['metrics_added_ns'] <= 1000)})"
    )
    served = metrics.e2e_scenario(1 if quick else 5, 1 if quick else 3)
    results["metrics_e2e"] = served
    print("\n## 9b. Metrics end to end: appmux serve on gunicorn (1 sync worker), wrk")
    if "skipped" in served:
        print(f"skipped: {served['skipped']}")
    else:
        print(
            f"off {_fmt(served['rps']['off'])}/s, on {_fmt(served['rps']['on'])}/s: "
            f"ratio {served['ratio']:.3f} (A/A noise floor: off vs off {served['aa_ratio']:.3f})"
        )

    bridges = asgi.bridge_scenario(rounds, calls)
    results["asgi_bridges"] = bridges
    print("\n## 10a. Bridges in one process (us added per request) vs a2wsgi")
    for key, title, target in (
        ("wsgi_under_asgi", "WSGI app under an ASGI server", 0.3),
        ("asgi_under_wsgi", "ASGI app under a WSGI server", 0.5),
    ):
        row = bridges[key]
        print(
            f"{title}: appmux {row['added']['appmux'] / 1000:.1f} us, a2wsgi "
            f"{row['added']['a2wsgi'] / 1000:.1f} us, ratio {row['ratio']:.2f}x "
            f"(target <= {target}x: {_mark(row['ratio'] <= target)})"
        )
    on_uvicorn = asgi.uvicorn_scenario(1 if quick else 3, 1 if quick else 3)
    results["asgi_uvicorn"] = on_uvicorn
    print("\n## 10b. A WSGI app under uvicorn, wrk at 32 connections (requests/s)")
    if "skipped" in on_uvicorn:
        print(f"skipped: {on_uvicorn['skipped']}")
    else:
        print(
            f"appmux {_fmt(on_uvicorn['rps']['appmux'])}/s, a2wsgi "
            f"{_fmt(on_uvicorn['rps']['a2wsgi'])}/s: ratio {on_uvicorn['ratio']:.2f}x "
            f"(target >= 2x: {_mark(on_uvicorn['ratio'] >= 2)})"
        )
    dispatch = asgi.dispatch_scenario(rounds, calls)
    results["asgi_dispatch"] = dispatch
    print("\n## 10c. ASGI dispatch hits vs Starlette's Mount/Host (ns added; target <= 0.5x)")
    for row in dispatch:
        print(
            f"{row['case']}: appmux {_fmt(row['added']['appmux'])}, starlette "
            f"{_fmt(row['added']['starlette'])}: ratio {row['ratio']:.2f}x "
            f"({_mark(row['ratio'] <= 0.5)})"
        )
    metering = asgi.metering_scenario(rounds, calls)
    results["asgi_metering"] = metering
    print(
        f"\n## 10d. Metering an ASGI request in one process: +{_fmt(metering['metering_added_ns'])}"
        f" ns (target <= 1,000 ns: {_mark(metering['metering_added_ns'] <= 1000)})"
    )

    if args.plot:
        results["depth"] = micro.depth_curve(rounds, calls)
        from .plot import plot

        plot(results, args.plot)
        print(f"\nplot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    print(f"\n{time.monotonic() - started:.0f} s")


def _memory(contender: str, hosts: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", contender, str(hosts)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE.parent,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
