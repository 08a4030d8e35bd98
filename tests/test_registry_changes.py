"""The registry's change log and incremental refresh, on SQLite and a real PostgreSQL.

A process applies the changes after its revision to its snapshot; the result
must equal a whole read at every step, and a whole read happens only for the
reasons the refresher names.
"""

from __future__ import annotations

import logging
import random
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from appmux import Registry, TenantDispatcher, TenantRecord
from appmux.registry import Snapshot
from appmux.registry.refresher import Refresher
from appmux.registry.shards import ShardedMap
from appmux.registry.snapshot import changed_keys


def same(a: Snapshot, b: Snapshot) -> None:
    """Two snapshots hold the same tenants (records equal) and domains."""
    assert a.revision == b.revision
    assert dict(a.tenants) == dict(b.tenants)
    assert dict(a.domains) == dict(b.domains)


class Following:
    """A refresher installing into a list, as a dispatcher would."""

    def __init__(self, registry: Registry, **options: Any) -> None:
        self.installed: list[Snapshot] = []
        self.refresher = Refresher(registry, self.installed.append, 1.0, **options)

    @property
    def current(self) -> Snapshot:
        return self.installed[-1]


def random_write(registry: Registry, rng: random.Random, serial: int) -> None:
    """One write of any kind the registry offers, on a small set of names."""
    keys = [f"t{i}" for i in range(6)]
    hosts = [f"d{i}.example.org" for i in range(8)] + ["*.wild.example.org"]
    action = rng.randrange(9)
    key, host = rng.choice(keys), rng.choice(hosts)
    try:
        if action == 0:
            registry.add_tenant(key, {"n": serial})
        elif action == 1:
            registry.update_tenant(key, config={"n": serial})
        elif action == 2:
            registry.update_tenant(key, status=rng.choice(["active", "suspended", "archived"]))
        elif action == 3:
            registry.remove_tenant(key)
        elif action == 4:
            registry.reload_tenant(key)
        elif action in (5, 6):
            registry.add_domain(
                host,
                key,
                primary=rng.random() < 0.3 and not host.startswith("*"),
                redirect=rng.random() < 0.3,
            )
        elif action == 7:
            registry.remove_domain(host)
        else:
            registry.set_primary(host)
    except ValueError:
        pass  # refused (taken, missing, a rule): a write that does not happen


def test_every_write_is_logged_and_applying_the_log_equals_a_whole_read(
    registry: Registry,
) -> None:
    follow = Following(registry)
    follow.refresher.load_now()
    rng = random.Random(15)
    for serial in range(150):
        random_write(registry, rng, serial)
        if rng.random() < 0.4:  # sometimes several writes land in one check
            continue
        follow.refresher.check()
        same(follow.current, registry.snapshot())
    follow.refresher.check()
    same(follow.current, registry.snapshot())
    assert follow.refresher.full_reads == 1  # the first load only
    assert follow.refresher.applied > 25


def test_a_change_reads_only_what_it_touched(registry: Registry) -> None:
    for i in range(300):
        registry.add_tenant(f"t{i}", {"plan": "free"})
    follow = Following(registry)
    follow.refresher.load_now()
    before = follow.current
    registry.update_tenant("t7", config={"plan": "pro"})
    registry.add_domain("shop.t8.com", "t8")
    changes = registry.changes_since(before.revision, 1000)
    assert not isinstance(changes, str)
    assert set(changes.tenants) == {"t7"} and set(changes.domains) == {"shop.t8.com"}
    follow.refresher.check()
    after = follow.current
    assert after.previous == before.revision
    # Everything unchanged is shared, not copied.
    assert after.tenants["t100"] is before.tenants["t100"]
    assert after.tenants["t8"].domains == ("shop.t8.com",)
    # Only t7's app is stale; t8 gained a domain, which retires nothing.
    assert changed_keys(before, after) == ["t7"]


def test_removals_are_rows_in_the_log(registry: Registry) -> None:
    registry.add_tenant("acme")
    registry.add_domain("acme.com", "acme", primary=True)
    registry.add_domain("old-acme.com", "acme", redirect=True)
    follow = Following(registry)
    follow.refresher.load_now()
    assert follow.current.resolve("old-acme.com", ()).redirect_to == "acme.com"  # type: ignore[union-attr]
    registry.remove_tenant("acme")
    follow.refresher.check()
    assert follow.refresher.full_reads == 1
    assert "acme" not in follow.current.tenants
    assert follow.current.resolve("acme.com", ()) is None
    assert len(follow.current.domains) == 0
    assert changed_keys(follow.installed[-2], follow.current) == ["acme"]


