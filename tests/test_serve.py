"""``appmux serve`` on real servers (gunicorn, waitress, werkzeug dev), driven by httpx.

Loopback only, free ports, every process stopped by the test itself.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from servers import DEMO_ADMIN, registry_revisions, serve
from test_observe import wait_for

from appmux import Registry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SITES = Path(__file__).resolve().parent / "sites"
DEMO = EXAMPLES / "appmux.toml"

# The demo serves its tenants from a registry: a seeded one in a temp dir.
pytestmark = pytest.mark.usefixtures("demo_registry")

MODES = {
    "gunicorn": ["--server", "gunicorn", "--workers", "2", "--threads", "2"],
    "waitress": ["--server", "waitress"],
    "dev": ["--dev"],
}

HOSTILE_HOSTS = [
    "evil..localhost",
    "-x.localhost",
    "x_y.localhost",
    "[::1",
    "localhost:99999",
    "a" * 64 + ".localhost",
    "acme.localhost:8000:1",
]


def test_readme_adds_a_tenant_without_a_restart(tmp_path: Path, demo_registry: str) -> None:
    """The README's ``appmux tenants add initech``, then initech.localhost answers."""
    with serve(DEMO, "--server", "gunicorn", "--workers", "2", tmp_path=tmp_path) as server:
        assert server.get("/", host="initech.localhost").status_code == 404
        added = subprocess.run(
            [sys.executable, "-m", "appmux", "tenants", "add", "initech", "--set", "name=Initech"],
            cwd=EXAMPLES,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert added.returncode == 0, added.stderr
        # The README promises "within a second": each worker checks the registry every
        # 1 s, so every worker serves it 1 s after the commit, plus a read of the
        # registry; 0.5 s of margin is for a busy 2-core machine. A burst of 20 (one
        # connection each) reaches both workers.
        committed = time.monotonic()
        while {server.get("/", host="initech.localhost").status_code for _ in range(20)} != {200}:
            assert time.monotonic() - committed < 1.5, "not served by every worker within 1.5 s"
            time.sleep(0.02)
        # The burst may have reached one worker only: wait for the other's report (it writes
        # its status every second) before asking whichever worker answers for the page.
        registry = Registry(demo_registry)
        revision = registry.revision()
        registry.close()
        assert wait_for(lambda: registry_revisions(DEMO_ADMIN) == [revision] * 2)
        assert "Initech" in server.get("/", host="initech.localhost").text


@pytest.mark.parametrize("mode", list(MODES))
def test_demo_site_on_a_real_server(mode: str, tmp_path: Path) -> None:
    with serve(DEMO, *MODES[mode], tmp_path=tmp_path) as server:
        home = server.get("/", host="localhost")
        assert home.status_code == 200 and "appmux demo" in home.text

        api = server.get("/backend/", host=f"localhost:{server.port}")
        assert api.json() == {
            "app": "backend",
            "script_root": "/backend",
            "users_url": "/backend/users",
        }
        users = server.get("/backend/users", host=f"localhost:{server.port}").json()
        assert users["url"] == f"http://localhost:{server.port}/backend/users"

        legacy = server.get("/legacy/", host="localhost")
        assert legacy.status_code == 200 and 'href="/legacy/reports/2024/"' in legacy.text
        report = server.get("/legacy/reports/7/", host="localhost").json()
        assert report == {"app": "django", "year": 7, "self": "/legacy/reports/7/"}

        acme = server.get("/", host=f"acme.localhost:{server.port}")
        assert acme.status_code == 200 and "Acme Corp" in acme.text
        about = server.get("/about", host=f"ACME.localhost:{server.port}")
        assert about.text == f"about acme: http://acme.localhost:{server.port}/"
        nobody = server.get("/", host="nobody.localhost")
        assert nobody.status_code == 404 and "No such tenant" in nobody.text

        for host in HOSTILE_HOSTS:
            response = server.get("/", host=host)
            assert response.status_code == 400, (host, response.status_code)
            assert "Traceback" not in response.text

        status = server.stop(signal.SIGTERM, timeout=10)
        assert status == 0, server.output()


@pytest.mark.parametrize("mode", ["gunicorn", "waitress"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_lets_in_flight_requests_finish(
    mode: str, sig: signal.Signals, tmp_path: Path
) -> None:
    with serve(SITES / "graceful.toml", *MODES[mode], tmp_path=tmp_path) as server:
        results: list[httpx.Response] = []
        request = threading.Thread(target=lambda: results.append(server.get("/?s=1.5")))
        request.start()
        time.sleep(0.5)  # the request is now being served
        started = time.monotonic()
        status = server.stop(sig, timeout=15)
        request.join(5)
        assert status == 0, server.output()
        assert results and results[0].status_code == 200 and results[0].text == "slept 1.5"
        assert time.monotonic() - started < 10


def test_serve_exits_non_zero_when_the_port_is_taken(tmp_path: Path) -> None:
    with serve(SITES / "graceful.toml", *MODES["waitress"], tmp_path=tmp_path) as first:
        import subprocess
        import sys

        taken = subprocess.run(
            [
                sys.executable,
                "-m",
                "appmux",
                "serve",
                str(SITES / "graceful.toml"),
                "--server",
                "waitress",
                "--bind",
                f"127.0.0.1:{first.port}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert taken.returncode != 0
        assert "Traceback" not in taken.stderr


def test_dev_server_reloads_when_the_config_changes(tmp_path: Path) -> None:
    config = tmp_path / "appmux.toml"
    (tmp_path / "dev_app_one.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'one']\n"
    )
    (tmp_path / "dev_app_two.py").write_text(
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'two']\n"
    )
    config.write_text('[mounts]\n"/" = "dev_app_one:application"\n')
    with serve(config, "--dev", tmp_path=tmp_path) as server:
        assert server.get("/").text == "one"
        time.sleep(1.1)  # the stat reloader compares modification times
        config.write_text('[mounts]\n"/" = "dev_app_two:application"\n')
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:
            try:
                text = server.get("/").text
            except httpx.TransportError:
                pass
            if text == "two":
                break
            time.sleep(0.2)
        assert text == "two", server.output()
        assert server.stop(signal.SIGTERM, timeout=10) == 0
