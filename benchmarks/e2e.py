"""Scenario 7: end to end under real servers, loaded with wrk on 127.0.0.1.

The same tiny app is served raw and behind a 100-mount appmux site, under
gunicorn (sync and gthread) and waitress, in interleaved rounds of bounded
length. Only loopback is ever targeted.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

import appmux

HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "2")]


def raw(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The app served bare, and behind every mount of ``site``."""
    start_response("200 OK", HEADERS)
    return [b"ok"]


#: The 100-mount site; requests go to /m50/item.
site = appmux.DispatcherMiddleware(raw, {f"/m{i}": raw for i in range(100)})

SERVERS = {
    "gunicorn sync": ["-m", "gunicorn", "--workers", "1", "--log-level", "warning"],
    "gunicorn gthread": [
        "-m",
        "gunicorn",
        "--workers",
        "1",
        "--threads",
        "4",
        "--worker-class",
        "gthread",
        "--log-level",
        "warning",
    ],
    "waitress": ["-m", "waitress", "--threads", "4"],
}


def _gunicorn_args() -> list[str]:
    # gunicorn >= 25 opens a control socket at one fixed path per user; two
    # servers at once would fight over it.
    from gunicorn import config

    return ["--no-control-socket"] if hasattr(config, "ControlSocketDisable") else []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(server: str, target: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    args = [sys.executable, *SERVERS[server]]
    if server == "waitress":
        args += [f"--listen=127.0.0.1:{port}", target]
    else:
        args += [*_gunicorn_args(), "--bind", f"127.0.0.1:{port}", target]
    process = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    url = f"http://127.0.0.1:{port}/m50/item"
    return wait_ready(process, url, server), url


def wait_ready(
    process: subprocess.Popen[bytes], url: str, what: str, timeout: float = 30
) -> subprocess.Popen[bytes]:
    """Wait until ``url`` answers; kill ``process`` and raise if it does not in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _wrk(url: str, seconds: float, connections: int = 8, threads: int = 1) -> float:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    return float(match.group(1))


def e2e_scenario(rounds: int, seconds: float) -> list[dict[str, Any]]:
    """Requests/s of raw vs appmux per server; ratio of medians.

    The raw app is served twice: the ratio of those two identical servers
    ("A/A") is the noise floor a raw-vs-appmux ratio should be read against.
    """
    if shutil.which("wrk") is None:
        return [{"server": "-", "skipped": "wrk is not installed (apt-get install wrk)"}]
    targets = {
        "raw": "benchmarks.e2e:raw",
        "raw again": "benchmarks.e2e:raw",
        "site": "benchmarks.e2e:site",
    }
    rows = []
    for server in SERVERS:
        servers = {name: _start(server, target) for name, target in targets.items()}
        try:
            samples: dict[str, list[float]] = {name: [] for name in targets}
            order = list(targets)
            for _ in range(rounds):
                order = order[1:] + order[:1]  # rotate who goes first
                for name in order:
                    samples[name].append(_wrk(servers[name][1], seconds))
        finally:
            for process, _url in servers.values():
                _stop(process)
        rate = {name: statistics.median(values) for name, values in samples.items()}
        rows.append(
            {
                "server": server,
                "raw_rps": rate["raw"],
                "appmux_rps": rate["site"],
                "ratio": rate["site"] / rate["raw"],
                "aa_ratio": rate["raw again"] / rate["raw"],
            }
        )
    return rows