def test_whole_reads_happen_for_their_reasons_only(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appmux")
    registry.add_tenant("acme")
    follow = Following(registry, max_delta=3)
    follow.refresher.load_now()
    assert follow.refresher.last_full_read == "first load"
    for i in range(4):  # more than max_delta pending
        registry.add_tenant(f"n{i}")
    follow.refresher.check()
    assert follow.refresher.full_reads == 2
    assert "more than 3 changes pending" in (follow.refresher.last_full_read or "")
    registry.add_tenant("small")  # within max_delta: applied
    follow.refresher.check()
    assert follow.refresher.full_reads == 2
    same(follow.current, registry.snapshot())
    reasons = [r.getMessage() for r in caplog.records if "read whole" in r.getMessage()]
    assert len(reasons) == 2 and "first load" in reasons[0] and "max_delta" in reasons[1]


def test_a_pruned_log_forces_a_whole_read(registry: Registry) -> None:
    registry.add_tenant("acme")
    follow = Following(registry)
    follow.refresher.load_now()
    pruner = Registry(registry.url, log_retention=0.001)
    try:
        time.sleep(0.01)
        pruner.add_tenant("globex")  # prunes every older row, its own included next time
        time.sleep(0.01)
        pruner.add_tenant("initech")
        status = pruner.log_status()
        assert status["floor"] >= follow.current.revision + 1
        assert status["rows"] <= 1
    finally:
        pruner.close()
    follow.refresher.check()
    assert "no longer reaches back" in (follow.refresher.last_full_read or "")
    same(follow.current, registry.snapshot())


def test_the_default_retention_keeps_the_log(registry: Registry) -> None:
    for i in range(5):
        registry.add_tenant(f"t{i}")
    status = registry.log_status()
    assert status == {"rows": 5, "oldest": 2, "floor": 0}


def test_a_database_behind_the_process_forces_a_whole_read(tmp_path: Path) -> None:
    """A restored backup: the database's revision is older than the process's."""
    path = tmp_path / "tenants.db"
    registry = Registry(f"sqlite:///{path}")
    registry.init()
    registry.add_tenant("acme")
    registry.close()
    shutil.copy(path, tmp_path / "backup.db")
    registry.add_tenant("globex")
    registry.add_tenant("initech")
    follow = Following(registry)
    follow.refresher.load_now()
    assert set(follow.current.tenants) == {"acme", "globex", "initech"}
    registry.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", path)
    follow.refresher.check()
    assert "behind this process's" in (follow.refresher.last_full_read or "")
    assert set(follow.current.tenants) == {"acme"}
    registry.close()


def test_periodic_resync_rereads_whole_with_jitter(registry: Registry) -> None:
    registry.add_tenant("acme")
    follow = Following(registry, resync_interval=0.2)
    follow.refresher.load_now()
    time.sleep(0.3)  # past 1.2 x the interval
    follow.refresher.check()
    assert follow.refresher.full_reads == 2
    assert "periodic resync" in (follow.refresher.last_full_read or "")
    follow.refresher.check()  # just re-read: not again at once
    assert follow.refresher.full_reads == 2


def test_an_old_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE appmux_meta (id INTEGER PRIMARY KEY CHECK (id = 1),
            schema_version INTEGER NOT NULL, revision BIGINT NOT NULL);
        CREATE TABLE appmux_tenants (key TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT,
            config TEXT NOT NULL, rev BIGINT NOT NULL);
        CREATE TABLE appmux_domains (host TEXT PRIMARY KEY, tenant TEXT NOT NULL
            REFERENCES appmux_tenants (key) ON DELETE CASCADE, is_primary BOOLEAN NOT NULL,
            redirect BOOLEAN NOT NULL);
        INSERT INTO appmux_meta VALUES (1, 1, 7);
        INSERT INTO appmux_tenants VALUES ('acme', 'active', NULL, '{"theme":"dark"}', 3);
        INSERT INTO appmux_domains VALUES ('acme.com', 'acme', 1, 0);
        """
    )
    db.commit()
    db.close()
    registry = Registry(f"sqlite:///{path}")
    with pytest.raises(Exception, match="run `appmux registry init` to upgrade"):
        registry.add_tenant("globex")
    assert registry.init() == 2
    assert registry.init() == 2  # idempotent
    acme = registry.get_tenant("acme")
    assert acme is not None and acme.config["theme"] == "dark" and acme.domains == ("acme.com",)
    assert registry.revision() == 7
    follow = Following(registry)
    follow.refresher.load_now()
    registry.add_tenant("globex")
    follow.refresher.check()
    assert follow.refresher.full_reads == 1 and "globex" in follow.current.tenants
    assert registry.log_status()["floor"] == 7
    registry.close()


def test_dispatcher_follows_changes_without_rereading(registry: Registry) -> None:
    made: list[str] = []

    def factory(record: TenantRecord) -> Any:
        made.append(f"{record.key}:{record.config.get('v', 0)}")
        return lambda environ, start_response: [b""]

    registry.add_tenant("acme")
    dispatcher = TenantDispatcher(registry, factory, base_domains=["example.com"])
    try:
        dispatcher.start()
        dispatcher.refresher.stop()  # checks by hand below
        dispatcher.request_key  # noqa: B018
        app = dispatcher._router.route("acme.example.com")
        assert app is not None and made == ["acme:0"]
        registry.add_domain("acme.org", "acme")
        dispatcher.refresher.check()
        assert dispatcher._router.route("acme.org") is not None
        assert made == ["acme:0"]  # a new domain retires nothing
        registry.update_tenant("acme", config={"v": 1})
        dispatcher.refresher.check()
        dispatcher._router.route("acme.example.com")
        assert made == ["acme:0", "acme:1"]
        assert dispatcher.refresher.full_reads == 1
    finally:
        dispatcher.close()


def test_sharded_map_shares_untouched_shards() -> None:
    base = ShardedMap({f"k{i}": i for i in range(5000)})
    assert len(base) == 5000 and base["k42"] == 42 and "k4999" in base and "x" not in base
    new = base.evolve({"k42": -1, "k1": None, "fresh": 7})
    assert len(new) == 5000 and new["k42"] == -1 and "k1" not in new and new["fresh"] == 7
    assert base["k42"] == 42 and "k1" in base  # the old map is untouched
    shared = sum(a is b for a, b in zip(base._shards, new._shards, strict=True))
    assert shared >= len(base._shards) - 3
    grown = ShardedMap[int]().evolve({f"n{i}": i for i in range(3000)})
    assert len(grown) == 3000 and len(grown._shards) > 1 and dict(grown)["n2999"] == 2999
