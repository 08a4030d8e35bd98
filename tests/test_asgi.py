"""The ASGI forms of the dispatchers: the same decisions as the WSGI forms, websockets
through every one of them, lifespans per app and per tenant instance."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_helpers import asgi_call, refused, uvicorn_serving
from fastapi import FastAPI, Request, WebSocket
from flask import Flask, request, url_for
from hostile_cases import HOST_CASES, MISSING, PATH_CASES
from wsgi_helpers import RecordingFactory, call, echo_app

import appmux
from appmux import asgi
from appmux.interop import settings


def test_the_asgi_forms_have_the_wsgi_forms_names_and_signatures() -> None:
    import inspect

    def shape(cls: Any) -> list[tuple[str, Any, Any]]:
        params = inspect.signature(cls).parameters.values()
        return [(p.name, p.kind, p.default) for p in params]

    for name in asgi.__all__:
        if name == "Node":
            continue
        assert shape(getattr(appmux, name)) == shape(getattr(asgi, name)), name


@pytest.mark.parametrize(("host", "extra", "status", "key"), HOST_CASES)
def test_hostile_hosts_get_the_same_answer_in_both_forms(
    host: str | None, extra: dict[str, Any], status: int, key: str | None
) -> None:
    server_name = extra.get("SERVER_NAME", "fallback.example.com")
    wsgi_factory, asgi_factory = RecordingFactory(), RecordingFactory()
    wsgi_reply = call(
        appmux.SubdomainDispatcher("example.com", wsgi_factory), "/x", host=host, **extra
    )
    asgi_reply = asgi_call(
        asgi.SubdomainDispatcher("example.com", asgi_factory),
        "/x",
        host=host,
        server=(server_name, 80),
    )
    assert (asgi_reply.status, asgi_reply.text) == (wsgi_reply.status, wsgi_reply.text)
    assert asgi_factory.calls == wsgi_factory.calls
    assert asgi_reply.status == status


@pytest.mark.parametrize(("path", "status", "body", "key"), PATH_CASES)
def test_path_tenants_get_the_same_answer_in_both_forms(
    path: Any, status: int, body: str, key: str | None
) -> None:
    factory = RecordingFactory(unknown={"unknown"})
    app = asgi.PathDispatcher(echo_app("default"), factory)
    reply = asgi_call(app, "" if path is MISSING else path, root_path="/mount")
    assert (reply.status, reply.text) == (status, body)
    assert factory.calls == ([] if key is None else [key])


def test_prefix_and_host_dispatch_match_the_wsgi_forms() -> None:
    mounts = {"/api": echo_app("api"), "/api/v2": echo_app("v2"), "/static/": echo_app("static")}
    wsgi_site = appmux.DispatcherMiddleware(echo_app("root"), mounts)
    asgi_site = asgi.DispatcherMiddleware(echo_app("root"), mounts)
    for path in ["/", "/api", "/api/", "/api/x", "/apix", "/api/v2/y", "/static/a", "/static"]:
        assert asgi_call(asgi_site, path).text == call(wsgi_site, path).text, path
    hosts = {"a.example.com": echo_app("a"), "*.example.com": echo_app("star")}
    wsgi_hosts = appmux.HostDispatcher(hosts, default_app=echo_app("other"))
    asgi_hosts = asgi.HostDispatcher(hosts, default_app=echo_app("other"))
    for host in [
        "a.example.com",
        "A.EXAMPLE.COM:80",
        "b.example.com",
        "x.y.example.com",
        "bad..",
        "",
    ]:
        w, a = call(wsgi_hosts, "/", host=host), asgi_call(asgi_hosts, "/", host=host)
        assert (a.status, a.text) == (w.status, w.text), host


def flask_where() -> Flask:
    app = Flask("where")

    @app.route("/page/<int:n>")
    def page(n: int) -> Any:
        return {
            "script_name": request.environ["SCRIPT_NAME"],
            "path_info": request.environ["PATH_INFO"],
            "url_for": url_for("page", n=n + 1),
            "url": request.url,
        }

    return app


def test_flask_under_the_asgi_and_the_wsgi_front_sees_the_same_paths() -> None:
    wsgi_site = appmux.DispatcherMiddleware(echo_app("root"), {"/app": flask_where()})
    asgi_site = asgi.DispatcherMiddleware(echo_app("root"), {"/app": flask_where()})
    from asgi_helpers import wsgi_serving

    with uvicorn_serving(asgi_site) as on_asgi, wsgi_serving(wsgi_site) as on_wsgi:
        a = on_asgi.get("/app/page/1", host="example.com").json()
        w = on_wsgi.get("/app/page/1", host="example.com").json()
    assert (
        a
        == w
        == {
            "script_name": "/app",
            "path_info": "/page/1",
            "url_for": "/app/page/2",
            "url": "http://example.com/app/page/1",
        }
    )


def test_django_asgi_handler_declines_lifespan_and_is_served() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_site.settings")
    from legacy_site.asgi import application as django_asgi
    from legacy_site.wsgi import application as django_wsgi

    asgi_site = asgi.DispatcherMiddleware(echo_app("root"), {"/legacy": django_asgi})
    with uvicorn_serving(asgi_site) as server:
        report = server.get("/legacy/reports/7/", host="localhost").json()
        page = server.get("/legacy/", host="localhost")
    assert report == {"app": "django", "year": 7, "self": "/legacy/reports/7/"}
    assert 'href="/legacy/reports/2024/"' in page.text  # reverse() includes the mount
    wsgi_report = call(
        appmux.DispatcherMiddleware(echo_app("r"), {"/legacy": django_wsgi}),
        "/legacy/reports/7/",
        host="localhost",
    )
    assert wsgi_report.text.replace(" ", "") == httpx.Response(200, json=report).text.replace(
        " ", ""
    )


# -- lifespans ---------------------------------------------------------------------------


class Journal:
    """Records lifespan events across apps, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()

    def add(self, event: str) -> None:
        with self.lock:
            self.events.append(event)


