"""The dispatchers as WSGI apps, always behind wsgiref's validator."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.exceptions import NotFound
from wsgi_helpers import RecordingFactory, call, call_environ, echo_app, make_environ

from appmux import (
    DispatcherMiddleware,
    HostDispatcher,
    LazyDispatcher,
    PathDispatcher,
    SubdomainDispatcher,
    header_key,
    host_key,
)

# -- DispatcherMiddleware ------------------------------------------------------


def test_mount_prefix_is_appended_to_script_name() -> None:
    app = DispatcherMiddleware(echo_app("root"), {"/backend": echo_app("backend")})
    assert call(app, "/backend/users", script_name="/site").text == "backend|/site/backend|/users"
    assert call(app, "/backend").text == "backend|/backend|"
    assert call(app, "/backendx").text == "root||/backendx"
    assert call(app, "/").text == "root||/"


def test_deepest_mount_wins_and_paths_of_any_length_work() -> None:
    app = DispatcherMiddleware(echo_app("root"), {"/a": echo_app("a"), "/a/b/c": echo_app("abc")})
    deep = "/a/b/c" + "/seg" * 50
    assert call(app, deep).text == "abc|/a/b/c|" + "/seg" * 50
    assert call(app, "/a/b/x").text == "a|/a|/b/x"


def test_mounts_are_checked_at_construction() -> None:
    with pytest.raises(TypeError, match="/x"):
        DispatcherMiddleware(echo_app("root"), {"/x": "not an app"})  # type: ignore[dict-item]
    app = DispatcherMiddleware(echo_app("root"), {"/x/": echo_app("x")})
    assert list(app.mounts) == ["/x"]


# -- HostDispatcher ------------------------------------------------------------


def host_app() -> HostDispatcher:
    return HostDispatcher(
        {
            "api.example.com": echo_app("api"),
            "*.example.com": echo_app("wild"),
            "[::1]": echo_app("v6"),
        },
        default_app=echo_app("default"),
    )


@pytest.mark.parametrize(
    ("host", "status", "body"),
    [
        ("api.example.com", 200, "api"),
        ("API.Example.com:8443", 200, "api"),
        ("api.example.com.", 200, "api"),
        ("foo.example.com", 200, "wild"),
        ("a.b.example.com", 200, "default"),
        ("example.com", 200, "default"),
        ("evilexample.com", 200, "default"),
        ("[::1]:8000", 200, "v6"),
        ("bad host", 400, None),
        ("x..example.com", 400, None),
    ],
)
def test_host_routing(host: str, status: int, body: str | None) -> None:
    result = call(host_app(), "/p", host=host)
    assert result.status == status
    if body is not None:
        assert result.text == f"{body}||/p"


def test_host_dispatcher_without_default_gives_404() -> None:
    app = HostDispatcher({"a.com": echo_app("a")})
    assert call(app, host="b.com").status == 404
    assert call(app, host=None, SERVER_NAME="a.com").text == "a||/"


def test_host_keys_are_validated() -> None:
    with pytest.raises(ValueError, match="twice"):
        HostDispatcher({"A.com": echo_app("1"), "a.com.": echo_app("2")})
    with pytest.raises(ValueError):
        HostDispatcher({"bad host": echo_app("1")})
    with pytest.raises(ValueError):
        HostDispatcher({"*.": echo_app("1")})


# -- the lazy dispatchers ------------------------------------------------------


def test_subdomain_factory_may_return_notfound_as_the_docs_suggest() -> None:
    def make_app(subdomain: str) -> Any:
        return echo_app(subdomain) if subdomain == "known" else NotFound()

    app = SubdomainDispatcher("example.com", make_app)
    assert call(app, host="known.example.com").status == 200
    assert call(app, host="other.example.com").status == 404


def test_subdomain_factory_returning_none_gives_404() -> None:
    factory = RecordingFactory(unknown={"nobody"})
    app = SubdomainDispatcher("example.com", factory)
    assert call(app, host="nobody.example.com").status == 404
    assert call(app, host="nobody.example.com").status == 404
    assert factory.calls == ["nobody"]  # the negative answer is remembered


def test_introspection_and_control() -> None:
    factory = RecordingFactory()
    app = SubdomainDispatcher("example.com", factory)
    for host in ["a.example.com", "b.example.com", "a.example.com", "A.example.com:80"]:
        call(app, host=host)
    assert app.keys() == ["a", "b"]
    assert set(app.instances) == {"a", "b"}
    stats = app.stats()
    assert (stats.hits, stats.misses, stats.creations, stats.evictions) == (2, 2, 2, 0)
    assert app.invalidate("a") is True
    assert app.keys() == ["b"]
    call(app, host="a.example.com")
    assert factory.calls == ["a", "b", "a"]
    app.clear()
    assert app.keys() == []


def test_max_instances_bounds_live_tenants() -> None:
    app = SubdomainDispatcher("example.com", RecordingFactory(), max_instances=3)
    for i in range(20):
        assert call(app, host=f"t{i}.example.com").status == 200
    assert app.keys() == ["t17", "t18", "t19"]
    assert app.stats().evictions == 17


def test_factory_failure_is_a_503_with_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    def make_app(key: str) -> Any:
        if key == "broken":
            raise RuntimeError("secret connection string")
        return echo_app(key)

    app = SubdomainDispatcher("example.com", make_app)
    with caplog.at_level(logging.ERROR, logger="appmux"):
        result = call(app, host="broken.example.com")
    assert result.status == 503
    assert int(result.headers["Retry-After"]) >= 1
    assert "secret" not in result.text and "Traceback" not in result.text
    assert "secret connection string" in caplog.text
    assert call(app, host="fine.example.com").status == 200
    assert app.keys() == ["fine"]


def test_factory_returning_a_non_app_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    app = SubdomainDispatcher("example.com", lambda key: 42)
    with caplog.at_level(logging.ERROR, logger="appmux"):
        assert call(app, host="x.example.com").status == 503
    assert "create_app('x') returned 42 (int), which is not a WSGI application" in caplog.text
    assert app.keys() == []


def test_path_dispatcher_moves_the_segment_as_documented() -> None:
    app = PathDispatcher(echo_app("default"), RecordingFactory(unknown={"static"}))
    assert call(app, "/foo/bar", script_name="/s").text == "tenant:foo|/s/foo|/bar"
    assert call(app, "/static/x.css").text == "default||/static/x.css"


def test_lazy_dispatcher_keyed_by_header_never_passes_unsafe_keys() -> None:
    factory = RecordingFactory()
    app = LazyDispatcher(header_key("X-Tenant"), factory, default_app=echo_app("default"))
    assert call(app, HTTP_X_TENANT="Acme").text == "tenant:acme||/"
    assert call(app).text == "default||/"
    for hostile in ["../etc", "a/b", "a b", "x:y", "a\nb", "."]:
        assert call(app, HTTP_X_TENANT=hostile).text == "default||/"
    assert factory.calls == ["acme"]


def test_unknown_key_without_default_is_404() -> None:
    app = LazyDispatcher(header_key("X-Tenant"), RecordingFactory())
    assert call(app).status == 404


def test_dispatchers_nest_hosts_then_mounts_then_tenants() -> None:
    tenants = PathDispatcher(echo_app("tenant-default"), RecordingFactory())
    site = DispatcherMiddleware(echo_app("front"), {"/t": tenants})
    app = HostDispatcher({"www.example.com": site})
    assert call(app, "/t/acme/page", host="www.example.com").text == "tenant:acme|/t/acme|/page"
    assert call(app, "/about", host="www.example.com").text == "front||/about"
    assert call(app, "/", host="other.example.com").status == 404


# -- SCRIPT_NAME + PATH_INFO is preserved --------------------------------------


def recorder() -> tuple[Any, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    return app, seen


path_text = st.text(alphabet="/ab.:%x ", max_size=24).map(lambda s: "/" + s if s else s)
script_text = st.sampled_from(["", "/p", "/p/q"])


@given(path_text, script_text)
def test_every_dispatcher_preserves_script_name_plus_path_info(path: str, script: str) -> None:
    leaf, seen = recorder()
    dispatchers = [
        DispatcherMiddleware(leaf, {"/a": leaf, "/a/b": leaf, "/x.": leaf}),
        PathDispatcher(leaf, lambda key: leaf if key != "b" else None),
        DispatcherMiddleware(leaf, {"/a": PathDispatcher(leaf, lambda key: leaf)}),
        HostDispatcher({"*.example.com": PathDispatcher(leaf, lambda key: leaf)}),
    ]
    for app in dispatchers:
        seen.clear()
        call(app, path, host="t.example.com", script_name=script)
        assert seen and seen[0][0] + seen[0][1] == script + path


# -- eviction while a response is streaming -----------------------------------


class ClosableApp:
    """An app holding a resource: streams a body, and must be closed only when idle."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.closed = threading.Event()
        self.served_after_close = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self.stream()

    def stream(self) -> Iterator[bytes]:
        for i in range(3):
            if self.closed.is_set():
                self.served_after_close = True
            yield f"{self.key}-{i};".encode()

    def close(self) -> None:
        self.closed.set()


