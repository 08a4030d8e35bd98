"""Make the runnable examples importable: the tests exercise them as users would."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
from postgres import PostgresServer, postgres_server  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


@pytest.fixture
def demo_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A seeded SQLite registry for the demo site, in a temp dir (via APPMUX_REGISTRY_URL)."""
    from seed_tenants import seed

    url = f"sqlite:///{tmp_path / 'demo-tenants.db'}"
    seed(url).close()
    monkeypatch.setenv("APPMUX_REGISTRY_URL", url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh registry on each store: SQLite, and a real PostgreSQL server."""
    from appmux import Registry

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/tenants.db"
    else:
        url = request.getfixturevalue("postgres").new_database()
    reg = Registry(url)
    reg.init()
    yield reg
    reg.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (Debian's server package; .ci/run installs it)."""
    with postgres_server() as server:
        yield server
