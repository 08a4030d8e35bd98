"""The bridges between the protocols, on real servers: a WSGI app under uvicorn, an
ASGI app under werkzeug's threaded server (a WSGI server)."""

from __future__ import annotations

import contextvars
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest
from asgi_helpers import uvicorn_serving, wsgi_serving
from fastapi import FastAPI, Request
from flask import Flask, request, url_for

from appmux.interop import ASGIBridge, WSGIBridge, as_asgi, as_wsgi, declared, is_asgi, settings
from appmux.interop.from_wsgi import WINDOW
from appmux.interop.threads import thread_pool


def flask_app() -> Flask:
    app = Flask("bridged")

    @app.route("/where/<name>", methods=["GET", "POST"])
    def where(name: str) -> Any:
        return {
            "script_name": request.environ["SCRIPT_NAME"],
            "path_info": request.environ["PATH_INFO"],
            "url_for": url_for("where", name=name),
            "body": len(request.get_data()),
            "terminated": request.environ.get("wsgi.input_terminated"),
        }

    return app


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.post("/upload")
    async def upload(req: Request) -> dict[str, Any]:
        total = 0
        async for chunk in req.stream():
            total += len(chunk)
        return {"body": total, "root_path": req.scope["root_path"], "path": req.scope["path"]}

    @app.get("/stream")
    async def stream() -> Any:
        from fastapi.responses import StreamingResponse

        async def chunks() -> Any:
            for i in range(5):
                yield f"chunk {i}\n".encode()

        return StreamingResponse(chunks())

    return app


def chunks(count: int, size: int) -> Iterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def test_is_asgi_tells_the_kinds_apart() -> None:
    async def asgi(scope: Any, receive: Any, send: Any) -> None: ...

    class Callable:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None: ...

    assert is_asgi(asgi) and is_asgi(Callable()) and is_asgi(fastapi_app())
    assert not is_asgi(flask_app()) and not is_asgi(lambda e, s: [])
    assert as_asgi(asgi) is asgi and isinstance(as_asgi(flask_app()), WSGIBridge)
    flask = flask_app()
    assert as_wsgi(flask) is flask and isinstance(as_wsgi(asgi), ASGIBridge)
    assert as_wsgi(as_asgi(flask)) is flask and as_asgi(as_wsgi(asgi)) is asgi
    # Declared where detection cannot tell: a sync callable returning a coroutine.
    sneaky = lambda scope, receive, send: asgi(scope, receive, send)  # noqa: E731
    assert not is_asgi(sneaky) and is_asgi(declared(sneaky, "asgi"))
    assert not is_asgi(declared(Callable(), "wsgi"))


def test_the_bridge_is_pep3333_clean() -> None:
    def reads(environ: Any, start_response: Any) -> Iterator[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["PATH_INFO"].encode("latin-1") + b" " + str(len(body)).encode()
        yield b" ok"

    with uvicorn_serving(as_asgi(validator(reads))) as server:
        # PATH_INFO is the path's bytes as latin-1 (PEP 3333), sent back as they came.
        assert server.get("/v%C3%A9").content == b"/v\xc3\xa9 0 ok"
        posted = httpx.post(server.url + "/p", content=b"q" * 70_000, timeout=20)
        assert posted.text == "/p 70000 ok"


def test_wsgi_app_under_uvicorn_sees_wsgi_paths_and_chunked_bodies() -> None:
    with uvicorn_serving(as_asgi(flask_app())) as server:
        got = server.get("/where/a%20b").json()
        assert got["script_name"] == "" and got["path_info"] == "/where/a b"
        assert got["url_for"] == "/where/a%20b"
        # A chunked body (no Content-Length) arrives whole, input terminated.
        posted = httpx.post(server.url + "/where/x", content=chunks(40, 10_000), timeout=20)
        assert posted.json()["body"] == 400_000 and posted.json()["terminated"] is True
        sized = httpx.post(server.url + "/where/x", content=b"y" * 123_456, timeout=20)
        assert sized.json()["body"] == 123_456


def test_asgi_app_under_a_wsgi_server_gets_chunked_and_sized_bodies() -> None:
    with wsgi_serving(as_wsgi(fastapi_app())) as server:
        posted = httpx.post(server.url + "/upload", content=chunks(40, 10_000), timeout=20)
        assert posted.json() == {"body": 400_000, "root_path": "", "path": "/upload"}
        sized = httpx.post(server.url + "/upload", content=b"y" * 200_000, timeout=20)
        assert sized.json()["body"] == 200_000
        streamed = httpx.get(server.url + "/stream", timeout=20)
        assert streamed.text == "".join(f"chunk {i}\n" for i in range(5))


def test_websocket_to_an_asgi_app_under_a_wsgi_server_gets_501() -> None:
    with wsgi_serving(as_wsgi(fastapi_app())) as server:
        response = server.get(
            "/ws",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
            },
        )
    assert response.status_code == 501
    assert "appmux serve --server uvicorn" in response.text