def test_evicted_app_is_closed_only_after_its_streaming_response_ends() -> None:
    apps: dict[str, ClosableApp] = {}

    def factory(key: str) -> ClosableApp:
        apps[key] = ClosableApp(key)
        return apps[key]

    dispatcher = SubdomainDispatcher("example.com", factory, max_instances=1)
    environ = make_environ(host="a.example.com")
    body = dispatcher(environ, lambda status, headers, exc_info=None: None)
    first = next(iter(body))  # "a" is now mid-stream
    assert call(dispatcher, host="b.example.com").status == 200  # evicts "a"
    assert dispatcher.keys() == ["b"]
    assert not apps["a"].closed.is_set()  # still streaming
    rest = list(body)
    assert not apps["a"].closed.is_set()
    body.close()  # type: ignore[attr-defined]
    assert apps["a"].closed.is_set()
    assert first + b"".join(rest) == b"a-0;a-1;a-2;"
    assert not apps["a"].served_after_close
    dispatcher.invalidate("b")
    assert apps["b"].closed.is_set()  # idle: closed at once


def test_closable_app_body_close_is_propagated_through_validator() -> None:
    closed: list[str] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"x"

        def close(self) -> None:
            closed.append("body")

    class App:
        def __call__(self, environ: Any, start_response: Any) -> Body:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return Body()

        def close(self) -> None:
            closed.append("app")

    dispatcher = SubdomainDispatcher("example.com", lambda key: App())
    assert call(dispatcher, host="a.example.com").body == b"x"
    assert closed == ["body"]
    dispatcher.clear()
    assert closed == ["body", "app"]


