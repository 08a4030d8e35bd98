"""``appmux serve`` with ASGI apps: uvicorn (one process, or uvicorn workers under
gunicorn), gunicorn's own ASGI worker, and the WSGI servers with their bridge."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgi_helpers import Running
from servers import Server, free_port, serve
from test_observe import samples, wait_for
from websockets.exceptions import InvalidStatus

SITES = Path(__file__).resolve().parent / "sites"
MIXED = SITES / "mixed.toml"

#: How each mode is asked for, and whether it serves websockets.
MODES = {
    "uvicorn": (["--server", "uvicorn"], True),
    "uvicorn-workers": (["--server", "uvicorn", "--workers", "2"], True),
    "gunicorn-asgi": (["--server", "gunicorn", "--worker-class", "asgi", "--workers", "2"], True),
    "gunicorn-gthread": (["--server", "gunicorn", "--threads", "4"], False),
    "waitress": (["--server", "waitress"], False),
}


def journal_of(path: Path) -> dict[str, list[str]]:
    """Lifespan events by process."""
    events: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        pid, event = line.split(" ", 1)
        events.setdefault(pid, []).append(event)
    return events


def websocket(server: Server, path: str, host: str = "localhost") -> object:
    return Running(None, server.port).websocket(path, host)  # type: ignore[arg-type]


def chunked(total: int) -> Iterator[bytes]:
    for _ in range(total // 10_000):
        yield b"u" * 10_000


@pytest.mark.parametrize("mode", list(MODES))
def test_a_mixed_site_on_every_server(mode: str, tmp_path: Path) -> None:
    args, websockets = MODES[mode]
    journal = tmp_path / "journal"
    with serve(MIXED, *args, tmp_path=tmp_path, env={"MIXED_JOURNAL": str(journal)}) as server:
        api = server.get("/api/v2/where", host="localhost").json()
        assert api == {
            "app": "api",
            "root_path": "/api/v2",
            "path": "/api/v2/where",
            "url_for": "/api/v2/where",
        }
        flask = server.get("/where", host="localhost").json()
        assert flask == {
            "app": "flask",
            "script_name": "",
            "path_info": "/where",
            "url_for": "/where",
        }
        assert server.get("/where", host="fast1.mixed.test").json()["app"] == "fast1"
        assert server.get("/where", host="plain.mixed.test").json()["app"] == "plain"
        broken = server.get("/where", host="broken.mixed.test")
        assert broken.status_code == 503 and "Retry-After" in broken.headers
        assert server.get("/where", host="nobody.mixed.test").status_code == 404
        # Chunked uploads both ways: to the Flask app and to the FastAPI app.
        for path in ("/upload", "/api/v2/upload"):
            posted = httpx.post(
                server.url + path,
                content=chunked(300_000),
                timeout=20,
                headers={"Host": "localhost"},
            )
            assert posted.json()["body"] == 300_000, path
        if websockets:
            with websocket(server, "/api/v2/ws") as ws:  # type: ignore[attr-defined]
                ws.send("hello")
                assert ws.recv(timeout=10) == "api:hello"
            with websocket(server, "/ws", "fast1.mixed.test") as ws:  # type: ignore[attr-defined]
                ws.send("hello")
                assert ws.recv(timeout=10) == "fast1:hello"
            for path, host in [
                ("/ws", "nobody.mixed.test"),
                ("/ws", "bad..mixed.test"),
                ("/where", "localhost"),
            ]:
                with pytest.raises(InvalidStatus):
                    websocket(server, path, host)
        else:
            with pytest.raises(InvalidStatus) as refused:
                websocket(server, "/api/v2/ws")
            assert refused.value.response.status_code == 501
        assert server.stop() == 0
    events = journal_of(journal)
    for pid, seen in events.items():
        assert seen[0] == "start api", (pid, seen)
        # Startups in order, shutdowns in reverse order (the tenant before the static app).
        started = [e.split()[1] for e in seen if e.startswith("start") and e != "start broken"]
        stopped = [e.split()[1] for e in seen if e.startswith("stop")]
        assert stopped == started[::-1], (pid, seen)


@pytest.mark.parametrize("mode", list(MODES))
def test_a_static_apps_failed_startup_stops_serve_with_one_line(mode: str, tmp_path: Path) -> None:
    args, _ = MODES[mode]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "appmux",
            "serve",
            str(MIXED),
            "--bind",
            f"127.0.0.1:{free_port()}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=SITES,
        env={**os.environ, "APPMUX_TEST_FAIL": "1"},
    )
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [
        line
        for line in (result.stderr + result.stdout).splitlines()
        if "api cannot reach its database" in line
    ]
    # One line per worker that tried (two workers' lines may interleave on a busy machine).
    named = [
        line for line in lines if 'mixed.toml: mounts."/api/v2": lifespan startup failed' in line
    ]
    assert named, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_without_server_a_site_with_asgi_apps_is_served_on_uvicorn(tmp_path: Path) -> None:
    with serve(MIXED, tmp_path=tmp_path) as server:
        assert "with uvicorn" in server.output()
        with websocket(server, "/api/v2/ws") as ws:  # type: ignore[attr-defined]
            ws.send("x")
            assert ws.recv(timeout=10) == "api:x"
    wsgi_only = tmp_path / "wsgi.toml"
    wsgi_only.write_text('[mounts]\n"/" = "mixed_app:flask_app"\n')
    shutil.copy(SITES / "mixed_app.py", tmp_path / "mixed_app.py")
    with serve(wsgi_only, tmp_path=tmp_path) as server:
        assert "with gunicorn" in server.output()


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ("[asgi]\nthreads = 0\n", "asgi.threads", "must be a whole number >= 1"),
        ("[asgi]\nlifespan_timeout = -1\n", "asgi.lifespan_timeout", "positive number"),
        ("[asgi]\ndrain_timeout = 'soon'\n", "asgi.drain_timeout", "positive number"),
        ("[asgi]\nworkers = 2\n", "asgi.workers", "unknown key"),
        ("[server]\nworker_class = 'eventlet'\n", "server.worker_class", "must be one of"),
        (
            '[mounts."/x"]\napp = "mixed_app:api"\ninterface = "grpc"\n',
            'mounts."/x".interface',
            "must be 'asgi' or 'wsgi'",
        ),
    ],
)
def test_bad_asgi_settings_are_one_line_naming_the_key(
    table: str, key: str, message: str, tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        table + ('[mounts]\n"/" = "mixed_app:flask_app"\n' if "mounts" not in table else "")
    )
    result = subprocess.run(
        [sys.executable, "-m", "appmux", "serve", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and key in error[0] and message in error[0], result.stderr


def test_websockets_and_asgi_requests_are_metered(tmp_path: Path) -> None:
    port = free_port()
    shutil.copy(SITES / "mixed_app.py", tmp_path / "mixed_app.py")
    config = tmp_path / "metered.toml"
    mixed = MIXED.read_text().replace('"/api/v2"', '"/flask" = "mixed_app:flask_app"\n"/api/v2"')
    config.write_text(f'[admin]\nbind = "127.0.0.1:{port}"\n' + mixed)
    admin = f"http://127.0.0.1:{port}"
    with serve(config, "--server", "uvicorn", tmp_path=tmp_path) as server:
        for _ in range(3):
            server.get("/api/v2/where", host="localhost")
        # A labelled WSGI mount on the ASGI front: bridged, counted under its label.
        assert server.get("/flask/where", host="localhost").json()["script_name"] == "/flask"
        with websocket(server, "/api/v2/ws") as ws:  # type: ignore[attr-defined]
            ws.send("a")
            ws.recv(timeout=10)
            route = (("route", "mount:/api/v2"),)
            assert wait_for(lambda: samples(admin, "appmux_websockets_open").get(route) == 1)
        assert wait_for(lambda: samples(admin, "appmux_websocket_sessions_total").get(route) == 1)
        assert wait_for(lambda: samples(admin, "appmux_websockets_open").get(route) == 0)
        requests = samples(admin, "appmux_requests_total")
        # The readiness probe hit the root; the websocket is no HTTP request.
        assert requests[(("route", "mount:/api/v2"), ("status_class", "2xx"))] == 3
        assert requests[(("route", "mount:/flask"), ("status_class", "2xx"))] == 1


def test_the_interface_key_declares_what_detection_cannot_tell(tmp_path: Path) -> None:
    shutil.copy(SITES / "mixed_app.py", tmp_path / "mixed_app.py")
    (tmp_path / "odd_app.py").write_text(
        "from mixed_app import api\n"
        "def application(scope, receive, send):  # a sync callable returning a coroutine\n"
        "    return api(scope, receive, send)\n"
    )
    config = tmp_path / "odd.toml"
    config.write_text(
        '[mounts]\n"/" = "mixed_app:flask_app"\n\n[mounts."/odd"]\n'
        'app = "odd_app:application"\ninterface = "asgi"\n'
    )
    with serve(config, tmp_path=tmp_path) as server:
        assert "with uvicorn" in server.output()
        assert server.get("/odd/where", host="localhost").json()["root_path"] == "/odd"


def test_dev_mode_on_an_asgi_site_reloads_on_config_changes(tmp_path: Path) -> None:
    shutil.copy(SITES / "mixed_app.py", tmp_path / "mixed_app.py")
    config = tmp_path / "dev.toml"
    config.write_text('[mounts]\n"/" = "mixed_app:flask_app"\n"/api/v2" = "mixed_app:api"\n')
    with serve(config, "--dev", tmp_path=tmp_path) as server:
        with websocket(server, "/api/v2/ws") as ws:  # type: ignore[attr-defined]
            ws.send("dev")
            assert ws.recv(timeout=10) == "api:dev"
        assert server.get("/api/v3/where", host="localhost").status_code == 404
        config.write_text(config.read_text() + '"/api/v3" = "mixed_app:api"\n')

        def reloaded() -> bool:
            try:
                return server.get("/api/v3/where", host="localhost").status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(reloaded, timeout=30)
        config.write_text("[mounts\n")  # broken: one line, the server stays up
        assert wait_for(lambda: _status(server) == 500, timeout=30)
        assert "invalid TOML" in server.get("/", host="localhost").text


def _status(server: Server) -> int:
    try:
        return server.get("/", host="localhost").status_code
    except httpx.TransportError:
        return 0


@pytest.mark.parametrize("args", [["--server", "gunicorn"], ["--server", "uvicorn"]])
def test_no_thread_runs_in_the_pre_fork_master(args: list[str], tmp_path: Path) -> None:
    """The ASGI apps' loop thread and the WSGI apps' pool start in the workers only."""
    with serve(MIXED, *args, "--workers", "2", tmp_path=tmp_path) as server:
        for i in range(10):
            assert server.get("/api/v2/where", host="localhost").status_code == 200
            assert server.get("/where", host=f"t{i % 3}.mixed.test").status_code == 200
        master = server.process.pid
        assert len(os.listdir(f"/proc/{master}/task")) == 1
        assert server.stop() == 0
