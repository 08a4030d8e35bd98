"""The apps the ASGI benchmarks serve (also imported by uvicorn in a subprocess).

``wsgi_appmux`` and ``wsgi_a2wsgi`` are the same WSGI hello app under each
bridge; ``raw_asgi`` is the native ASGI hello app they are measured against.
"""

from __future__ import annotations

from typing import Any

from a2wsgi import WSGIMiddleware

from appmux.interop import as_asgi

BODY = b"ok"
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
_BODY = {"type": "http.response.body", "body": BODY}


def raw_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [BODY]


async def raw_asgi(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(_START)
    await send(_BODY)


wsgi_appmux = as_asgi(raw_wsgi)
wsgi_a2wsgi = WSGIMiddleware(raw_wsgi)
