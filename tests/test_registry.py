"""The tenant registry on SQLite, in-process: the store, the rules, resolution, propagation."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wsgi_helpers import call, make_environ

from appmux import Registry, TenantDispatcher, TenantRecord
from appmux.registry import SCHEMA_VERSION, RegistryUnavailable, SchemaTooNew, Snapshot, mask_url


class RecordApp:
    """A tenant app that shows its record and counts its life."""

    def __init__(self, record: TenantRecord, serial: int) -> None:
        self.record = record
        self.serial = serial
        self.closed = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen: TenantRecord = environ["appmux.tenant"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        theme = self.record.config.get("theme", "-")
        where = f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}"
        body = f"{seen.key} #{self.serial} theme={theme} {where}"
        return [body.encode()]

    def close(self) -> None:
        self.closed.set()


class Factory:
    def __init__(self) -> None:
        self.made: list[RecordApp] = []

    def __call__(self, record: TenantRecord) -> RecordApp:
        app = RecordApp(record, len(self.made))
        self.made.append(app)
        return app

    def keys(self) -> list[str]:
        return [app.record.key for app in self.made]


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path}/tenants.db")
    reg.init()
    yield reg
    reg.close()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


# -- the store -------------------------------------------------------------------------


def test_urls_are_checked_at_once_and_nothing_connects(tmp_path: Path) -> None:
    for bad in ("mysql://x/y", "sqlite:/x.db", "tenants.db", "postgresql://u:p@h:99999/db"):
        with pytest.raises(ValueError):
            Registry(bad)
    Registry("postgresql://user:secret@127.0.0.1:1/nothing")  # unreachable: constructs
    Registry(f"sqlite:///{tmp_path}/missing/dir/x.db")
    assert mask_url("postgresql://user:secret@db:5432/t") == "postgresql://user:***@db:5432/t"


def test_relative_sqlite_url_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Registry("sqlite:///here.db").init()
    assert (tmp_path / "here.db").is_file()
    absolute = Registry(f"sqlite:///{tmp_path}/abs.db")
    absolute.init()
    assert (tmp_path / "abs.db").is_file()
    mode = sqlite3.connect(tmp_path / "here.db").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)


def test_init_is_idempotent_and_every_write_bumps_the_revision(registry: Registry) -> None:
    assert registry.init() == registry.init() == SCHEMA_VERSION == 2
    start = registry.revision()
    registry.add_tenant("acme", {"theme": "light"})
    registry.update_tenant("acme", config={"theme": "dark"})
    registry.reload_tenant("acme")
    registry.add_domain("shop.acme.com", "acme", primary=True)
    registry.remove_domain("shop.acme.com")
    registry.remove_tenant("acme")
    assert registry.revision() == start + 6


def test_tenant_records_round_trip(registry: Registry) -> None:
    added = registry.add_tenant("Acme", {"theme": "dark", "n": 1})
    assert added.key == "acme" and added.status == "active" and added.reason is None
    assert dict(added.config) == {"theme": "dark", "n": 1}
    with pytest.raises(TypeError):
        added.config["theme"] = "x"  # type: ignore[index]
    registry.add_domain("shop.acme.com", "acme", primary=True)
    registry.add_domain("old-acme.com", "acme", redirect=True)
    registry.add_domain("*.acme.com", "acme")
    record = registry.get_tenant("acme")
    assert record is not None
    assert record.domains == ("*.acme.com", "old-acme.com", "shop.acme.com")
    assert record.primary_host == "shop.acme.com"
    suspended = registry.update_tenant("acme", status="suspended", reason="unpaid bill")
    assert (suspended.status, suspended.reason) == ("suspended", "unpaid bill")
    assert suspended.rev > record.rev
    resumed = registry.update_tenant("acme", status="active")
    assert resumed.reason is None
    assert [t.key for t in registry.tenants()] == ["acme"]
    assert registry.get_tenant("nobody") is None


@pytest.mark.parametrize(
    ("call_", "message"),
    [
        (lambda r: r.add_tenant("acme"), "already exists"),
        (lambda r: r.add_tenant("ACME"), "already exists"),
        (lambda r: r.add_tenant("-acme"), "invalid tenant key"),
        (lambda r: r.add_tenant("a_b"), "invalid tenant key"),
        (lambda r: r.add_tenant("a" * 64), "invalid tenant key"),
        (lambda r: r.add_tenant("x", [1, 2]), "JSON object"),
        (lambda r: r.add_tenant("x", "{nope"), "not valid JSON"),
        (lambda r: r.add_tenant("x", {"k": "v" * 70_000}), "64 KiB"),
        (lambda r: r.add_tenant("x", status="gone"), "invalid status"),
        (lambda r: r.update_tenant("nobody", status="active"), "no tenant"),
        (lambda r: r.add_domain("bad..host", "acme"), "invalid host"),
        (lambda r: r.add_domain("shop.acme.com:80", "acme"), "no port"),
        (lambda r: r.add_domain("shop.acme.com", "globex"), "belongs to tenant 'acme'"),
        (lambda r: r.add_domain("SHOP.acme.com.", "globex"), "belongs to tenant 'acme'"),
        (lambda r: r.add_domain("acme2.com", "acme", primary=True), "already has the primary"),
        (lambda r: r.add_domain("*.x.com", "acme", primary=True), "wildcard"),
        (lambda r: r.add_domain("x.com", "nobody"), "no tenant"),
        (lambda r: r.remove_domain("nowhere.com"), "no tenant has"),
        (lambda r: r.set_primary("old.acme.com"), "redirects"),
    ],
)
def test_registry_refuses_bad_input_with_the_reason(
    registry: Registry, call_: Any, message: str
) -> None:
    registry.add_tenant("acme")
    registry.add_tenant("globex")
    registry.add_domain("shop.acme.com", "acme", primary=True)
    registry.add_domain("old.acme.com", "acme", redirect=True)
    revision = registry.revision()
    with pytest.raises(ValueError, match=message):
        call_(registry)
    assert registry.revision() == revision  # nothing was written


def test_one_primary_per_tenant_is_enforced_by_the_database(sqlite_registry: Registry) -> None:
    registry = sqlite_registry
    registry.add_tenant("acme")
    registry.add_domain("a.com", "acme", primary=True)
    registry.add_domain("b.com", "acme")
    db = sqlite3.connect(registry.url.partition(":///")[2], isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE appmux_domains SET is_primary = 1 WHERE host = 'b.com'")
    db.close()
    registry.set_primary("b.com")
    record = registry.get_tenant("acme")
    assert record is not None and record.primary_host == "b.com"


def test_newer_schema_is_refused_naming_both_versions(sqlite_registry: Registry) -> None:
    registry = sqlite_registry
    db = sqlite3.connect(registry.url.partition(":///")[2])
    db.execute("UPDATE appmux_meta SET schema_version = 99")
    db.commit()
    for action in (registry.init, registry.snapshot, lambda: registry.add_tenant("x")):
        with pytest.raises(SchemaTooNew, match=r"version 99.*version 2"):
            action()
    dispatcher = TenantDispatcher(registry, Factory(), base_domains=["example.com"])
    with pytest.raises(SchemaTooNew):  # read when it starts, not when it is made
        dispatcher.start()


# -- resolution (pure) -------------------------------------------------------------------


def test_snapshot_resolution_order() -> None:
    from appmux.registry import DomainRow

    snapshot = Snapshot(
        1,
        [TenantRecord("acme"), TenantRecord("globex")],
        [
            DomainRow("*.acme.com", "acme"),
            DomainRow("special.acme.com", "globex"),
            DomainRow("acme.com", "acme", primary=True),
            DomainRow("old-acme.com", "acme", redirect=True),
        ],
    )
    base = ("example.com",)
    resolve = snapshot.resolve
    assert resolve("shop.acme.com", base).key == "acme"  # type: ignore[union-attr]
    assert resolve("special.acme.com", base).key == "globex"  # type: ignore[union-attr]
    assert resolve("a.b.acme.com", base) is None  # one label only
    assert resolve("acme.example.com", base).key == "acme"  # type: ignore[union-attr]
    unknown = resolve("nobody.example.com", base)
    assert unknown is not None and unknown.record is None
    assert resolve("a.b.example.com", base) is None
    assert resolve("example.com", base) is None
    assert resolve("evilexample.com", base) is None
    moved = resolve("old-acme.com", base)
    assert moved is not None and moved.redirect_to == "acme.com"


# -- the dispatcher ---------------------------------------------------------------------


@pytest.fixture
def site(registry: Registry) -> tuple[Registry, TenantDispatcher, Factory]:
    registry.add_tenant("acme", {"theme": "light"})
    registry.add_tenant("globex")
    factory = Factory()
    dispatcher = TenantDispatcher(
        registry, factory, base_domains=["example.com"], refresh_interval=0.1
    )
    yield registry, dispatcher, factory
    dispatcher.close()


def test_tenant_by_subdomain_and_custom_domain_share_one_instance(site: Any) -> None:
    registry, dispatcher, factory = site
    registry.add_domain("shop.acme.com", "acme", primary=True)
    registry.add_domain("*.acme.net", "acme")
    dispatcher.refresher.check()
    for host in ("acme.example.com", "shop.acme.com", "SHOP.acme.com.:8000", "x.acme.net"):
        response = call(dispatcher, "/a/b", host=host, script_name="/s")
        assert response.status == 200
        assert response.text == "acme #0 theme=light /s|/a/b"
    assert factory.keys() == ["acme"]
    assert dispatcher.keys() == ["acme"]


def test_statuses_unknown_and_hostile_hosts(site: Any) -> None:
    registry, dispatcher, factory = site
    registry.add_tenant("initech", status="suspended")
    registry.add_tenant("hooli", status="archived")
    dispatcher.refresher.check()
    suspended = call(dispatcher, host="initech.example.com")
    assert suspended.status == 403 and "suspended" in suspended.text
    assert "initech" not in suspended.text and "Traceback" not in suspended.text
    assert call(dispatcher, host="hooli.example.com").status == 410
    assert call(dispatcher, host="nobody.example.com").status == 404
    for hostile in ("evil..example.com", "a.b.example.com", "example.com", "attacker.net", "[::1"):
        assert call(dispatcher, host=hostile).status == 400, hostile
    assert factory.made == []
    assert registry.statements > 0


def test_redirect_domain_answers_308_to_the_primary_host_keeping_path_and_query(site: Any) -> None:
    registry, dispatcher, _ = site
    registry.add_domain("acme.com", "acme", primary=True)
    registry.add_domain("old-acme.com", "acme", redirect=True)
    dispatcher.refresher.check()
    response = call(
        dispatcher, "/a b/c", host="old-acme.com:8000", QUERY_STRING="x=1&y=%20", script_name="/s"
    )
    assert response.status == 308
    assert response.headers["Location"] == "http://acme.com:8000/s/a%20b/c?x=1&y=%20"


def test_unknown_tenant_app_and_suspended_status_options(registry: Registry) -> None:
    registry.add_tenant("initech", status="suspended")

    def signup(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"sign up"]

    dispatcher = TenantDispatcher(
        registry,
        Factory(),
        base_domains=["example.com"],
        unknown_tenant_app=signup,
        suspended_status=402,
    )
    assert call(dispatcher, host="new.example.com").text == "sign up"
    assert call(dispatcher, host="initech.example.com").status == 402
    dispatcher.close()


def test_no_query_per_request_whatever_the_flood(site: Any) -> None:
    registry, dispatcher, _ = site
    dispatcher.start()  # the registry is read when the dispatcher starts, never per request
    dispatcher.refresher.stop()
    before = registry.statements
    for i in range(500):
        call(dispatcher, host="acme.example.com")
        call(dispatcher, host=f"unknown{i}.example.com")
        call(dispatcher, host=f"bad..{i}.example.com")
    assert registry.statements == before


def test_changes_propagate_and_retire_only_what_changed(site: Any) -> None:
    registry, dispatcher, factory = site
    assert call(dispatcher, host="acme.example.com").text.startswith("acme #0 theme=light")
    assert call(dispatcher, host="globex.example.com").status == 200
    registry.update_tenant("acme", config={"theme": "dark"})
    assert wait_for(lambda: "theme=dark" in call(dispatcher, host="acme.example.com").text)
    assert factory.made[0].closed.is_set()
    assert not factory.made[1].closed.is_set()  # globex did not change
    # A domain-only change recreates nothing.
    registry.add_domain("shop.acme.com", "acme")
    assert wait_for(lambda: call(dispatcher, host="shop.acme.com").status == 200)
    assert factory.keys() == ["acme", "globex", "acme"]
    # reload: same config, new instance.
    registry.reload_tenant("globex")
    assert wait_for(lambda: "globex #3" in call(dispatcher, host="globex.example.com").text)
    # A tenant added a moment ago is served (its 404 is not remembered).
    assert call(dispatcher, host="initech.example.com").status == 404
    registry.add_tenant("initech")
    assert wait_for(lambda: call(dispatcher, host="initech.example.com").status == 200)
    # Suspend and remove retire the instance.
    registry.update_tenant("initech", status="suspended")
    assert wait_for(lambda: call(dispatcher, host="initech.example.com").status == 403)
    assert factory.made[-1].closed.is_set()
    registry.remove_tenant("globex")
    assert wait_for(lambda: call(dispatcher, host="globex.example.com").status == 404)
    assert factory.made[3].closed.is_set()


def test_retired_instance_closes_after_its_in_flight_request(site: Any) -> None:
    registry, dispatcher, factory = site
    environ = make_environ(host="acme.example.com")
    body = dispatcher(environ, lambda status, headers, exc_info=None: None)
    registry.update_tenant("acme", config={"theme": "dark"})
    assert wait_for(lambda: "theme=dark" in call(dispatcher, host="acme.example.com").text)
    assert not factory.made[0].closed.is_set()  # its request is still open
    list(body)
    body.close()  # type: ignore[attr-defined]
    assert factory.made[0].closed.is_set()


def test_unreachable_registry_at_start_answers_503_then_serves(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    registry = Registry(f"sqlite:///{folder}/tenants.db")
    dispatcher = TenantDispatcher(
        registry, Factory(), base_domains=["example.com"], refresh_interval=0.1
    )
    response = call(dispatcher, host="acme.example.com")
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    folder.mkdir()
    writer = Registry(f"sqlite:///{folder}/tenants.db")
    writer.init()
    writer.add_tenant("acme")
    assert wait_for(lambda: call(dispatcher, host="acme.example.com").status == 200)
    dispatcher.close()


def test_outage_is_logged_once_and_recovery_once(
    sqlite_registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = sqlite_registry
    registry.add_tenant("acme")
    dispatcher = TenantDispatcher(
        registry, Factory(), base_domains=["example.com"], refresh_interval=0.1
    )
    assert call(dispatcher, host="acme.example.com").status == 200
    path = Path(registry.url.partition(":///")[2])
    caplog.set_level(logging.INFO, logger="appmux")
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    registry.close()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            Path(f"{path}{suffix}").rename(hidden / f"db{suffix}")
    assert wait_for(lambda: dispatcher.refresher.errors >= 5)
    assert call(dispatcher, host="acme.example.com").status == 200  # last snapshot
    for suffix in ("", "-wal", "-shm"):
        if (hidden / f"db{suffix}").exists():
            (hidden / f"db{suffix}").rename(f"{path}{suffix}")
    registry.close()
    assert wait_for(lambda: dispatcher.refresher.outage is None)
    messages = [
        (r.levelname, r.getMessage()) for r in caplog.records if "registry" in r.getMessage()
    ]
    assert [level for level, _ in messages] == ["WARNING", "INFO"], messages


def test_refresher_starts_on_first_request_not_at_construction(registry: Registry) -> None:
    registry.add_tenant("acme")
    dispatcher = TenantDispatcher(registry, Factory(), base_domains=["example.com"])
    assert dispatcher.snapshot is None and not dispatcher.refresher.running  # no I/O yet
    statements = registry.statements
    call(dispatcher, host="acme.example.com")
    assert dispatcher.snapshot is not None and registry.statements > statements
    assert dispatcher.refresher.running
    dispatcher.close()
    assert not dispatcher.refresher.running


def test_unavailable_errors_are_one_line(tmp_path: Path) -> None:
    registry = Registry(f"sqlite:///{tmp_path}/nope/x.db")
    with pytest.raises(RegistryUnavailable) as info:
        registry.revision()
    assert "\n" not in str(info.value)
    fresh = Registry(f"sqlite:///{tmp_path}/fresh.db")
    with pytest.raises(RegistryUnavailable, match="registry init"):
        fresh.add_tenant("acme")
