"""Make the runnable examples importable: the tests exercise them as users would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
