"""The hostile-input table, in-process and under ``python -O``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_cases import HOST_CASES, PATH_CASES, host_mismatches, path_mismatches

TESTS = Path(__file__).parent


def test_every_host_case_gets_its_status_and_key() -> None:
    assert host_mismatches() == []
    assert len(HOST_CASES) > 30


def test_every_path_case_gets_its_app_and_environ() -> None:
    assert path_mismatches() == []
    assert len(PATH_CASES) > 15


@pytest.mark.parametrize("flag", ["-O", "-OO"])
def test_table_holds_under_python_optimize(flag: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    out = subprocess.run(
        [sys.executable, flag, str(TESTS / "hostile_cases.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["optimize"] >= 1
    assert report["problems"] == []
