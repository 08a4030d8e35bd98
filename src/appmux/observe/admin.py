"""The admin listener: ``/metrics``, ``/status`` and ``/status.json``, never on the public port.

It runs beside the server in a process of its own, forked from ``appmux
serve`` before the server starts (so no thread runs in gunicorn's master when
it forks workers, and no worker inherits the admin socket). It reads what
every worker wrote to the run's metrics folder, and keeps answering while
workers restart. Without a token it refuses to listen beyond
loopback; with one, every request needs ``Authorization: Bearer <token>``
(compared in constant time), else ``401``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from ..background import forking_helper
from ..core.binds import Bind
from ..wsgi.types import Environ, StartResponse
from .exporter import metrics_available
from .page import render_main, render_page
from .status import process_running, read_retired, read_worker_status, server_status

__all__ = ["TOKEN_ENV", "AdminApp", "AdminListener", "check_bind"]

logger = logging.getLogger("appmux")

#: The environment variable that overrides ``[admin] token``.
TOKEN_ENV = "APPMUX_ADMIN_TOKEN"


class AdminApp:
    """The admin WSGI app over one run's metrics folder."""

    def __init__(
        self,
        directory: Path,
        routes: list[dict[str, str]],
        server: dict[str, Any],
        token: str | None = None,
    ) -> None:
        self.directory = directory
        self.route_table = routes
        self.server = server
        self._token = token.encode() if token else None

    def status(self) -> dict[str, Any]:
        """The whole server's status, merged from every live worker."""
        workers = read_worker_status(self.directory)  # retires the files of dead workers first
        return server_status(workers, self.route_table, self.server, read_retired(self.directory))

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._token is not None and not self._authorized(environ):
            return _answer(
                start_response,
                "401 Unauthorized",
                "text/plain",
                b"401: a bearer token is required\n",
                [("WWW-Authenticate", 'Bearer realm="appmux admin"')],
            )
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(
                start_response,
                "405 Method Not Allowed",
                "text/plain",
                b"405\n",
                [("Allow", "GET, HEAD")],
            )
        if path == "/metrics":
            return self._metrics(start_response)
        if path == "/status.json":
            body = json.dumps(self.status(), indent=1).encode()
            return _answer(start_response, "200 OK", "application/json", body)
        if path in ("/status", "/"):
            status = self.status()
            part = environ.get("QUERY_STRING", "") == "part=main"
            html = render_main(status) if part else render_page(status)
            return _answer(start_response, "200 OK", "text/html; charset=utf-8", html.encode())
        return _answer(
            start_response, "404 Not Found", "text/plain", b"404: /metrics, /status, /status.json\n"
        )

    def _authorized(self, environ: Environ) -> bool:
        given = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, credentials = given.partition(" ")
        assert self._token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode("latin-1", "replace"), self._token
        )

    def _metrics(self, start_response: StartResponse) -> Iterable[bytes]:
        if not metrics_available():
            return _answer(
                start_response,
                "501 Not Implemented",
                "text/plain",
                b"501: /metrics needs prometheus-client: pip install 'appmux[metrics]'\n",
            )
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        return _answer(start_response, "200 OK", CONTENT_TYPE_LATEST, generate_latest(registry))


def _answer(
    start_response: StartResponse,
    status: str,
    content_type: str,
    body: bytes,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        *(extra or []),
    ]
    start_response(status, headers)
    return [body]


class AdminListener:
    """Serves an :class:`AdminApp` on ``bind`` from a process of its own."""

    def __init__(self, app: AdminApp, bind: Bind) -> None:
        self.app = app
        self.bind = bind
        self._pid: int | None = None

    def start(self) -> None:
        """Listen now (raises ``OSError`` if the address is taken), serving from a child.

        Call it while this process runs no other thread: it forks.
        """
        # Bind here, so a taken address is an OSError in the caller.
        family = socket.AF_INET6 if ":" in self.bind.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.bind.host, self.bind.port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        parent = os.getpid()
        # Forked twice, so the admin process is no child of the server: a
        # pre-fork master's children are its workers, and it reaps only those.
        read_end, write_end = os.pipe()
        with forking_helper():  # the admin process runs none of the serving threads
            middle = os.fork()
        if middle == 0:
            status = 0
            try:
                os.close(read_end)
                with forking_helper():
                    admin = os.fork()
                if admin == 0:
                    os.close(write_end)
                    try:
                        _serve_admin(self.app, self.bind, sock, parent)
                    except BaseException:
                        logger.exception("the admin listener failed")
                        status = 1
                else:
                    os.write(write_end, str(admin).encode())
            finally:
                os._exit(status)
        os.close(write_end)
        sock.close()  # only the admin process listens: nothing else inherits it
        os.waitpid(middle, 0)
        with os.fdopen(read_end, "rb") as pipe:
            self._pid = int(pipe.read() or 0) or None
        logger.info("admin listener on http://%s/ (/metrics, /status, /status.json)", self.bind)

    @property
    def pid(self) -> int | None:
        """The admin process, while it runs."""
        return self._pid

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the admin process and wait until it has gone."""
        pid, self._pid = self._pid, None
        if pid is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + timeout
            while process_running(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not process_running(pid):
                return


def _serve_admin(app: AdminApp, bind: Bind, sock: socket.socket, parent: int) -> None:
    """The admin process's body: werkzeug's threaded server on the inherited socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server: it stops us
    server = make_server(
        bind.host, bind.port, app, threaded=True, request_handler=_QuietHandler, fd=sock.fileno()
    )

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    def watch_parent() -> None:
        while process_running(parent):
            time.sleep(0.5)
        server.shutdown()  # orphaned: the server is gone

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=watch_parent, name="appmux-admin-watch", daemon=True).start()
    server.serve_forever()
    server.server_close()


class _QuietHandler(WSGIRequestHandler):
    """No access log: scrapers poll every few seconds."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def check_bind(bind: Bind, token: str | None) -> None:
    """Refuse (``ValueError``, one line) to listen beyond loopback without a token."""
    if not bind.is_loopback and not token:
        raise ValueError(
            f"refusing to serve /metrics and /status on {bind} beyond loopback without"
            f" a token: set [admin] token or {TOKEN_ENV}"
        )