def fastapi_tenant(name: str, journal: Journal, fail: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        journal.add(f"start {name}")
        if fail:
            raise RuntimeError(f"{name} cannot start")
        yield {"name": name, "visits": []}
        journal.add(f"stop {name}")

    app = FastAPI(lifespan=lifespan)

    @app.get("/state")
    async def state(req: Request) -> dict[str, Any]:
        req.state.visits.append(1)
        return {
            "name": req.state.name,
            "visits": len(req.state.visits),
            "root": req.scope["root_path"],
        }

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            text = await ws.receive_text()
            if text == "bye":
                await ws.close()
                return
            await ws.send_text(f"{name}:{text}")

    return app


def test_each_tenant_instance_has_its_own_lifespan_and_state() -> None:
    journal = Journal()
    site = asgi.SubdomainDispatcher("example.test", lambda key: fastapi_tenant(key, journal))
    with uvicorn_serving(site) as server:
        assert journal.events == []  # tenants start on first use, not with the server
        acme = [server.get("/state", host="acme.example.test").json() for _ in range(2)]
        globex = server.get("/state", host="globex.example.test").json()
        assert acme[1]["name"] == "acme" and globex["name"] == "globex"
        # The state's values are the instance's own (its list is shared by its requests).
        assert acme[1]["visits"] == 2 and globex["visits"] == 1
        assert journal.events == ["start acme", "start globex"]
        assert site.invalidate("acme")
        deadline = time.monotonic() + 10
        while "stop acme" not in journal.events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert journal.events[-1] == "stop acme"
        again = server.get("/state", host="acme.example.test").json()
        assert again["visits"] == 1  # a new instance, a new state
    assert journal.events == [
        "start acme",
        "start globex",
        "stop acme",
        "start acme",
        "stop acme",
        "stop globex",
    ]  # server stop: newest first


def test_a_tenant_whose_startup_fails_gets_503_and_others_are_served() -> None:
    journal = Journal()
    site = asgi.SubdomainDispatcher(
        "example.test",
        lambda key: fastapi_tenant(key, journal, fail=key == "broken"),
        failure_backoff=30,
    )
    with uvicorn_serving(site) as server:
        broken = server.get("/state", host="broken.example.test")
        assert broken.status_code == 503 and int(broken.headers["Retry-After"]) >= 1
        assert "cannot start" not in broken.text
        assert server.get("/state", host="fine.example.test").json()["name"] == "fine"
        assert site.stats().creation_failures == 1
        assert "broken cannot start" in site.recent_failures[-1].summary
        assert server.get("/state", host="broken.example.test").status_code == 503
    assert journal.events.count("start broken") == 1  # backing off: not tried again


def test_a_tenant_startup_that_hangs_times_out_as_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "lifespan_timeout", 0.5)

    async def hangs(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await asyncio.sleep(60)

    site = asgi.SubdomainDispatcher("example.test", lambda key: hangs)
    with uvicorn_serving(site) as server:
        started = time.monotonic()
        assert server.get("/", host="slow.example.test").status_code == 503
        assert time.monotonic() - started < 5
    assert "did not complete within 0.5 s" in site.recent_failures[-1].summary


def test_static_apps_start_in_order_and_stop_in_reverse() -> None:
    journal = Journal()
    site = asgi.HostDispatcher(
        {
            "a.test": asgi.DispatcherMiddleware(
                fastapi_tenant("root", journal), {"/one": fastapi_tenant("one", journal)}
            ),
            "b.test": fastapi_tenant("two", journal),
        }
    )
    with uvicorn_serving(site) as server:
        assert journal.events == ["start root", "start one", "start two"]
        assert server.get("/one/state", host="a.test").json() == {
            "name": "one",
            "visits": 1,
            "root": "/one",
        }
        assert server.get("/state", host="b.test").json()["name"] == "two"
    assert journal.events[3:] == ["stop two", "stop one", "stop root"]


def test_a_static_app_whose_startup_fails_stops_the_server() -> None:
    journal = Journal()
    site = asgi.DispatcherMiddleware(
        fastapi_tenant("ok", journal), {"/bad": fastapi_tenant("bad", journal, fail=True)}
    )
    with pytest.raises(RuntimeError, match="did not start"), uvicorn_serving(site):
        pass
    assert journal.events == ["start ok", "start bad", "stop ok"]


# -- websockets --------------------------------------------------------------------------


def test_websockets_are_routed_by_every_dispatcher() -> None:
    journal = Journal()
    tenants = asgi.SubdomainDispatcher(
        "example.test", lambda key: fastapi_tenant(key, journal) if key != "nobody" else None
    )
    paths = asgi.PathDispatcher(
        echo_app("default"), lambda key: fastapi_tenant(f"path-{key}", journal)
    )
    by_header = asgi.LazyDispatcher(
        appmux.header_key("X-Tenant"), lambda key: fastapi_tenant(f"hdr-{key}", journal)
    )
    site = asgi.HostDispatcher(
        {
            "example.test": asgi.DispatcherMiddleware(
                echo_app("root"),
                {"/api": fastapi_tenant("api", journal), "/p": paths, "/wsgi": echo_app("wsgi")},
            ),
            "*.example.test": tenants,
            "hdr.test": by_header,
        }
    )
    with uvicorn_serving(site) as server:
        for path, host, want in [
            ("/api/ws", "example.test", "api:hi"),
            ("/ws", "acme.example.test", "acme:hi"),
            ("/p/docs/ws", "example.test", "path-docs:hi"),
        ]:
            with server.websocket(path, host) as ws:
                ws.send("hi")
                assert ws.recv(timeout=10) == want, (path, host)
                ws.send("bye")
        for path, host in [
            ("/ws", "nobody.example.test"),  # unknown tenant
            ("/ws", "bad..example.test"),  # hostile host
            ("/ws", "attacker.net"),  # foreign host
            ("/wsgi/ws", "example.test"),  # a WSGI target
            ("/p/../ws", "example.test"),  # no usable path tenant: the WSGI default
        ]:
            assert refused(server, path, host), (path, host)
        assert refused(server, "/ws", "hdr.test")  # no header: no tenant


def test_an_open_websocket_holds_its_instance_until_it_ends() -> None:
    journal = Journal()
    site = asgi.SubdomainDispatcher("example.test", lambda key: fastapi_tenant(key, journal))
    with uvicorn_serving(site) as server:
        with server.websocket("/ws", "acme.example.test") as ws:
            ws.send("one")
            assert ws.recv(timeout=10) == "acme:one"
            site.invalidate("acme")  # retired while the websocket is open
            time.sleep(0.3)
            assert "stop acme" not in journal.events
            ws.send("two")
            assert ws.recv(timeout=10) == "acme:two"
            ws.send("bye")
        deadline = time.monotonic() + 10
        while "stop acme" not in journal.events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "stop acme" in journal.events


def test_a_retired_instance_shuts_down_after_the_drain_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "drain_timeout", 0.5)
    journal = Journal()
    site = asgi.SubdomainDispatcher("example.test", lambda key: fastapi_tenant(key, journal))
    with uvicorn_serving(site) as server, server.websocket("/ws", "acme.example.test") as ws:
        ws.send("one")
        ws.recv(timeout=10)
        site.invalidate("acme")
        deadline = time.monotonic() + 10
        while "stop acme" not in journal.events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "stop acme" in journal.events  # the websocket is still open


