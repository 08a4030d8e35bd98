"""Helpers to call WSGI apps in-process, always through wsgiref's validator."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any
from wsgiref.validate import validator


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.text = self.body.decode("utf-8", "replace")


def make_environ(
    path: str = "/",
    host: str | None = "example.com",
    script_name: str = "",
    method: str = "GET",
    **extra: Any,
) -> dict[str, Any]:
    """A complete PEP 3333 environ; ``host=None`` leaves out ``HTTP_HOST``."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "fallback.example.com",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if host is not None:
        environ["HTTP_HOST"] = host
    environ.update(extra)
    return environ


def call(app: Any, path: str = "/", host: str | None = "example.com", **kw: Any) -> Result:
    """Call ``app`` through ``wsgiref.validate.validator``; consume and close the body."""
    environ = make_environ(path, host, **kw)
    return call_environ(app, environ)


def call_environ(app: Any, environ: dict[str, Any], validate: bool = True) -> Result:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = status
        captured["headers"] = headers
        return lambda data: None

    wrapped = validator(app) if validate else app
    body_iter = wrapped(environ, start_response)
    try:
        body = b"".join(body_iter)
    finally:
        close = getattr(body_iter, "close", None)
        if close is not None:
            close()
    return Result(int(captured["status"].split()[0]), dict(captured["headers"]), body)


def echo_app(name: str) -> Any:
    """A WSGI app answering ``name|SCRIPT_NAME|PATH_INFO``."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = f"{name}|{environ.get('SCRIPT_NAME', '')}|{environ.get('PATH_INFO', '')}"
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [body.encode("latin-1")]

    app.__name__ = f"echo_app({name!r})"
    return app


class RecordingFactory:
    """A ``create_app`` that records its keys and builds an echo app per key."""

    def __init__(self, unknown: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.unknown = unknown or set()

    def __call__(self, key: str) -> Any:
        self.calls.append(key)
        if key in self.unknown:
            return None
        return echo_app(f"tenant:{key}")
