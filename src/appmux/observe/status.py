"""The whole server's state, merged from every worker's status file: pure logic.

Each serving process writes ``status-<pid>.json`` (see
:mod:`appmux.observe.exporter`); :func:`server_status` merges the files of the
live ones with the routing table into one JSON-ready view, the one the status
page, ``/status.json`` and ``appmux status`` show.

A worker that dies (a crash, ``max_requests``, a reload) leaves its counters
behind, as prometheus-client does: :func:`retire_worker` folds its last
totals (requests by route and status class, the pools' counters) into the
run's ``retired.json``, once, so no total the page shows goes backwards while
the server runs. Its gauges (live tenants, memory) leave with it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.pool import RECENT_FAILURES, STAT_NAMES
from ..core.router import RECENT_REJECTIONS
from .observer import RECENT_KEYS

__all__ = [
    "STALE_AFTER",
    "add_retired",
    "claim_tenant_labels",
    "process_running",
    "read_retired",
    "read_worker_status",
    "retire_worker",
    "server_status",
]

#: A worker whose snapshot is older than this many seconds is shown as stale.
STALE_AFTER = 10.0
#: The run's totals of dead workers, and the lock that guards them.
#: Each exporting process's status file is ``status-<pid>.json`` in the run's folder.
STATUS_PREFIX = "status-"
RETIRED_FILE = "retired.json"
RETIRED_LOCK = "retired.lock"
#: The tenants named in ``appmux_tenant_requests_total``, by route, for the whole server.
TENANT_LABELS_FILE = "tenant-labels.json"
TENANT_LABELS_LOCK = "tenant-labels.lock"
#: Pool figures that are gauges: they leave with their worker.
GAUGES = ("live", "negative")
COUNTERS = tuple(name for name in STAT_NAMES if name not in GAUGES)


def process_running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def read_worker_status(directory: Path) -> list[dict[str, Any]]:
    """The status files of live processes (those of dead ones are retired)."""
    workers = []
    for path in sorted(directory.glob(f"{STATUS_PREFIX}*.json")):
        try:
            pid = int(path.stem[len(STATUS_PREFIX) :])
        except ValueError:
            continue
        if not process_running(pid):
            retire_worker(directory, pid)
            continue
        try:
            workers.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now: next refresh
    return workers


@contextmanager
def _locked(directory: Path, name: str = RETIRED_LOCK) -> Iterator[None]:
    with open(directory / name, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def claim_tenant_labels(directory: Path, route: str, candidates: list[str], limit: int) -> set[str]:
    """The tenants of ``route`` named in the metrics server-wide, after claiming for
    ``candidates`` (busiest first) as many of the ``limit`` labels as are left.

    Every worker's exporter asks here before it names a tenant, so at most
    ``limit`` tenants get a label of their own across the whole server; the set
    only grows, so a tenant keeps its label (or stays ``other``) for the run.
    """
    path = directory / TENANT_LABELS_FILE
    with _locked(directory, TENANT_LABELS_LOCK):
        try:
            claimed: dict[str, list[str]] = json.loads(path.read_text())
        except (OSError, ValueError):
            claimed = {}
        named = claimed.setdefault(route, [])
        known = set(named)
        added = False
        for tenant in candidates:
            if len(named) >= limit:
                break
            if tenant not in known:
                named.append(tenant)
                known.add(tenant)
                added = True
        if added:
            temporary = directory / f"{TENANT_LABELS_FILE}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(claimed))
            temporary.replace(path)
    return known


def read_retired(directory: Path) -> dict[str, Any]:
    """The totals of the run's dead workers (empty before the first one)."""
    try:
        data: dict[str, Any] = json.loads((directory / RETIRED_FILE).read_text())
    except (OSError, ValueError):
        return {"requests": 0, "workers": 0, "routes": {}, "dispatchers": {}}
    return data


def retire_worker(directory: Path, pid: int) -> bool:
    """Fold dead worker ``pid``'s last status into the retired totals; False if done already.

    Safe to call from several processes at once (the master that saw the
    worker exit, the admin process that found its file): the status file is
    claimed by an atomic rename, so it is counted once.
    """
    claimed = directory / f"dead-{pid}.json"
    try:
        (directory / f"{STATUS_PREFIX}{pid}.json").rename(claimed)
    except OSError:
        return False  # no file, or another process claimed it
    try:
        worker = json.loads(claimed.read_text())
    except (OSError, ValueError):
        worker = None  # cut short by the crash: nothing to add
    if worker is not None:
        with _locked(directory):
            retired = add_retired(read_retired(directory), worker)
            temporary = directory / f"{RETIRED_FILE}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(retired))
            temporary.replace(directory / RETIRED_FILE)
    claimed.unlink(missing_ok=True)
    return True