def test_the_asgi_tenant_dispatcher_reads_the_registry_at_lifespan_startup(tmp_path: Any) -> None:
    registry = appmux.Registry(f"sqlite:///{tmp_path / 'tenants.db'}")
    registry.init()
    registry.add_tenant("acme", config={"flavour": "fast"})
    journal = Journal()

    def create(record: Any) -> Any:
        return (
            fastapi_tenant(record.key, journal)
            if record.config.get("flavour") == "fast"
            else echo_app(record.key)
        )

    site = asgi.TenantDispatcher(
        registry, create, base_domains=["example.test"], refresh_interval=0.2
    )
    assert site.snapshot is None
    with uvicorn_serving(site) as server:
        assert site.snapshot is not None and site.refresher.running
        assert server.get("/state", host="acme.example.test").json()["name"] == "acme"
        assert server.get("/", host="nobody.example.test").status_code == 404
        registry.add_tenant("initech")
        deadline = time.monotonic() + 10
        while server.get("/", host="initech.example.test").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert server.get("/x", host="initech.example.test").text == "initech||/x"
    assert not site.refresher.running


def test_header_and_registry_tenants_take_websockets_too(tmp_path: Any) -> None:
    journal = Journal()
    by_header = asgi.LazyDispatcher(
        appmux.header_key("X-Tenant"), lambda key: fastapi_tenant(f"hdr-{key}", journal)
    )
    registry = appmux.Registry(f"sqlite:///{tmp_path / 'tenants.db'}")
    registry.init()
    registry.add_tenant("acme")
    tenants = asgi.TenantDispatcher(
        registry, lambda record: fastapi_tenant(record.key, journal), base_domains=["example.test"]
    )
    site = asgi.HostDispatcher({"hdr.test": by_header, "*.example.test": tenants})
    with uvicorn_serving(site) as server:
        sock = __import__("socket").create_connection(("127.0.0.1", server.port), timeout=20)
        from websockets.sync.client import connect

        with connect(
            f"ws://hdr.test:{server.port}/ws", sock=sock, additional_headers={"X-Tenant": "blue"}
        ) as ws:
            ws.send("hi")
            assert ws.recv(timeout=10) == "hdr-blue:hi"
        with server.websocket("/ws", "acme.example.test") as ws:
            ws.send("hi")
            assert ws.recv(timeout=10) == "acme:hi"
        assert refused(server, "/ws", "nobody.example.test")


def test_the_reaper_shuts_idle_asgi_instances_down() -> None:
    journal = Journal()
    site = asgi.SubdomainDispatcher(
        "example.test", lambda key: fastapi_tenant(key, journal), idle_timeout=0.3
    )
    with uvicorn_serving(site) as server:
        assert server.get("/state", host="acme.example.test").json()["name"] == "acme"
        deadline = time.monotonic() + 10
        while "stop acme" not in journal.events and time.monotonic() < deadline:
            time.sleep(0.05)  # no request comes: the reaper retires it
        assert journal.events == ["start acme", "stop acme"]
        assert site.keys() == []
