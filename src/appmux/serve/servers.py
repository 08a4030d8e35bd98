"""Server adapters for ``appmux serve``: gunicorn, waitress, werkzeug's dev server.

Each runs a WSGI app on a bind address until SIGTERM or SIGINT, then lets
in-flight requests finish and returns an exit status (0 for a clean stop).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.binds import Bind, parse_bind
from ..wsgi.types import WSGIApplication

__all__ = ["Bind", "default_server", "parse_bind", "run_dev", "run_gunicorn", "run_waitress"]

logger = logging.getLogger("appmux")

#: Seconds that in-flight requests get to finish after SIGTERM or SIGINT.
GRACEFUL_TIMEOUT = 20


def default_server() -> str:
    """gunicorn where it runs (it needs ``fork``), waitress otherwise."""
    if sys.platform != "win32":
        try:
            import gunicorn  # noqa: F401
        except ImportError:
            pass
        else:
            return "gunicorn"
    return "waitress"


# -- gunicorn ---------------------------------------------------------------------


def run_gunicorn(
    app: WSGIApplication,
    bind: Bind,
    workers: int,
    threads: int,
    *,
    on_worker_exit: Callable[[int], None] | None = None,
) -> int:
    """Serve ``app`` with gunicorn; SIGINT is graceful like SIGTERM.

    ``on_worker_exit(pid)`` runs in the master when a worker has exited.
    """
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    class GracefulArbiter(Arbiter):  # type: ignore[misc]
        # gunicorn stops at once on SIGINT; we let in-flight requests finish.
        def handle_int(self) -> None:
            raise StopIteration

    class AppmuxGunicorn(BaseApplication):  # type: ignore[misc]
        def __init__(self) -> None:
            self.options = {
                "bind": [str(bind)],
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread" if threads > 1 else "sync",
                "graceful_timeout": GRACEFUL_TIMEOUT,
                "accesslog": "-",
                "errorlog": "-",
                "proc_name": "appmux",
            }
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)
            if on_worker_exit is not None:
                self.cfg.set("child_exit", lambda arbiter, worker: on_worker_exit(worker.pid))
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn >= 25's control socket lives at one path per user:
                # two appmux servers would fight over it.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> WSGIApplication:
            return app

        def run(self) -> None:
            GracefulArbiter(self).run()

    # gunicorn's own error-log format, so appmux lines read like the server's.
    _log_like("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z")
    try:
        AppmuxGunicorn().run()
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else 1
    except RuntimeError as exc:
        logger.error("gunicorn failed: %s", exc)
        return 1
    return 0


# -- waitress ---------------------------------------------------------------------


def run_waitress(
    app: WSGIApplication, bind: Bind, threads: int, *, keep_proxy_headers: bool = False
) -> int:
    """Serve ``app`` with waitress; on SIGTERM/SIGINT stop accepting and drain.

    waitress drops ``X-Forwarded-*`` headers from untrusted peers by default;
    ``keep_proxy_headers`` (set when the site has ``[proxy]``, whose ProxyFix
    decides what to trust) passes them on, as gunicorn does.
    """
    from waitress.channel import HTTPChannel
    from waitress.server import create_server
    from waitress.wasyncore import loop

    _log_like("%(levelname)s:%(name)s:%(message)s", None)
    try:
        server = create_server(
            app,
            host=bind.host,
            port=bind.port,
            threads=threads,
            clear_untrusted_proxy_headers=not keep_proxy_headers,
        )
    except OSError as exc:
        logger.error("cannot listen on %s: %s", bind, exc)
        return 1
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)
        server.pull_trigger()  # wake the event loop

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    server.print_listen("Serving on http://{}:{}")
    try:
        while not stopping:
            loop(timeout=1.0, map=server._map, count=1)
        logger.info("Shutting down: finishing in-flight requests")
        server.accepting = False
        server.socket.close()  # refuse new connections at once

        def busy() -> bool:
            return any(
                isinstance(ch, HTTPChannel) and (ch.requests or ch.total_outbufs_len)
                for ch in list(server._map.values())
            )

        deadline = time.monotonic() + GRACEFUL_TIMEOUT
        while busy() and time.monotonic() < deadline:
            loop(timeout=0.1, map=server._map, count=1)
    finally:
        server.task_dispatcher.shutdown()
        for channel in list(server._map.values()):
            channel.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


# -- werkzeug's development server --------------------------------------------------


def run_dev(build: Callable[[], WSGIApplication], bind: Bind, watch: list[Path]) -> int:
    """Serve with werkzeug's reloader (also watching ``watch``) and debugger.

    ``build`` runs in the reloader's child process, so edits to the config
    file or the apps take effect on restart.
    """
    from werkzeug.serving import is_running_from_reloader, run_simple

    app = build() if is_running_from_reloader() else _NotYetBuilt()
    run_simple(
        bind.host,
        bind.port,
        app,
        use_reloader=True,
        use_debugger=True,
        use_evalex=True,
        threaded=True,
        extra_files=[str(path) for path in watch],
    )
    return 0


class _NotYetBuilt:
    """The reloader's parent process never serves; the child builds the real app."""

    def __call__(self, environ: Any, start_response: Any) -> Any:  # pragma: no cover
        raise RuntimeError("the development server's parent process does not serve")


def _log_like(fmt: str, datefmt: str | None) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=fmt, datefmt=datefmt)