def add_retired(retired: dict[str, Any], worker: dict[str, Any]) -> dict[str, Any]:
    """``retired`` plus one dead worker's counters (not its gauges). Pure."""
    routes = {
        route: {**t, "by_class": dict(t["by_class"])} for route, t in retired["routes"].items()
    }
    for route, figures in worker["routes"].items():
        entry = routes.setdefault(route, {"requests": 0, "by_class": {}})
        entry["requests"] += figures["requests"]
        for status_class, n in figures["by_class"].items():
            entry["by_class"][status_class] = entry["by_class"].get(status_class, 0) + n
    dispatchers = {label: dict(c) for label, c in retired["dispatchers"].items()}
    for label, stats in worker["dispatchers"].items():
        entry = dispatchers.setdefault(label, dict.fromkeys(COUNTERS, 0))
        for name in COUNTERS:
            entry[name] += stats[name]
    return {
        "requests": retired["requests"] + worker["requests"],
        "workers": retired["workers"] + 1,
        "routes": routes,
        "dispatchers": dispatchers,
    }


def server_status(
    workers: Iterable[dict[str, Any]],
    routes: list[dict[str, str]],
    server: dict[str, Any],
    retired: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge workers' summaries, and dead workers' ``retired`` totals, with the routing table.

    ``routes`` are ``appmux routes`` rows. Totals (requests, errors, the
    pools' counters) include the retired workers; gauges only the live ones.
    """
    workers = list(workers)
    now = time.time()
    totals: dict[str, dict[str, int]] = {}
    retired_routes = retired["routes"] if retired else {}
    for figures_by_route in [retired_routes, *(worker["routes"] for worker in workers)]:
        for route, figures in figures_by_route.items():
            entry = totals.setdefault(route, {"requests": 0, "errors": 0})
            entry["requests"] += figures["requests"]
            entry["errors"] += figures["by_class"].get("5xx", 0)
    table: list[dict[str, Any]] = []
    shown: set[str] = set()
    for row in routes:
        if row["label"] in shown:
            # Another row of the same node (a tenants node's default app): counted above.
            table.append({**row, "requests": None, "errors": None, "error_rate": None})
            continue
        shown.add(row["label"])
        counted = totals.get(row["label"], {"requests": 0, "errors": 0})
        table.append({**row, **counted, "error_rate": _rate(counted)})
    listed = {row["label"] for row in routes}
    for label, counted in sorted(totals.items()):
        if label not in listed:  # "root": answers of the routers themselves
            table.append(
                {
                    "label": label,
                    "host": "*",
                    "prefix": "",
                    "target": "(the routers' own answers)",
                    "kind": "",
                    **counted,
                    "error_rate": _rate(counted),
                }
            )
    dispatchers: dict[str, dict[str, Any]] = {}
    for label, counters in (retired["dispatchers"] if retired else {}).items():
        dispatchers[label] = {
            **dict.fromkeys(STAT_NAMES, 0),
            **counters,
            "recent_keys": [],
            "failures": [],
            "rejected": [],
        }
    for worker in workers:
        for label, stats in worker["dispatchers"].items():
            merged = dispatchers.setdefault(
                label,
                {**dict.fromkeys(STAT_NAMES, 0), "recent_keys": [], "failures": [], "rejected": []},
            )
            for field in STAT_NAMES:
                merged[field] += stats[field]
            for key in stats["recent_keys"]:
                if key not in merged["recent_keys"]:
                    merged["recent_keys"].append(key)
            merged["failures"] += [{**f, "pid": worker["pid"]} for f in stats["failures"]]
            merged["rejected"] += [{**r, "pid": worker["pid"]} for r in stats.get("rejected", [])]
    for merged in dispatchers.values():
        merged["recent_keys"] = merged["recent_keys"][:RECENT_KEYS]
        merged["failures"] = sorted(merged["failures"], key=lambda f: f["at"])[-RECENT_FAILURES:]
        merged["rejected"] = sorted(merged["rejected"], key=lambda r: r["at"])[-RECENT_REJECTIONS:]
        lookups = merged["hits"] + merged["misses"]
        merged["hit_ratio"] = merged["hits"] / lookups if lookups else None
    registry = None
    worker_rows = []
    for worker in workers:
        reg = worker.get("registry")
        age = reg["snapshot_age"] if reg else None
        if reg and registry is None:
            registry = {"url": reg["url"], "workers": []}
        if reg and registry is not None:
            registry["workers"].append(
                {
                    "pid": worker["pid"],
                    "revision": reg["revision"],
                    "snapshot_age": age,
                    "stale": age is None or age > STALE_AFTER,
                    "outage": reg["outage"],
                }
            )
        worker_rows.append(
            {
                "pid": worker["pid"],
                "uptime": now - worker["started_at"],
                "requests": worker["requests"],
                "rss_bytes": worker["rss_bytes"],
                "updated_ago": now - worker["updated_at"],
            }
        )
    if registry is not None:
        revisions = [w["revision"] for w in registry["workers"] if w["revision"] is not None]
        registry["revision"] = max(revisions) if revisions else None
        for row in registry["workers"]:
            if row["revision"] != registry["revision"]:
                row["stale"] = True
    return {
        "server": server,
        "generated_at": now,
        "requests": sum(w["requests"] for w in workers) + (retired["requests"] if retired else 0),
        "retired_workers": retired["workers"] if retired else 0,
        "routes": table,
        "dispatchers": dispatchers,
        "registry": registry,
        "workers": sorted(worker_rows, key=lambda w: w["pid"]),
    }


def _rate(counted: dict[str, int]) -> float:
    return counted["errors"] / counted["requests"] if counted["requests"] else 0.0
