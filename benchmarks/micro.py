"""Scenarios 1 and 2: dispatch cost in one thread, against the raw app.

1. Prefix dispatch with 1, 100 and 10,000 mounts: shallow hits, hits on a
   3-segment mount, 11-segment paths and misses, each rotating over 1,000
   distinct URLs. werkzeug's DispatcherMiddleware vs appmux's.
2. Subdomain and path dispatch cache hits with 1, 1,000 and 100,000 live
   tenants, requests spread over all of them: the documented snippets vs
   appmux, and a bare dict lookup as the floor (and appmux's static
   HostDispatcher with as many exact hosts, for scale).
"""

from __future__ import annotations

import random
from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware as WerkzeugDispatcher

import appmux

from . import snippets
from .harness import App, compare, environ_for, raw_app

DISTINCT = 1000


def prefix_environs(case: str, mounts: int, rng: random.Random) -> list[dict[str, Any]]:
    """1,000 distinct request paths of one kind."""
    deep_mounts = max(1, mounts // 10)
    paths = []
    for i in range(DISTINCT):
        m = rng.randrange(mounts)
        if case == "shallow hit":
            paths.append(f"/m{m}/item{i}")
        elif case == "3-segment mount":
            paths.append(f"/d{rng.randrange(deep_mounts)}/b/c/item{i}")
        elif case == "11-segment path":
            paths.append(f"/m{m}/" + "/".join(f"s{i}x{k}" for k in range(10)))
        else:  # miss
            paths.append(f"/nomount{i}/page")
    return [environ_for(path) for path in paths]


def prefix_tables(mounts: int) -> dict[str, App]:
    """``mounts`` one-segment mounts plus a tenth as many three-segment ones."""
    table = {f"/m{i}": raw_app for i in range(mounts)}
    table.update({f"/d{i}/b/c": raw_app for i in range(max(1, mounts // 10))})
    return {
        "raw": raw_app,
        "werkzeug": WerkzeugDispatcher(raw_app, dict(table)),
        "appmux": appmux.DispatcherMiddleware(raw_app, dict(table)),
    }


def prefix_scenario(rounds: int, calls: int, mount_counts: list[int]) -> list[dict[str, Any]]:
    """Rows: mounts, case, ns per call of each contender, added costs and ratio."""
    rows = []
    rng = random.Random(1)
    for mounts in mount_counts:
        contenders = prefix_tables(mounts)
        for case in ["shallow hit", "3-segment mount", "11-segment path", "miss"]:
            result = compare(
                contenders, prefix_environs(case, mounts, rng), rounds=rounds, calls=calls
            )
            rows.append(_added("prefix", f"{mounts} mounts, {case}", result, "werkzeug", "appmux"))
    return rows


def depth_curve(rounds: int, calls: int) -> list[dict[str, Any]]:
    """Cost of a hit by request-path depth (100 mounts), for the plot."""
    contenders = prefix_tables(100)
    rows = []
    for depth in [1, 2, 3, 5, 8, 11, 16]:
        environs = [
            environ_for(f"/m{i % 100}" + "".join(f"/s{i}x{k}" for k in range(depth - 1)))
            for i in range(DISTINCT)
        ]
        result = compare(contenders, environs, rounds=rounds, calls=calls)
        rows.append(_added("depth", str(depth), result, "werkzeug", "appmux"))
    return rows


def tenant_contenders(tenants: int) -> tuple[dict[str, App], dict[str, App]]:
    """(subdomain contenders, path contenders), each with ``tenants`` live apps."""
    apps = {f"t{i}": (lambda environ, sr: [b"ok"]) for i in range(tenants)}

    def bare_host(environ: dict[str, Any], start_response: Any) -> Any:
        return host_apps[environ["HTTP_HOST"]](environ, start_response)

    def bare_path(environ: dict[str, Any], start_response: Any) -> Any:
        return apps[environ["PATH_INFO"].split("/", 2)[1]](environ, start_response)

    host_apps = {f"{key}.example.com": app for key, app in apps.items()}
    create = apps.get
    by_host: dict[str, App] = {
        "raw": raw_app,
        "dict lookup": bare_host,
        "documented": snippets.SubdomainDispatcher("example.com", create),
        "appmux": appmux.SubdomainDispatcher("example.com", create),
        # Static routing by exact host, for scale: not a lazy dispatcher.
        "appmux HostDispatcher": appmux.HostDispatcher(host_apps),
    }
    by_path: dict[str, App] = {
        "raw": raw_app,
        "dict lookup": bare_path,
        "documented": snippets.PathDispatcher(raw_app, create),
        "appmux": appmux.PathDispatcher(raw_app, create),
    }
    return by_host, by_path


def tenant_scenario(rounds: int, calls: int, counts: list[int]) -> list[dict[str, Any]]:
    """Rows for subdomain and path cache hits at each tenant count."""
    rows = []
    for tenants in counts:
        by_host, by_path = tenant_contenders(tenants)
        rng = random.Random(tenants)
        picks = [rng.randrange(tenants) for _ in range(4096)]
        for app in (by_host["documented"], by_host["appmux"]):  # create every tenant once
            for i in range(tenants):
                app(environ_for("/", f"t{i}.example.com"), lambda *a: None)
        for app in (by_path["documented"], by_path["appmux"]):
            for i in range(tenants):
                app(environ_for(f"/t{i}/"), lambda *a: None)
        host_envs = [environ_for("/page", f"t{i}.example.com") for i in picks]
        path_envs = [environ_for(f"/t{i}/page") for i in picks]
        result = compare(by_host, host_envs, rounds=rounds, calls=calls)
        rows.append(
            _added("subdomain", f"by host, {tenants} tenants", result, "documented", "appmux")
        )
        result = compare(by_path, path_envs, rounds=rounds, calls=calls)
        rows.append(_added("path", f"by path, {tenants} tenants", result, "documented", "appmux"))
    return rows


def _added(
    scenario: str, case: str, result: dict[str, float], baseline: str, ours: str
) -> dict[str, Any]:
    raw = result["raw"]
    added = {name: value - raw for name, value in result.items() if name != "raw"}
    return {
        "scenario": scenario,
        "case": case,
        "ns": result,
        "added": added,
        "ratio": added[ours] / added[baseline] if added[baseline] > 0 else float("nan"),
        "baseline": baseline,
    }
