"""The documentation tells the truth: every tutorial block runs, every config key is documented.

The tutorial's ``python`` blocks run in order in one namespace (a block whose
first line is ``# file: NAME`` is written to that file instead), its ``toml``
blocks are written to the file their first line names, and each line of its
``sh`` blocks runs as a command; all in a fresh folder, as a reader would. A
line ending in ``&`` starts a server in the background (the next line waits
for its ``--bind`` address); ``kill %1`` stops it with SIGTERM.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
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
    background: list[subprocess.Popen[str]] = []
    try:
        for lang, body in found:
            first = body.splitlines()[0]
            if first.startswith("# file: "):
                (tmp_path / first.removeprefix("# file: ").strip()).write_text(body)
                continue
            if lang == "python":
                exec(compile(body, "docs/tutorial.md", "exec"), namespace)
            elif lang == "sh":
                for line in body.splitlines():
                    run_line(line, tmp_path, env, background)
            else:
                pytest.fail(f"a toml block must name its file: {first!r}")
        assert background == [], "a server the tutorial started was never stopped"
    finally:
        for server in background:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def run_line(
    line: str, folder: Path, env: dict[str, str], background: list[subprocess.Popen[str]]
) -> None:
    """One shell line of the tutorial, as a reader would type it."""
    command = line.partition("  #")[0].strip()
    if not command or command.startswith("#"):
        return
    if command == "kill %1":
        server = background.pop()
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0, "the server did not stop cleanly"
        return
    if command.endswith("&"):
        words = shlex.split(command[:-1])
        server = subprocess.Popen(
            words,
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its workers too can be stopped as one group
        )
        background.append(server)
        host, _, port = words[words.index("--bind") + 1].rpartition(":")
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"{command} exited"
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"{command} did not start"
                time.sleep(0.1)
    done = subprocess.run(
        shlex.split(command), capture_output=True, text=True, cwd=folder, env=env, timeout=60
    )
    assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"


def test_every_config_key_the_parser_takes_is_documented() -> None:
    assert undocumented() == []
    names = [table.title for table in TABLES]
    assert "[registry]" in names and "[tenants]" in names and "node table" in names


def test_every_metric_is_described() -> None:
    described = {name for name, *_ in describe_metrics()}
    assert "appmux_tenant_rejections_total" in described
    assert "appmux_requests_total" in described and len(described) >= 15
