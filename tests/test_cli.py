"""``appmux check``, ``routes``, ``resolve``, and ``serve``'s refusals, good and broken."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from appmux.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO = str(EXAMPLES / "appmux.toml")

# The demo serves its tenants from a registry: a seeded one in a temp dir.
pytestmark = pytest.mark.usefixtures("demo_registry")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_on_the_demo() -> None:
    status, out, err = run("check", DEMO)
    assert status == 0, err
    assert "OK" in out


def test_routes_prints_a_table() -> None:
    status, out, _ = run("routes", DEMO)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["HOST", "PREFIX", "TARGET", "KIND", "OPTIONS"]
    assert any("/legacy" in line and "legacy_site.wsgi:application" in line for line in lines)
    assert any(
        "registry" in line and "max_instances=100" in line and "idle_timeout=900" in line
        for line in lines
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://localhost:8000/backend/users",
            ["backend_app:application", "'/backend'", "'/users'"],
        ),
        ("http://acme.localhost:8000/about", ["tenants:create_app('acme')", "tenant key:  'acme'"]),
        ("localhost/legacy/reports/3/", ["legacy_site.wsgi:application", "'/legacy'"]),
    ],
)
def test_resolve_names_app_environ_and_key(url: str, expected: list[str]) -> None:
    status, out, _ = run("resolve", url, DEMO)
    assert status == 0
    for needle in expected:
        assert needle in out


def test_resolve_of_a_malformed_host_reaches_no_app() -> None:
    status, out, _ = run("resolve", "http://evil..localhost/", DEMO)
    assert status == 1
    assert "400" in out


# (config text, the error line's message, whether finding it needs an import)
BROKEN = [
    (
        '[mounts]\n"/" = "no_such_mod_q:app"\n',
        "mounts.\"/\": 'no_such_mod_q:app' does not import",
        True,
    ),
    ('[mounts]\n"/" = "frontend_app:application"\n[bogus]\n', "bogus: unknown key", False),
    ('[mounts]\n"/x" = "a:b"\n"/x/" = "a:b"\n', 'mounts."/x/": overlaps mount', False),
    ("[mounts\n", "invalid TOML", False),
    ('[mounts]\n"/" = "myapplication:USERS"\n', "not a WSGI application", True),
]


@pytest.mark.parametrize(("text", "message", "needs_import"), BROKEN)
@pytest.mark.parametrize("command", ["check", "routes", "resolve", "serve"])
def test_broken_config_is_one_line_and_exit_2(
    tmp_path: Path, text: str, message: str, needs_import: bool, command: str
) -> None:
    config = tmp_path / "appmux.toml"
    config.write_text(text)
    args = (
        [command, "http://localhost/", str(config)]
        if command == "resolve"
        else [command, str(config)]
    )
    status, _, err = run(*args)
    if command in ("routes", "resolve") and needs_import:
        assert status == 0  # these read the file only; they import nothing
        return
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"Error: {config}")
    assert message in lines[0]


def test_check_reports_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "appmux.toml"
    config.write_text('[mounts]\n"/" = "nope_1:app"\n"/a" = "nope_2:app"\n')
    status, _, err = run("check", str(config))
    assert status == 2
    assert len(err.strip().splitlines()) == 2


def test_missing_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = run("check")
    assert status == 2
    assert "no appmux.toml" in err
    status, _, err = run("check", str(tmp_path / "missing.toml"))
    assert status == 2 and "no such file" in err


def test_finds_appmux_toml_in_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES)
    status, out, _ = run("check")
    assert status == 0 and "appmux.toml: OK" in out


def test_dev_refuses_a_non_loopback_bind() -> None:
    status, _, err = run("serve", DEMO, "--dev", "--bind", "0.0.0.0:5999")
    assert status == 2
    assert "debugger" in err and "--allow-remote-dev" in err


def test_bad_bind_is_a_usage_error() -> None:
    status, _, err = run("serve", DEMO, "--bind", "localhost")
    assert status == 2 and "HOST:PORT" in err


def test_every_command_has_help_with_examples() -> None:
    for command in ["serve", "routes", "check", "resolve"]:
        status, out, _ = run(command, "--help")
        assert status == 0 and "Example" in out


def test_console_entry_point_reports_config_errors_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "appmux.toml"
    config.write_text('[mounts]\n"/" = "no_such_mod_z:app"\n')
    env = {**os.environ, "PYTHONPATH": ""}
    out = subprocess.run(
        [sys.executable, "-m", "appmux", "check", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "No module named 'no_such_mod_z'" in out.stderr
