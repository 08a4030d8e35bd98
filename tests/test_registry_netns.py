"""Two machines on one PostgreSQL registry, over a real network.

The test makes two network namespaces, each joined to this one by a veth pair
(198.18.N.1 here, 198.18.N.2 there, from the benchmarking range 198.18.0.0/15),
runs ``appmux serve`` inside each, and PostgreSQL here, listening on both
links. A change made with the CLI reaches both machines; both keep serving
through a PostgreSQL restart and follow the registry again after it. The
namespaces (and with them the links) are removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from postgres import postgres_server
from servers import Server, serve
from test_registry_serve import SITE

from appmux import Registry

PORT = 8000


@dataclass
class Machine:
    """A network namespace joined to this one: ``here`` is our end, ``there`` its."""

    name: str
    here: str
    there: str

    @property
    def prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.name)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def make_machine(index: int) -> Machine:
    tag = f"{os.getpid() % 100000}{index}"
    machine = Machine(f"appmux-{tag}", f"198.18.{index}.1", f"198.18.{index}.2")
    outside, inside = f"amx{tag}a", f"amx{tag}b"
    ip("netns", "add", machine.name)
    ip("link", "add", outside, "type", "veth", "peer", "name", inside)
    ip("link", "set", inside, "netns", machine.name)
    ip("addr", "add", f"{machine.here}/24", "dev", outside)
    ip("link", "set", outside, "up")
    ip("-n", machine.name, "addr", "add", f"{machine.there}/24", "dev", inside)
    ip("-n", machine.name, "link", "set", inside, "up")
    ip("-n", machine.name, "link", "set", "lo", "up")
    return machine


@pytest.fixture
def machines() -> Iterator[list[Machine]]:
    """Two namespaces on veth links; removed (links included) whatever happens."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CI"):
            pytest.fail("the network namespace test needs root and iproute2 in CI")
        pytest.skip("needs root and iproute2 (.ci/run installs it)")
    made: list[Machine] = []
    try:
        for index in (1, 2):
            made.append(make_machine(index))
        yield made
    finally:
        for machine in made:
            subprocess.run(["ip", "netns", "del", machine.name], capture_output=True, timeout=20)


def theme(server: Server) -> str | None:
    """The theme acme shows on ``server`` (``None`` if it did not answer 200)."""
    try:
        answer = httpx.get(
            server.url + "/",
            headers={"Host": "acme.example.com", "Connection": "close"},
            timeout=5,
        )
    except httpx.TransportError:
        return None
    if answer.status_code != 200:
        return None
    return dict(part.split("=", 1) for part in answer.text.split())["theme"]


def every_worker_shows(server: Server, wanted: str, within: float) -> float:
    """Seconds until 20 answers in a row (every worker's) show ``wanted``."""
    started = time.monotonic()
    streak = 0
    while streak < 20:
        assert time.monotonic() - started < within, f"{server.url} did not show {wanted}"
        streak = streak + 1 if theme(server) == wanted else 0
    return time.monotonic() - started


def set_theme(url: str, value: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "appmux",
            "tenants",
            "set",
            "acme",
            f"theme={value}",
            "--registry",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def test_two_machines_follow_one_postgresql_registry_through_a_restart(
    machines: list[Machine], tmp_path: Path
) -> None:
    with postgres_server(listen=("127.0.0.1", *(m.here for m in machines))) as postgres:
        url = postgres.new_database()
        registry = Registry(url)
        registry.init()
        registry.add_tenant("acme", {"theme": "light"})
        registry.close()
        database = url.rsplit("/", 1)[1]
        first, second = machines
        with (
            serve(
                SITE,
                "--server",
                "gunicorn",
                "--workers",
                "2",
                tmp_path=tmp_path,
                address=first.there,
                port=PORT,
                prefix=first.prefix,
                env={"APPMUX_REGISTRY_URL": postgres.url(database, first.here)},
            ) as one,
            serve(
                SITE,
                "--server",
                "waitress",
                tmp_path=tmp_path,
                address=second.there,
                port=PORT,
                prefix=second.prefix,
                env={"APPMUX_REGISTRY_URL": postgres.url(database, second.here)},
            ) as two,
        ):
            for server in (one, two):
                every_worker_shows(server, "light", within=20)
            set_theme(url, "dark")
            for server in (one, two):
                every_worker_shows(server, "dark", within=3)  # LISTEN: well under a second

            postgres.stop()
            try:
                until = time.monotonic() + 2
                while time.monotonic() < until:
                    assert theme(one) == "dark" and theme(two) == "dark"
            finally:
                postgres.start()
            set_theme(url, "blue")
            for server in (one, two):
                every_worker_shows(server, "blue", within=15)  # reconnected and following
        assert "Traceback" not in one.output() + two.output()
