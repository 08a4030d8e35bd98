"""Zero-downtime reload under load: ``appmux reload`` on gunicorn (4 workers), waitress
and uvicorn, each reload changing an app's code; one broken config in the middle.

Clients request the site all along (a new connection each time); every answer
must be a 200 (no failed request, no connection reset), and once ``appmux
reload`` has returned, only the new version may answer.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from servers import Server, serve

APP = """
import os

VERSION = {version!r}


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"version={{VERSION}} pid={{os.getpid()}}".encode()]


def make(key):
    return application
"""

CONFIG = """
[mounts]
"/" = "versioned:application"

[hosts."*.example.com".tenants]
by = "subdomain"
domain = "example.com"
factory = "versioned:make"
"""


def write_app(folder: Path, version: str) -> None:
    (folder / "versioned.py").write_text(APP.format(version=version))


def reload(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appmux", "reload", str(config)],
        capture_output=True,
        text=True,
        timeout=90,
    )


def version_of(server: Server, host: str = "localhost") -> str:
    answer = httpx.get(server.url + "/", headers={"Host": host, "Connection": "close"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text.split()[0].partition("=")[2]


class Load:
    """Clients requesting the site until stopped (bounded by count and time)."""

    def __init__(self, server: Server, clients: int = 4) -> None:
        self.server = server
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def _run(self, index: int) -> None:
        host = "localhost" if index % 2 == 0 else f"t{index}.example.com"
        deadline = time.monotonic() + 120
        for _ in range(20_000):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            try:
                answer = httpx.get(
                    self.server.url + "/",
                    headers={"Host": host, "Connection": "close"},
                    timeout=30,
                )
                failed = None if answer.status_code == 200 else f"{answer.status_code}"
            except httpx.HTTPError as exc:
                failed = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.requests += 1
                if failed is not None:
                    self.failures.append(failed)
            time.sleep(0.005)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


SERVERS = {
    "gunicorn": ("--server", "gunicorn", "--workers", "4", "--threads", "2"),
    "waitress": ("--server", "waitress"),
    "uvicorn": ("--server", "uvicorn"),
}


@pytest.mark.parametrize("server_name", ["gunicorn", "waitress", "uvicorn"])
def test_ten_reloads_under_load_drop_nothing(server_name: str, tmp_path: Path) -> None:
    write_app(tmp_path, "v0")
    config = tmp_path / "appmux.toml"
    config.write_text(CONFIG)
    env = {"PYTHONDONTWRITEBYTECODE": ""}  # bytecode caches are written: reload copes
    with serve(config, *SERVERS[server_name], tmp_path=tmp_path, env=env) as server:
        assert version_of(server) == "v0"
        started = time.monotonic()
        with Load(server) as load:
            for number in range(1, 11):
                if number == 6:  # a broken config in the middle: nothing changes, exit 1
                    config.write_text(CONFIG.replace("versioned:application", "versioned:nope"))
                    broken = reload(config)
                    assert broken.returncode == 1, broken.stderr
                    assert 'appmux.toml: mounts."/"' in broken.stderr and "nope" in broken.stderr
                    assert broken.stderr.count("\n") == 1  # one line
                    assert {version_of(server) for _ in range(6)} == {"v5"}
                    config.write_text(CONFIG)
                write_app(tmp_path, f"v{number}")
                done = reload(config)
                assert done.returncode == 0, done.stderr
                seen = {version_of(server) for _ in range(12)}
                seen |= {version_of(server, "t9.example.com") for _ in range(4)}
                assert seen == {f"v{number}"}, (number, seen)
                time.sleep(max(0.0, number * 2.5 - (time.monotonic() - started)))
        assert load.requests > 100
        assert load.failures == []
        # The admin-less server keeps its state file beside the config while it runs.
        assert (tmp_path / ".appmux.toml.serve.json").is_file()
    assert not (tmp_path / ".appmux.toml.serve.json").exists()


def test_reload_without_a_server_says_so(tmp_path: Path) -> None:
    config = tmp_path / "appmux.toml"
    config.write_text(CONFIG)
    done = reload(config)
    assert done.returncode == 1 and "no running `appmux serve`" in done.stderr


def test_sighup_reloads_too(tmp_path: Path) -> None:
    import signal

    write_app(tmp_path, "one")
    config = tmp_path / "appmux.toml"
    config.write_text(CONFIG)
    with serve(config, "--server", "waitress", tmp_path=tmp_path) as server:
        assert version_of(server) == "one"
        write_app(tmp_path, "two")
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while version_of(server) != "two":
            assert time.monotonic() < deadline
            time.sleep(0.1)


def poll_admin(admin: str, stop: threading.Event, answers: list[int]) -> None:
    """Ask the admin listener for the status until stopped (at most 60 s)."""
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        answers.append(httpx.get(admin + "/status.json", timeout=10).status_code)
        time.sleep(0.05)


def test_the_admin_listener_answers_and_metrics_count_across_reloads(tmp_path: Path) -> None:
    from servers import free_port
    from test_observe import samples, wait_for

    write_app(tmp_path, "a")
    port = free_port()
    admin = f"http://127.0.0.1:{port}"
    config = tmp_path / "appmux.toml"
    config.write_text(f'[admin]\nbind = "127.0.0.1:{port}"\n' + CONFIG)
    args = ("--server", "gunicorn", "--workers", "2")
    with serve(config, *args, tmp_path=tmp_path) as server:
        sent = 0
        for version in ("b", "c"):
            for _ in range(20):
                version_of(server)
                sent += 1
            write_app(tmp_path, version)
            answers: list[int] = []
            stop = threading.Event()

            poller = threading.Thread(target=poll_admin, args=(admin, stop, answers))
            poller.start()
            try:
                assert reload(config).returncode == 0
            finally:
                stop.set()
                poller.join(30)
            assert answers and set(answers) == {200}  # it answered all through the reload
            assert version_of(server) == version
            sent += 1

        def total() -> float:
            return sum(samples(admin, "appmux_requests_total").values())

        # The retired workers' requests still count, in /metrics and in the status.
        assert wait_for(lambda: total() == sent), (total(), sent)
        assert wait_for(lambda: httpx.get(admin + "/status.json").json()["requests"] == sent)


LIFESPAN_APP = """
from pathlib import Path

