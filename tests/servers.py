"""Start ``appmux serve`` as a real subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A running ``appmux serve`` process."""

    def __init__(
        self, process: subprocess.Popen[str], port: int, log: Path, address: str = "127.0.0.1"
    ) -> None:
        self.process = process
        self.port = port
        self.url = f"http://{address}:{port}"
        self.log = log

    def get(self, path: str, host: str | None = None, **kw: object) -> httpx.Response:
        headers = {"Host": host} if host is not None else {}
        return httpx.get(self.url + path, headers=headers, timeout=20, **kw)  # type: ignore[arg-type]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Send ``sig``; return the exit status (raises if it does not exit in time)."""
        self.process.send_signal(sig)
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The processes that serve: gunicorn's workers, or the server itself."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return [int(child) for child in children] or [pid]


@contextmanager
def serve(
    config: Path,
    *args: str,
    tmp_path: Path,
    ready_path: str = "/",
    env: dict[str, str] | None = None,
    address: str = "127.0.0.1",
    port: int | None = None,
    prefix: tuple[str, ...] = (),
) -> Iterator[Server]:
    """Run ``python -m appmux serve CONFIG --bind ADDRESS:PORT ARGS`` until ready.

    ``prefix`` goes before the command (``ip netns exec NAME`` runs it in a
    network namespace, where ``address`` and ``port`` are its own).
    """
    port = free_port() if port is None else port
    log = tmp_path / f"serve-{address}-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                *prefix,
                sys.executable,
                "-m",
                "appmux",
                "serve",
                str(config),
                "--bind",
                f"{address}:{port}",
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=config.parent,
            start_new_session=True,
        )
    server = Server(process, port, log, address)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.output()}")
            try:
                httpx.get(server.url + ready_path, timeout=2, headers={"Host": "localhost"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start:\n{server.output()}") from None
                time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            # SIGTERM first, so the server cleans up after itself (its metrics folder).
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        else:
            try:  # the dev server's reloader child, if the parent left it behind
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


#: The demo's admin listener (``[admin] bind`` in examples/appmux.toml).
DEMO_ADMIN = "http://127.0.0.1:9100"


def registry_revisions(admin: str) -> list[int | None]:
    """The registry revision each worker of a server last reported to its admin listener
    (``admin`` is its base URL), in pid order: what every worker serves, not one."""
    status = httpx.get(f"{admin}/status.json", timeout=5).json()
    return [worker["revision"] for worker in (status["registry"] or {}).get("workers", [])]
