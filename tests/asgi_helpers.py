"""Running ASGI sites on a real uvicorn (in a thread, on a free loopback port) and
talking websockets to them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from servers import free_port
from websockets.sync.client import ClientConnection, connect


class Running:
    """A uvicorn serving in this process: ``url``, ``port``, and the server object."""

    def __init__(self, server: uvicorn.Server, port: int) -> None:
        self.server = server
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, host: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if host is not None:
            headers["Host"] = host
        return httpx.get(self.url + path, headers=headers, timeout=20, **kw)

    def websocket(self, path: str, host: str = "localhost") -> ClientConnection:
        """A websocket to ``path`` with ``Host: host`` (the socket goes to 127.0.0.1)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        return connect(f"ws://{host}:{self.port}{path}", sock=sock, open_timeout=20)


@contextmanager
def uvicorn_serving(app: Any, **config: Any) -> Iterator[Running]:
    """Serve ``app`` on uvicorn (lifespan on) until the block ends; fails if it does not start."""
    port = free_port()
    config.setdefault("lifespan", "on")
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config)
    )

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn exits when the site's lifespan startup fails
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Running(server, port)
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def wsgi_serving(app: Any) -> Iterator[Running]:
    """Serve the WSGI ``app`` on werkzeug's threaded server until the block ends."""
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(None, port)  # type: ignore[arg-type]
    finally:
        server.shutdown()
        thread.join(30)


def refused(running: Running, path: str, host: str) -> bool:
    """Whether a websocket handshake to ``path`` on ``host`` is refused (never accepted)."""
    from websockets.exceptions import InvalidStatus

    try:
        with running.websocket(path, host):
            return False
    except InvalidStatus:
        return True


class Reply:
    """What an in-process ASGI call answered."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")


def http_scope(
    path: str = "/",
    host: str | None = "example.com",
    root_path: str = "",
    server: tuple[str, int] | None = ("fallback.example.com", 80),
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP GET scope for ``path`` below ``root_path``, as a server makes it."""
    raw_headers = [(b"host", host.encode("latin-1"))] if host is not None else []
    for name, value in (headers or {}).items():
        raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    full = root_path + path
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": full,
        "raw_path": full.encode("utf-8"),
        "root_path": root_path,
        "query_string": b"",
        "headers": raw_headers,
        "server": server,
        "client": ("127.0.0.1", 5000),
    }


def asgi_call(
    app: Any,
    path: str = "/",
    host: str | None = "example.com",
    root_path: str = "",
    server: tuple[str, int] | None = ("fallback.example.com", 80),
    headers: dict[str, str] | None = None,
) -> Reply:
    """Call the ASGI ``app`` in-process with an HTTP scope (``path`` below ``root_path``)."""
    import asyncio

    scope = http_scope(path, host, root_path, server, headers)
    sent: list[dict[str, Any]] = []

    received: list[int] = []

    async def receive() -> dict[str, Any]:
        if not received:
            received.append(1)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # as a server does: nothing until the client leaves
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    heads = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in start["headers"]}
    return Reply(start["status"], heads, body)