FAIL = Path(__file__).with_name("fail-startup")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        if FAIL.exists():
            await send({"type": "lifespan.startup.failed", "message": "the database is down"})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi"})
"""


@pytest.mark.parametrize("server_name", ["gunicorn", "waitress", "uvicorn"])
def test_a_new_site_whose_asgi_startup_fails_is_refused(server_name: str, tmp_path: Path) -> None:
    write_app(tmp_path, "v1")
    (tmp_path / "lifespan_app.py").write_text(LIFESPAN_APP)
    config = tmp_path / "appmux.toml"
    config.write_text(CONFIG.replace('"/" = ', '"/asgi" = "lifespan_app:app"\n"/" = '))
    args = {"gunicorn": ("--server", "gunicorn", "--workers", "2")}.get(
        server_name, SERVERS[server_name]
    )
    with serve(config, *args, tmp_path=tmp_path) as server:
        assert server.get("/asgi", host="localhost").text == "asgi"
        (tmp_path / "fail-startup").touch()
        write_app(tmp_path, "v2")
        refused = reload(config)
        assert refused.returncode == 1
        assert "mounts./asgi" in refused.stderr.replace('"', "") and "database is down" in (
            refused.stderr
        )
        assert version_of(server) == "v1" and server.process.poll() is None
        (tmp_path / "fail-startup").unlink()
        assert reload(config).returncode == 0
        assert version_of(server) == "v2"
        assert server.get("/asgi", host="localhost").text == "asgi"
