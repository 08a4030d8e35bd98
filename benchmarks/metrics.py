"""Scenario 9: what metrics cost a request.

a. In one process: the same 10-mount site built from a config with and
   without ``[admin]`` (metering on: one ``RouteLabel`` and the ``MeteredApp``
   around the site), each request's body consumed and closed; the raw app
   pays the same. Target: at most 1 µs added by metrics.
b. End to end: ``appmux serve`` on gunicorn (1 sync worker), metrics on and
   off (twice, as an A/A control), loaded by wrk on 127.0.0.1 in rotating rounds.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from appmux.observe import Observer
from appmux.serve.config import load_config
from appmux.serve.site import build_site

from .e2e import _free_port, _wrk, wait_ready
from .harness import App, compare, environ_for, raw_app

ROOT = Path(__file__).resolve().parent.parent
MOUNTS = "".join(f'"/m{i}" = "benchmarks.e2e:raw"\n' for i in range(10))


def _config(folder: Path, admin_port: int | None, name: str) -> Path:
    admin = f'[admin]\nbind = "127.0.0.1:{admin_port}"\n\n' if admin_port else ""
    path = folder / f"{name}.toml"
    path.write_text(f'{admin}[mounts]\n"/" = "benchmarks.e2e:raw"\n{MOUNTS}')
    return path


def _consuming(app: App) -> App:
    def call(environ: dict[str, Any], start_response: Any) -> Any:
        body = app(environ, start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return body

    return call


def inprocess_scenario(rounds: int, calls: int) -> dict[str, Any]:
    """ns per request: raw, site with metrics off, site with metrics on."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        off = build_site(load_config(_config(folder, None, "off")))
        # No exporter: it would drain the meter off the hot path, in its own thread.
        observer = Observer()
        on = build_site(load_config(_config(folder, 1, "on")), observer)
        contenders = {
            "raw": _consuming(raw_app),
            "metrics off": _consuming(off),
            "metrics on": _consuming(on),
        }
        environs = [environ_for(f"/m{i % 10}/item{i}") for i in range(1000)]
        result = compare(contenders, environs, rounds=rounds, calls=calls)
        observer.meter.pending.clear()
    return {
        "ns": result,
        "metrics_added_ns": result["metrics on"] - result["metrics off"],
        "dispatch_added_ns": result["metrics off"] - result["raw"],
    }


def _serve(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appmux",
            "serve",
            str(config),
            "--server",
            "gunicorn",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}/m5/item"
    return wait_ready(process, url, "appmux serve"), url


def e2e_scenario(rounds: int, seconds: float) -> dict[str, Any]:
    """Requests/s with metrics off (twice) and on; ratios of medians."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        configs = {
            "off": _config(folder, None, "off"),
            "off again": _config(folder, None, "off2"),
            "on": _config(folder, _free_port(), "on"),
        }
        servers = {name: _serve(config) for name, config in configs.items()}
        try:
            samples: dict[str, list[float]] = {name: [] for name in configs}
            order = list(configs)
            for _ in range(rounds):
                order = order[1:] + order[:1]
                for name in order:
                    samples[name].append(_wrk(servers[name][1], seconds))
        finally:
            for process, _url in servers.values():
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)
    rps = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "rps": rps,
        "ratio": rps["on"] / rps["off"],
        "aa_ratio": rps["off again"] / rps["off"],
    }
