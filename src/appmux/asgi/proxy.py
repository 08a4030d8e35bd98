"""``[proxy]`` on the ASGI front: werkzeug's ``ProxyFix`` rules applied to a scope.

The trusted ``X-Forwarded-*`` hops are found exactly as werkzeug's
``ProxyFix`` finds them (it runs on an environ view of the scope), then
written back: the client address, the scheme, the ``Host`` header, the
server port and ``root_path``.
"""

from __future__ import annotations

from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix as WSGIProxyFix

from .nodes import Node
from .types import Receive, Scope, Send

__all__ = ["ProxyFix"]


class ProxyFix(Node):
    """Trust ``x_for``, ``x_proto``, ``x_host``, ``x_port``, ``x_prefix`` proxy hops."""

    def __init__(self, app: Any, **hops: int) -> None:
        self.app = app
        self._fix = WSGIProxyFix(self._capture, **hops)

    def _static_apps(self) -> Any:
        yield self.app

    @staticmethod
    def _capture(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return []  # ProxyFix has rewritten the environ in place

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.serve_lifespan(scope, receive, send)
            return
        headers = scope.get("headers", [])
        environ: dict[str, Any] = {}
        for name, value in headers:
            if name.startswith(b"x-forwarded-") or name == b"host":
                key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
                text = value.decode("latin-1")
                environ[key] = f"{environ[key]},{text}" if key in environ else text
        if len(environ) > ("HTTP_HOST" in environ):
            client = scope.get("client") or ("", 0)
            server = scope.get("server") or ("", None)
            secure = scope.get("scheme") in ("https", "wss")
            environ.update(
                REMOTE_ADDR=client[0],
                SERVER_NAME=server[0],
                SERVER_PORT=str(server[1] or ""),
                SCRIPT_NAME=scope.get("root_path", ""),
                PATH_INFO="",
            )
            environ["wsgi.url_scheme"] = "https" if secure else "http"
            self._fix(environ, None)  # type: ignore[arg-type]
            self._apply(scope, environ, secure)
        await self.app(scope, receive, send)

    @staticmethod
    def _apply(scope: Scope, environ: dict[str, Any], secure: bool) -> None:
        client = scope.get("client")
        if environ["REMOTE_ADDR"] != (client[0] if client else ""):
            scope["client"] = (environ["REMOTE_ADDR"], 0)
        scheme = environ["wsgi.url_scheme"]
        if (scheme == "https") != secure:
            websocket = scope["type"] == "websocket"
            scope["scheme"] = (
                ("wss" if websocket else "https")
                if scheme == "https"
                else ("ws" if websocket else "http")
            )
        host = environ.get("HTTP_HOST")
        if host is not None:
            encoded = host.encode("latin-1")
            scope["headers"] = [(n, v) for n, v in scope.get("headers", []) if n != b"host"]
            scope["headers"].append((b"host", encoded))
        server = scope.get("server")
        port = environ.get("SERVER_PORT", "")
        if port.isdigit() and server and str(server[1]) != port:
            scope["server"] = (environ["SERVER_NAME"], int(port))
        prefix = environ["SCRIPT_NAME"]
        if prefix != scope.get("root_path", ""):
            scope["root_path"] = prefix
            scope["path"] = prefix + scope.get("path", "")
