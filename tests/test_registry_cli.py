"""``appmux registry``, ``tenants`` and ``domains``: every command, and its errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from appmux.cli import cli


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("APPMUX_REGISTRY_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path / 'tenants.db'}"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str) -> str:
    status, out, err = run(*args)
    assert status == 0, err
    return out


def fails(*args: str, message: str) -> None:
    status, _, err = run(*args)
    assert status == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], err


def test_every_command_on_a_fresh_registry(url: str) -> None:
    r = ("--registry", url)
    assert "schema version 2" in ok("registry", "init", *r)
    assert "schema version 2" in ok("registry", "init", *r)  # idempotent
    ok("tenants", "add", "acme", "--set", "theme=dark", "--set", "seats=5", *r)
    ok("tenants", "add", "globex", "--config", '{"plan": "pro"}', "--suspended", *r)
    ok("tenants", "add", "hooli", *r)
    listed = json.loads(ok("tenants", "list", "--json", *r))
    assert [(t["key"], t["status"]) for t in listed] == [
        ("acme", "active"),
        ("globex", "suspended"),
        ("hooli", "active"),
    ]
    assert listed[0]["config"] == {"seats": 5, "theme": "dark"}
    assert [
        t["key"] for t in json.loads(ok("tenants", "list", "--status", "active", "--json", *r))
    ] == [
        "acme",
        "hooli",
    ]
    assert "globex" in ok("tenants", "list", *r)
    ok("tenants", "set", "acme", "plan=pro", "--unset", "seats", *r)
    shown = json.loads(ok("tenants", "show", "acme", "--json", *r))
    assert shown["config"] == {"plan": "pro", "theme": "dark"}
    assert "plan" in ok("tenants", "show", "acme", *r)
    ok("tenants", "suspend", "acme", "--reason", "unpaid bill", *r)
    shown = json.loads(ok("tenants", "show", "acme", "--json", *r))
    assert (shown["status"], shown["reason"]) == ("suspended", "unpaid bill")
    ok("tenants", "resume", "acme", *r)
    ok("tenants", "archive", "hooli", *r)
    rev = json.loads(ok("tenants", "show", "acme", "--json", *r))["rev"]
    ok("tenants", "reload", "acme", *r)
    assert json.loads(ok("tenants", "show", "acme", "--json", *r))["rev"] > rev

    ok("domains", "add", "shop.acme.com", "--tenant", "acme", "--primary", *r)
    ok("domains", "add", "old-acme.com", "--tenant", "acme", "--redirect", *r)
    ok("domains", "add", "acme.net", "--tenant", "acme", *r)
    ok("domains", "add", "*.globex.com", "--tenant", "globex", *r)
    domains = json.loads(ok("domains", "list", "--tenant", "acme", "--json", *r))
    assert [(d["host"], d["primary"], d["redirect"]) for d in domains] == [
        ("acme.net", False, False),
        ("old-acme.com", False, True),
        ("shop.acme.com", True, False),
    ]
    ok("domains", "set-primary", "acme.net", *r)
    assert json.loads(ok("tenants", "show", "acme", "--json", *r))["primary_host"] == "acme.net"
    assert "*.globex.com" in ok("domains", "list", *r)
    ok("domains", "remove", "acme.net", "--yes", *r)
    ok("tenants", "remove", "globex", "--yes", *r)
    status = json.loads(ok("registry", "status", "--json", *r))
    assert status["tenants"] == {"active": 1, "suspended": 0, "archived": 1}
    assert status["domains"] == 2 and status["schema_version"] == 2
    assert status["revision"] > 10
    log = status["change_log"]  # every write logged, nothing pruned yet
    assert log["oldest"] == 2 and log["floor"] == 0 and log["rows"] >= status["revision"] - 1
    text = ok("registry", "status", *r)
    assert "revision:" in text and f"change log:     {log['rows']} rows, oldest revision 2" in text


def test_input_rules_are_one_line_errors_with_exit_status_1(url: str) -> None:
    r = ("--registry", url)
    ok("registry", "init", *r)
    ok("tenants", "add", "acme", *r)
    ok("tenants", "add", "globex", *r)
    ok("domains", "add", "shop.acme.com", "--tenant", "acme", "--primary", *r)
    fails("tenants", "add", "ACME", *r, message="already exists")
    fails("tenants", "add", "bad-", *r, message="invalid tenant key")
    fails("tenants", "add", "a.b", *r, message="invalid tenant key")
    fails("tenants", "add", "www", *r, message="reserved")
    fails("tenants", "add", "x", "--config", "[1]", *r, message="JSON object")
    fails("tenants", "add", "x", "--config", "{", *r, message="not valid JSON")
    fails("tenants", "add", "x", "--config", json.dumps({"k": "v" * 70_000}), *r, message="64 KiB")
    fails("tenants", "set", "acme", "novalue", *r, message="not KEY=VALUE")
    fails("tenants", "set", "acme", "--unset", "nothing", *r, message="no config key")
    fails("tenants", "show", "nobody", *r, message="no tenant 'nobody'")
    fails("tenants", "suspend", "nobody", *r, message="no tenant")
    fails("tenants", "remove", "acme", *r, message="needs --yes")
    fails("domains", "add", "shop.acme.com", "--tenant", "globex", *r, message="tenant 'acme'")
    fails("domains", "add", "bad..host", "--tenant", "acme", *r, message="invalid host")
    fails("domains", "add", "x.com", "--tenant", "acme", "--primary", *r, message="already has")
    fails("domains", "set-primary", "nowhere.com", *r, message="no tenant has")
    fails("domains", "remove", "shop.acme.com", *r, message="needs --yes")
    status, _, err = run("tenants", "list", "--registry", "mysql://x")
    assert status == 1 and "unsupported registry URL" in err


def test_config_file_gives_the_registry_reserved_keys_and_base_domains(
    url: str, tmp_path: Path
) -> None:
    (tmp_path / "appmux.toml").write_text(
        '[registry]\nurl = "sqlite:///tenants.db"\nreserved = ["admin"]\n'
        '[tenants]\nby = "registry"\nfactory = "tenants:create_app"\n'
        'base_domains = ["example.com"]\n'
    )
    ok("registry", "init")  # found as `appmux serve` finds it: ./appmux.toml
    assert (tmp_path / "tenants.db").is_file()
    fails("tenants", "add", "admin", message="reserved")
    ok("tenants", "add", "www")  # the config's list replaces the default
    fails("domains", "add", "shop.example.com", "--tenant", "www", message="base domain")
    fails("domains", "add", "*.example.com", "--tenant", "www", message="base domain")
    ok("domains", "add", "example.org", "--tenant", "www")
    other = tmp_path / "elsewhere.db"
    ok("registry", "init", "--registry", f"sqlite:///{other}")  # --registry wins
    assert other.is_file()


def test_environment_variable_names_the_registry(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPMUX_REGISTRY_URL", url)
    ok("registry", "init")
    ok("tenants", "add", "acme")
    assert "acme" in ok("tenants", "list")


def test_no_registry_anywhere_is_one_line(url: str) -> None:
    fails("tenants", "list", message="no registry")


def test_uninitialized_and_unreachable_registries_are_one_line(url: str) -> None:
    fails("tenants", "list", "--registry", url, message="registry init")
    fails(
        "registry",
        "status",
        "--registry",
        "postgresql://app:secret@127.0.0.1:1/none",
        message="postgresql://app:***@127.0.0.1:1/none",
    )
    _, _, err = run("registry", "status", "--registry", "postgresql://app:secret@127.0.0.1:1/x")
    assert "secret" not in err


def test_newer_schema_refuses_with_both_versions(url: str, tmp_path: Path) -> None:
    ok("registry", "init", "--registry", url)
    db = sqlite3.connect(tmp_path / "tenants.db")
    db.execute("UPDATE appmux_meta SET schema_version = 7")
    db.commit()
    db.close()
    fails("tenants", "list", "--registry", url, message="version 7")
    fails("registry", "init", "--registry", url, message="(version 2)")
