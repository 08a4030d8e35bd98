"""A short soak of each real server (the full one: ``make soak``, see RELIABILITY.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "soak"))
from soak_suite import soak


@pytest.mark.timeout(180)
@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_short_soak_holds_every_check(server: str, tmp_path: Path) -> None:
    figures = soak(server, seconds=10, threads=6, workdir=tmp_path)
    print(json.dumps(figures, indent=1, default=str))
    assert figures["problems"] == []
    assert figures["requests"] > 300
    assert figures["instances_created"] > 0 and figures["instances_closed"] > 0
    assert figures["injected_factory_failures"] > 0
    assert figures["exit_status"] == 0