# -- real threads ----------------------------------------------------------------


def test_concurrent_first_requests_call_create_app_once() -> None:
    factory = RecordingFactory()

    def slow_factory(key: str) -> Any:
        time.sleep(0.2)
        return factory(key)

    app = SubdomainDispatcher("example.com", slow_factory)
    results: list[str] = []

    def request() -> None:
        results.append(call(app, host="herd.example.com").text)

    threads = [threading.Thread(target=request) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert factory.calls == ["herd"]
    assert results == ["tenant:herd||/"] * 32


def test_slow_factory_does_not_delay_other_tenants() -> None:
    def make_app(key: str) -> Any:
        if key == "slow":
            time.sleep(1.5)
        return echo_app(key)

    app = SubdomainDispatcher("example.com", make_app)
    assert call(app, host="fast.example.com").status == 200
    slow = threading.Thread(target=call, args=(app,), kwargs={"host": "slow.example.com"})
    slow.start()
    time.sleep(0.1)
    worst = 0.0
    while slow.is_alive():
        started = time.monotonic()
        assert call(app, host="fast.example.com").status == 200
        assert call(app, host=f"new{int(started * 1000)}.example.com").status == 200
        worst = max(worst, time.monotonic() - started)
        time.sleep(0.01)
    slow.join()
    # Wide margin: the documented version blocks for the full 1.5 s.
    assert worst < 0.5


def test_path_dispatcher_validates_under_validator_for_wsgi_input() -> None:
    app = PathDispatcher(echo_app("d"), RecordingFactory())
    environ = make_environ("/t/x", method="POST")
    assert call_environ(app, environ).text == "tenant:t|/t|/x"


def test_raw_host_memo_is_bounded_under_many_spellings_of_one_tenant() -> None:
    factory = RecordingFactory()
    app = SubdomainDispatcher("example.com", factory)
    for port in range(1, 10_001):
        assert call(app, host=f"acme.example.com:{port}").text == "tenant:acme||/"
    assert factory.calls == ["acme"]
    assert len(app._routes) <= 4096
    assert app.stats().hits == 9_999


def test_invalidate_reaches_requests_answered_from_the_memo() -> None:
    versions = iter(["v1", "v2"])
    app = PathDispatcher(echo_app("default"), lambda key: echo_app(next(versions)))
    assert call(app, "/t/x").text == "v1|/t|/x"
    assert call(app, "/t/x").text == "v1|/t|/x"  # from the memo
    app.invalidate("t")
    assert call(app, "/t/x").text == "v2|/t|/x"


def test_eviction_from_another_thread_waits_for_a_slow_stream() -> None:
    events: list[str] = []

    class SlowStreamingApp:
        def __init__(self, key: str) -> None:
            self.key = key

        def __call__(self, environ: Any, start_response: Any) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return self.stream()

        def stream(self) -> Iterator[bytes]:
            for i in range(5):
                time.sleep(0.05)
                events.append(f"{self.key} chunk {i}")
                yield b"x"

        def close(self) -> None:
            events.append(f"{self.key} closed")

    dispatcher = SubdomainDispatcher("example.com", SlowStreamingApp, max_instances=1)
    streamed: list[bytes] = []
    reader = threading.Thread(
        target=lambda: streamed.append(call(dispatcher, host="slow.example.com").body)
    )
    reader.start()
    deadline = time.monotonic() + 10
    while "slow chunk 0" not in events and time.monotonic() < deadline:
        time.sleep(0.005)  # wait until the stream has started
    assert "slow chunk 0" in events
    evictor = threading.Thread(target=call, args=(dispatcher,), kwargs={"host": "b.example.com"})
    evictor.start()
    evictor.join(5)
    assert dispatcher.keys() == ["b"]  # "slow" is evicted while streaming
    reader.join(5)
    assert streamed == [b"xxxxx"]
    assert events.index("slow closed") > events.index("slow chunk 4")


def test_lazy_dispatcher_keyed_by_whole_host() -> None:
    factory = RecordingFactory()
    app = LazyDispatcher(host_key, factory)
    assert call(app, host="Shop.Example.COM:8080").text == "tenant:shop.example.com||/"
    assert call(app, host="shop.example.com.").text == "tenant:shop.example.com||/"
    assert call(app, host="bad host").status == 400
    assert factory.calls == ["shop.example.com"]


def test_built_in_key_rules_are_still_key_functions_of_the_environ() -> None:
    from werkzeug.exceptions import BadRequest

    from appmux import SubdomainKey, path_segment_key

    assert host_key(make_environ(host="Shop.Example.COM:8080")) == "shop.example.com"
    assert header_key("X-Tenant")(make_environ(HTTP_X_TENANT="ACME")) == "acme"
    assert header_key("X-Tenant")(make_environ()) is None
    assert path_segment_key(make_environ("/acme/x")) == "acme"
    assert path_segment_key(make_environ("/")) is None
    assert SubdomainKey("example.com")(make_environ(host="a.b.example.com")) == "a.b"
    with pytest.raises(BadRequest):
        SubdomainKey("example.com")(make_environ(host="evilexample.com"))
    with pytest.raises(BadRequest):
        host_key(make_environ(host="bad host"))
    # ...and a custom key function can build on them.
    app = LazyDispatcher(lambda environ: host_key(environ).split(".")[0], RecordingFactory())
    assert call(app, host="acme.example.com").text == "tenant:acme||/"
    assert call(app, host="bad host").status == 400
