"""A real PostgreSQL server for the tests: Debian's initdb and pg_ctl, in a temp dir.

It listens on 127.0.0.1 on a free port, with trust authentication, and is
stopped at the end of the session. When the tests run as root, the server runs
as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from servers import free_port

PASSWORD = "s3cret-pw"  # trust auth ignores it; the URLs carry it to test masking


def bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has initdb and pg_ctl."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """One throw-away cluster; ``url(db)`` names a database on it."""

    def __init__(self, bin_path: Path, listen: tuple[str, ...] = ("127.0.0.1",)) -> None:
        """``listen``: the addresses to accept connections on (trusted, as loopback is)."""
        self.bin = bin_path
        self.listen = listen
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="appmux-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._names = itertools.count()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.data / "pg_hba.conf").open("a") as hba:
            for address in listen:
                if address != "127.0.0.1":
                    hba.write(f"host all all {address.rpartition('.')[0]}.0/24 trust\n")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self.root)

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections."""
        addresses = ",".join(self.listen)
        options = f"-p {self.port} -k {self.root} -c listen_addresses={addresses} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server at once (connections are cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres", address: str = "127.0.0.1") -> str:
        return f"postgresql://postgres:{PASSWORD}@{address}:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        name = f"appmux_test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server(listen: tuple[str, ...] = ("127.0.0.1",)) -> Iterator[PostgresServer]:
    """A throw-away :class:`PostgresServer`, destroyed on exit.

    Without Debian's server package the test fails in CI (``.ci/run`` installs
    it) and is skipped elsewhere.
    """
    path = bin_dir()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server package is required in CI")
        pytest.skip("Debian's postgresql is not installed (.ci/run installs it)")
    server = PostgresServer(path, listen)
    try:
        yield server
    finally:
        server.destroy()
