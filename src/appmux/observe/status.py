"""The whole server's state, merged from every worker's status file: pure logic.

Each serving process writes ``status-<pid>.json`` (see
:mod:`appmux.observe.exporter`); :func:`server_status` merges the files of the
live ones with the routing table into one JSON-ready view, the one the status
page, ``/status.json`` and ``appmux status`` show.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.pool import RECENT_FAILURES, STAT_NAMES
from .exporter import STATUS_PREFIX
from .observer import RECENT_KEYS

__all__ = ["STALE_AFTER", "read_worker_status", "server_status"]

#: A worker whose snapshot is older than this many seconds is shown as stale.
STALE_AFTER = 10.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_worker_status(directory: Path) -> list[dict[str, Any]]:
    """The status files of live processes (files of dead ones are removed)."""
    workers = []
    for path in sorted(directory.glob(f"{STATUS_PREFIX}*.json")):
        try:
            pid = int(path.stem[len(STATUS_PREFIX) :])
        except ValueError:
            continue
        if not _alive(pid):
            path.unlink(missing_ok=True)
            continue
        try:
            workers.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now: next refresh
    return workers


def server_status(
    workers: Iterable[dict[str, Any]], routes: list[dict[str, str]], server: dict[str, Any]
) -> dict[str, Any]:
    """Merge workers' summaries with the routing table (``appmux routes`` rows)."""
    workers = list(workers)
    now = time.time()
    totals: dict[str, dict[str, int]] = {}
    for worker in workers:
        for route, figures in worker["routes"].items():
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
    for worker in workers:
        for label, stats in worker["dispatchers"].items():
            merged = dispatchers.setdefault(
                label,
                {**dict.fromkeys(STAT_NAMES, 0), "recent_keys": [], "failures": []},
            )
            for field in STAT_NAMES:
                merged[field] += stats[field]
            for key in stats["recent_keys"]:
                if key not in merged["recent_keys"]:
                    merged["recent_keys"].append(key)
            merged["failures"] += [{**f, "pid": worker["pid"]} for f in stats["failures"]]
    for merged in dispatchers.values():
        merged["recent_keys"] = merged["recent_keys"][:RECENT_KEYS]
        merged["failures"] = sorted(merged["failures"], key=lambda f: f["at"])[-RECENT_FAILURES:]
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
        "requests": sum(w["requests"] for w in workers),
        "routes": table,
        "dispatchers": dispatchers,
        "registry": registry,
        "workers": sorted(worker_rows, key=lambda w: w["pid"]),
    }


def _rate(counted: dict[str, int]) -> float:
    return counted["errors"] / counted["requests"] if counted["requests"] else 0.0