class StreamingApp:
    """A WSGI app streaming up to 200 chunks slowly; records what it produced and closes."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = 0
        self.done = threading.Event()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self.Body(self)

    class Body:
        def __init__(self, app: StreamingApp) -> None:
            self.app = app

        def __iter__(self) -> Iterator[bytes]:
            for i in range(200):
                self.app.produced += 1
                yield f"chunk {i}\n".encode()
                time.sleep(0.05)

        def close(self) -> None:
            self.app.closed += 1
            self.app.done.set()


def test_a_client_that_leaves_stops_the_wsgi_stream_within_one_chunk() -> None:
    app = StreamingApp()
    with uvicorn_serving(as_asgi(app)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            received = b""
            while received.count(b"chunk") < 3:
                received += sock.recv(4096)
        left_at = app.produced
        assert app.done.wait(10), "close() never ran"
        time.sleep(0.3)
    assert app.closed == 1
    # Produced after the client left: the chunk in progress and the window at most.
    assert app.produced <= left_at + WINDOW + 2
    assert app.produced < 200


def test_a_slow_reader_holds_only_a_few_chunks() -> None:
    produced = []

    def big(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        for i in range(400):
            produced.append(i)
            yield b"z" * 256 * 1024

    with (
        uvicorn_serving(as_asgi(big)) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sock.recv(1024)
        time.sleep(1.0)  # read nothing: the app must stall, not run ahead
        stalled_at = len(produced)
    # Socket buffers hold a few MiB at most; the window holds WINDOW chunks.
    assert stalled_at < 40, stalled_at


def test_an_exception_before_the_response_is_a_500_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("secret-detail")

    with (
        caplog.at_level(logging.ERROR, logger="appmux"),
        uvicorn_serving(as_asgi(broken)) as server,
    ):
        response = server.get("/")
    assert response.status_code == 500
    assert "secret-detail" not in response.text and "Traceback" not in response.text
    assert "secret-detail" in caplog.text


def test_contextvars_reach_the_wsgi_thread() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def reads(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [var.get().encode()]

    bridge = as_asgi(reads)

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            var.set("from-the-loop")
        await bridge(scope, receive, send)

    with uvicorn_serving(outer, lifespan="off") as server:
        assert server.get("/").text == "from-the-loop"


def test_every_wsgi_app_shares_one_bounded_thread_pool() -> None:
    from appmux.asgi import SubdomainDispatcher

    def make(key: str) -> Any:
        def app(environ: Any, start_response: Any) -> list[bytes]:
            time.sleep(0.05)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [key.encode()]

        return app

    site = SubdomainDispatcher("example.test", make)
    with uvicorn_serving(site) as server:
        with httpx.Client(timeout=20) as client:

            def hit(n: int) -> str:
                return client.get(server.url, headers={"Host": f"t{n}.example.test"}).text

            threads = [threading.Thread(target=hit, args=(n,)) for n in range(60)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        # The process's one pool (other tests may have made it): bounded, whatever the tenants.
        bridge_threads = [t for t in threading.enumerate() if t.name.startswith("appmux-wsgi")]
        assert len(site.keys()) == 60
        assert 0 < len(bridge_threads) <= thread_pool()._max_workers <= max(32, settings.threads)


def test_asgi_app_under_the_wsgi_form_runs_its_lifespan_once_per_process() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"]["greeting"] = "hello"
                    events.append("startup")
                    await send({"type": "lifespan.startup.complete"})
                else:
                    events.append("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["state"]["greeting"].encode()})

    bridge = as_wsgi(app)
    with wsgi_serving(bridge) as server:
        assert [server.get("/").text for _ in range(3)] == ["hello"] * 3
    bridge.close()
    assert events == ["startup", "shutdown"]
    assert json.dumps(events)


def test_a_bridged_tenant_retired_mid_request_shuts_down_after_the_drain_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import appmux

    monkeypatch.setattr(settings, "drain_timeout", 0.5)
    events: list[str] = []

    def make(key: str) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    kind = message["type"].split(".")[1]
                    events.append(f"{kind} {key}")
                    await send({"type": f"lifespan.{kind}.complete"})
                    if kind == "shutdown":
                        return
            import asyncio

            await send({"type": "http.response.start", "status": 200, "headers": []})
            await asyncio.sleep(3 if scope["path"] == "/slow" else 0)
            await send({"type": "http.response.body", "body": key.encode()})

        return app

    site = appmux.SubdomainDispatcher("example.test", make)
    with wsgi_serving(site) as server:
        slow = threading.Thread(target=server.get, args=("/slow", "acme.example.test"))
        slow.start()
        time.sleep(0.5)  # the slow request is inside the instance
        assert events == ["startup acme"]
        site.invalidate("acme")
        deadline = time.monotonic() + 2.0
        while "shutdown acme" not in events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert events == ["startup acme", "shutdown acme"]  # before the request ended
        assert slow.is_alive()
        slow.join(10)
        assert server.get("/", host="acme.example.test").text == "acme"  # a new instance
        assert events[-1] == "startup acme"
