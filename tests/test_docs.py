"""The documentation tells the truth: every tutorial block runs, every config key is documented.

The tutorial's ``python`` blocks run in order in one namespace (a block whose
first line is ``# file: NAME`` is written to that file instead), its ``toml``
blocks are written to the file their first line names, and each line of its
``sh`` blocks runs as a command; all in a fresh folder, as a reader would.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from appmux.observe.exporter import describe_metrics
from appmux.serve.reference import TABLES, undocumented

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[tuple[str, str]]:
    return [
        (lang, body)
        for lang, body in FENCE.findall(page.read_text())
        if lang in ("python", "toml", "sh")
    ]


def test_every_tutorial_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, object] = {"__name__": "tutorial"}
    found = blocks(DOCS / "tutorial.md")
    assert len(found) >= 12
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for lang, body in found:
        first = body.splitlines()[0]
        if first.startswith("# file: "):
            (tmp_path / first.removeprefix("# file: ").strip()).write_text(body)
            continue
        if lang == "python":
            exec(compile(body, "docs/tutorial.md", "exec"), namespace)
        elif lang == "sh":
            for line in body.splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                done = subprocess.run(
                    shlex.split(line.partition("  #")[0]),
                    capture_output=True,
                    text=True,
                    cwd=tmp_path,
                    env=env,
                    timeout=60,
                )
                assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        else:
            pytest.fail(f"a toml block must name its file: {first!r}")


def test_every_config_key_the_parser_takes_is_documented() -> None:
    assert undocumented() == []
    names = [table.title for table in TABLES]
    assert "[registry]" in names and "[tenants]" in names and "node table" in names


def test_every_metric_is_described() -> None:
    described = {name for name, *_ in describe_metrics()}
    assert "appmux_tenant_rejections_total" in described
    assert "appmux_requests_total" in described and len(described) >= 15
