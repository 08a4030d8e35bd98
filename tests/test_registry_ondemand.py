"""``load = "on-demand"``: memory follows the served tenants, invented hosts cost no query.

On SQLite and a real PostgreSQL: the on-demand view must answer every host as
a whole snapshot would, hold at most ``record_cache`` records, query only for
names the registry may have, follow the change log, and keep serving what it
holds through an outage (a miss is a 503, never a 404).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_helpers import asgi_call
from postgres import PostgresServer, postgres_server
from test_registry_changes import random_write
from wsgi_helpers import call

import appmux.asgi
from appmux import Registry, TenantDispatcher, TenantRecord
from appmux.registry.ondemand import OnDemandView

BASE = ("example.com",)


def record_app(record: TenantRecord) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen: TenantRecord = environ["appmux.tenant"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{seen.key} plan={record.config.get('plan', '-')}".encode()]

    return app


def dispatcher(registry: Registry, **options: Any) -> TenantDispatcher:
    return TenantDispatcher(
        registry, record_app, base_domains=list(BASE), load="on-demand", **options
    )


def same_answer(view: OnDemandView, registry: Registry, host: str) -> None:
    expected = registry.snapshot().resolve(host, BASE)
    found = view.resolve(host, BASE)
    if expected is None:
        assert found is None, host
        return
    assert found is not None, host
    assert (found.key, found.record, found.redirect_to) == (
        expected.key,
        expected.record,
        expected.redirect_to,
    ), host


def test_on_demand_answers_every_host_as_a_whole_snapshot_would(registry: Registry) -> None:
    view = OnDemandView(registry, BASE, record_cache=4)
    following = TenantDispatcher(registry, record_app, base_domains=list(BASE), load="on-demand")
    refresher = following.refresher
    refresher._read = view.reload  # follow into the view under test
    refresher.load_now()
    rng = random.Random(16)
    hosts = [f"t{i}.example.com" for i in range(6)] + [f"d{i}.example.org" for i in range(8)]
    hosts += ["x.wild.example.org", "nobody.example.com", "example.com", "evil.net"]
    for serial in range(120):
        random_write(registry, rng, serial)
        refresher.check()
        for host in rng.sample(hosts, 5):
            same_answer(view, registry, host)
    assert refresher.full_reads == 1 and refresher.applied > 20
    assert len(view) <= 4


def test_only_recently_served_tenants_are_held(registry: Registry) -> None:
    for i in range(40):
        registry.add_tenant(f"t{i}", {"plan": "free"})
    tenants = dispatcher(registry, record_cache=10)
    try:
        for i in range(40):
            assert call(tenants, host=f"t{i}.example.com").body == f"t{i} plan=free".encode()
        view = tenants.snapshot
        assert isinstance(view, OnDemandView)
        assert 1 <= len(view) <= 10
        assert "t39" in view.held.tenants and "t0" not in view.held.tenants
        # An evicted tenant is fetched again.
        assert call(tenants, host="t0.example.com").body == b"t0 plan=free"
    finally:
        tenants.close()


def test_invented_hosts_cost_at_most_one_query_per_hundred(registry: Registry) -> None:
    for i in range(200):
        registry.add_tenant(f"t{i}")
        registry.add_domain(f"shop.t{i}.org", f"t{i}")
    tenants = dispatcher(registry)
    try:
        assert call(tenants, host="t1.example.com").status == 200
        view = tenants.snapshot
        assert isinstance(view, OnDemandView)
        before = view.lookups
        rng = random.Random(1)
        statuses = set()
        for _ in range(10_000):
            label = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12))
            statuses.add(call(tenants, host=f"{label}.example.com").status)
        assert statuses == {404}
        assert view.lookups - before <= 100
        assert call(tenants, host="shop.t5.org").status == 200
        assert call(tenants, host="nothing.evil.net").status == 400
    finally:
        tenants.close()


def test_changes_reach_held_records_and_new_names(registry: Registry) -> None:
    registry.add_tenant("acme", {"plan": "free"})
    tenants = dispatcher(registry)
    tenants.start()
    tenants.refresher.stop()  # checks by hand below
    try:
        assert call(tenants, host="acme.example.com").body == b"acme plan=free"
        registry.update_tenant("acme", config={"plan": "pro"})
        registry.add_tenant("globex", {"plan": "free"})
        registry.add_domain("acme.org", "acme", primary=True)
        registry.add_domain("old-acme.org", "acme", redirect=True)
        tenants.refresher.check()
        assert tenants.refresher.full_reads == 1
        assert call(tenants, host="acme.example.com").body == b"acme plan=pro"
        assert call(tenants, host="globex.example.com").body == b"globex plan=free"
        assert call(tenants, host="acme.org").body == b"acme plan=pro"
        moved = call(tenants, host="old-acme.org")
        assert moved.status == 308 and "acme.org" in moved.headers["Location"]
        registry.remove_tenant("globex")
        tenants.refresher.check()
        assert call(tenants, host="globex.example.com").status == 404
        assert tenants.refresher.full_reads == 1
    finally:
        tenants.close()


def test_a_custom_domain_beats_a_held_subdomain_key(registry: Registry) -> None:
    registry.add_tenant("acme")
    registry.add_tenant("globex")
    tenants = dispatcher(registry)
    try:
        assert call(tenants, host="acme.example.com").body.startswith(b"acme ")
        registry.add_domain("acme.example.com", "globex")  # now a custom domain of globex
        tenants.refresher.check()
        assert call(tenants, host="acme.example.com").body.startswith(b"globex ")
    finally:
        tenants.close()


def test_the_asgi_form_fetches_misses_off_the_event_loop(registry: Registry) -> None:
    registry.add_tenant("acme", {"plan": "free"})
    tenants = appmux.asgi.TenantDispatcher(
        registry, record_app, base_domains=list(BASE), load="on-demand"
    )
    try:
        reply = asgi_call(tenants, "/", host="acme.example.com")
        assert reply.status == 200 and reply.text == "acme plan=free"
        assert asgi_call(tenants, "/", host="nobody.example.com").status == 404
    finally:
        tenants.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to stop and start."""
    with postgres_server() as server:
        yield server


def test_held_tenants_serve_through_an_outage_and_a_miss_is_503(
    own_postgres: PostgresServer,
) -> None:
    registry = Registry(own_postgres.new_database())
    registry.init()
    registry.add_tenant("acme", {"plan": "free"})
    registry.add_tenant("globex", {"plan": "free"})
    tenants = dispatcher(registry)
    try:
        assert call(tenants, host="acme.example.com").status == 200
        own_postgres.stop()
        try:
            for _ in range(3):
                assert call(tenants, host="acme.example.com").status == 200
            miss = call(tenants, host="globex.example.com")
            assert miss.status == 503 and miss.headers["Retry-After"]
            assert call(tenants, host="invented123.example.com").status == 404
        finally:
            own_postgres.start()
        assert call(tenants, host="globex.example.com").status == 200
    finally:
        tenants.close()
        registry.close()
