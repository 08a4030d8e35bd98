"""A request waiting for another request's creation of its key waits at most ``create_timeout``.

And the pool's options are one declaration (``PoolOptions``) that every lazy
dispatcher, the config schema and the site builder share.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from wsgi_helpers import call, echo_app

from appmux import (
    LazyDispatcher,
    PathDispatcher,
    PoolOptions,
    Registry,
    SubdomainDispatcher,
    TenantDispatcher,
    header_key,
)
from appmux.serve.config import ConfigError, load_config
from appmux.serve.site import route_rows


class HangingFactory:
    """A factory that blocks until released, and says when it has started."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls: list[str] = []

    def __call__(self, key: str) -> Any:
        self.calls.append(key)
        self.started.set()
        assert self.release.wait(30), "the test never released the factory"
        return echo_app(f"tenant:{key}")


def test_a_waiter_gets_503_after_create_timeout_and_the_creation_goes_on() -> None:
    factory = HangingFactory()
    dispatcher = SubdomainDispatcher("example.com", factory, create_timeout=0.3)
    first: list[Any] = []
    owner = threading.Thread(target=lambda: first.append(call(dispatcher, host="slow.example.com")))
    owner.start()
    assert factory.started.wait(10)  # the owner is inside the factory now
    began = time.monotonic()
    waiter = call(dispatcher, host="slow.example.com")
    waited = time.monotonic() - began
    assert waiter.status == 503 and int(waiter.headers["Retry-After"]) >= 1
    assert b"Traceback" not in waiter.body
    assert 0.25 <= waited < 10, waited  # bounded by create_timeout (wide margin for a busy box)
    assert owner.is_alive()  # the creation itself was not abandoned
    factory.release.set()
    owner.join(10)
    assert first[0].status == 200 and first[0].text == "tenant:slow||/"
    assert call(dispatcher, host="slow.example.com").text == "tenant:slow||/"
    assert factory.calls.count("slow") == 1  # its value was kept: no second creation


def test_without_a_timeout_hit_the_waiter_gets_the_created_app() -> None:
    factory = HangingFactory()
    dispatcher = PathDispatcher(echo_app("default"), factory, create_timeout=30)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(call(dispatcher, "/acme/x")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    assert factory.started.wait(10)
    factory.release.set()
    for thread in threads:
        thread.join(10)
    assert [r.text for r in results] == ["tenant:acme|/acme|/x"] * 4
    assert factory.calls == ["acme"]


@pytest.mark.parametrize("bad", [0, -1, "1", True])
def test_create_timeout_must_be_a_positive_number(bad: Any) -> None:
    with pytest.raises(ValueError, match="create_timeout"):
        LazyDispatcher(header_key("X-Tenant"), lambda key: None, create_timeout=bad)


def test_every_lazy_dispatcher_takes_every_pool_option(tmp_path: Path) -> None:
    options = {
        "max_instances": 7,
        "idle_timeout": 60,
        "negative_ttl": 2,
        "failure_backoff": 3,
        "create_timeout": 4,
        "max_concurrency": 5,
        "queue_timeout": 0.5,
    }
    assert set(PoolOptions.names()) == set(options)
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    dispatchers = [
        LazyDispatcher(header_key("X-Tenant"), lambda key: None, **options),
        SubdomainDispatcher("example.com", lambda key: None, **options),
        PathDispatcher(echo_app("d"), lambda key: None, **options),
        TenantDispatcher(registry, lambda record: None, base_domains=["example.com"], **options),
    ]
    for dispatcher in dispatchers:
        assert dispatcher.options == PoolOptions(**options)
    with pytest.raises(TypeError, match=r"SubdomainDispatcher.*'max_instance'"):
        SubdomainDispatcher("example.com", lambda key: None, max_instance=1)
    with pytest.raises(TypeError, match=r"TenantDispatcher.*'create_timout'"):
        TenantDispatcher(registry, lambda record: None, create_timout=1)


def write(tmp_path: Path, tenants: str) -> Path:
    (tmp_path / "apps.py").write_text("def make(key):\n    return None\n")
    path = tmp_path / "appmux.toml"
    path.write_text(f'[tenants]\nby = "path"\nfactory = "apps:make"\n{tenants}')
    return path


def test_create_timeout_is_a_tenants_key(tmp_path: Path) -> None:
    site = load_config(write(tmp_path, "create_timeout = 2.5\n"))
    assert "create_timeout=2.5" in route_rows(site)[0].options
    for bad, message in (("0", "must be positive"), ('"soon"', "must be a number of seconds")):
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, f"create_timeout = {bad}\n"))
        assert info.value.key == "tenants.create_timeout" and message in str(info.value)
