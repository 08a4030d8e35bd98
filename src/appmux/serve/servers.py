"""Server adapters for ``appmux serve``: gunicorn, waitress, uvicorn, the dev servers.

Each runs the site on a bind address until SIGTERM or SIGINT, then lets
in-flight requests finish and returns an exit status (0 for a clean stop, 1
when the site's lifespan startup failed). gunicorn runs a WSGI site with its
``sync``/``gthread`` workers, or an ASGI site with uvicorn's worker class
(``uvicorn``) or its own (``asgi``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..core.binds import Bind, parse_bind
from ..wsgi.types import WSGIApplication

__all__ = [
    "Bind",
    "default_server",
    "parse_bind",
    "run_dev",
    "run_dev_asgi",
    "run_gunicorn",
    "run_uvicorn",
    "run_waitress",
]

logger = logging.getLogger("appmux")

#: Seconds that in-flight requests get to finish after SIGTERM or SIGINT.
GRACEFUL_TIMEOUT = 20
#: gunicorn's worker classes by the names appmux takes.
WORKER_CLASSES = {
    "sync": "sync",
    "gthread": "gthread",
    "asgi": "asgi",  # gunicorn's own ASGI worker (gunicorn >= 27)
    "uvicorn": "appmux.serve.servers.AppmuxUvicornWorker",
}
#: gunicorn's exit status when a worker failed to boot (a lifespan startup failed).
WORKER_BOOT_ERROR = 3


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
    app: Any,
    bind: Bind,
    workers: int,
    threads: int,
    *,
    on_worker_exit: Callable[[int], None] | None = None,
    worker_class: str | None = None,
    on_worker_start: Callable[[], None] | None = None,
    on_worker_stop: Callable[[], None] | None = None,
    reload: Callable[[], Any] | None = None,
    reloaded: Callable[[], None] | None = None,
) -> int:
    """Serve ``app`` with gunicorn; SIGINT is graceful like SIGTERM.

    ``worker_class``: one of :data:`WORKER_CLASSES` (default ``gthread`` with
    threads, else ``sync``). ``on_worker_exit(pid)`` runs in the master when a
    worker has exited; ``on_worker_start()`` in each worker before it serves
    (a failure stops the server with status 1), ``on_worker_stop()`` as it exits.

    With ``reload``, SIGHUP calls ``reload()`` in the master: it returns the
    new site's app, or ``None`` to keep the old one. New workers then serve
    the new app while the old ones finish their requests and exit; once the
    last has, ``reloaded()`` runs.
    """
    current: list[Any] = [app]
    retiring: set[int] = set()
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter
    from gunicorn.errors import HaltServer

    class GracefulArbiter(Arbiter):  # type: ignore[misc]
        # gunicorn stops at once on SIGINT; we let in-flight requests finish.
        def handle_int(self) -> None:
            raise StopIteration

        def handle_hup(self) -> None:
            if reload is None:
                super().handle_hup()
                return
            new = reload()  # built and checked here, in the master, before any fork
            if new is None:
                return  # broken: the old workers go on serving the old site
            current[0] = new
            retiring.update(self.WORKERS)
            super().handle_hup()  # new workers load current[0]; the old ones stop gracefully
            if not retiring and reloaded is not None:
                reloaded()

    class AppmuxGunicorn(BaseApplication):  # type: ignore[misc]
        def __init__(self) -> None:
            self.options = {
                "bind": [str(bind)],
                "workers": workers,
                "threads": threads,
                "worker_class": WORKER_CLASSES[
                    worker_class or ("gthread" if threads > 1 else "sync")
                ],
                "graceful_timeout": GRACEFUL_TIMEOUT,
                "accesslog": "-",
                "errorlog": "-",
                "proc_name": "appmux",
            }
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)
            self.cfg.set("child_exit", lambda arbiter, worker: exited(worker.pid))
            if on_worker_start is not None:
                self.cfg.set("post_worker_init", _starting(on_worker_start))
            if on_worker_stop is not None:
                self.cfg.set("worker_exit", lambda arbiter, worker: on_worker_stop())
            if worker_class == "asgi":
                self.cfg.set("asgi_lifespan", "on")
            if "control_socket_disable" in self.cfg.settings:
                # gunicorn >= 25's control socket lives at one path per user:
                # two appmux servers would fight over it.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return current[0]

        def run(self) -> None:
            GracefulArbiter(self).run()

    def exited(pid: int) -> None:
        if on_worker_exit is not None:
            on_worker_exit(pid)
        if pid in retiring:
            retiring.discard(pid)
            if not retiring and reloaded is not None:
                reloaded()

    # gunicorn's own error-log format, so appmux lines read like the server's.
    _log_like("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z")
    master = os.getpid()
    try:
        try:
            AppmuxGunicorn().run()
        except HaltServer as halt:
            # gunicorn's halt() reaps the other workers: a second worker that failed
            # to boot raises this again, outside the arbiter's own handler.
            raise SystemExit(halt.exit_status) from None
    except SystemExit as exit:
        # A worker is a fork that unwinds this same stack: its status is the master's to read.
        if exit.code == WORKER_BOOT_ERROR and os.getpid() == master:
            logger.error("a worker could not start the site (see above): stopping")
            return 1
        return exit.code if isinstance(exit.code, int) else 1
    except RuntimeError as exc:
        logger.error("gunicorn failed: %s", exc)
        return 1
    return 0


def _starting(start: Callable[[], None]) -> Callable[[Any], None]:
    """A ``post_worker_init`` hook: a failing start stops the worker as a boot error."""

    def post_worker_init(worker: Any) -> None:
        try:
            start()
        except Exception as exc:
            logger.error("%s", exc)
            sys.exit(WORKER_BOOT_ERROR)

    return post_worker_init


def _uvicorn_worker_class() -> Any:
    from uvicorn_worker import UvicornWorker

    class Worker(UvicornWorker):  # type: ignore[misc]
        # appmux drives lifespans itself and [proxy] decides what to trust.
        CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
            "loop": "auto",
            "http": "auto",
            "lifespan": "on",
            "proxy_headers": False,
        }

    return Worker


def __getattr__(name: str) -> Any:
    # gunicorn imports the worker class by name; uvicorn-worker is an optional extra.
    if name == "AppmuxUvicornWorker":
        return _uvicorn_worker_class()
    raise AttributeError(name)


# -- uvicorn ------------------------------------------------------------------------


def run_uvicorn(app: Any, bind: Bind) -> int:
    """Serve the ASGI ``app`` with uvicorn in this process (websockets included).

    Status 1 when the site's lifespan startup failed (the reason is logged).
    """
    import uvicorn

    config = uvicorn.Config(
        app,
        host=bind.host,
        port=bind.port,
        lifespan="on",
        proxy_headers=False,  # [proxy] decides which X-Forwarded-* to trust
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT,
        log_level="info",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it stopped on once it has shut down, to the
    # handlers it found: ours, so a clean stop exits 0 as on the other servers.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    except SystemExit as exit:
        return 1 if exit.code else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        return 1
    return 0


def run_dev_asgi(factory: str, bind: Bind, watch: list[Path]) -> int:
    """uvicorn with its reloader: ``factory`` (``module:function``) builds the site in the
    reloaded process; code and the ``watch`` files restart it."""
    import uvicorn

    folders = sorted({str(path.parent) for path in watch})
    uvicorn.run(
        factory,
        factory=True,
        host=bind.host,
        port=bind.port,
        reload=True,
        reload_dirs=folders,
        reload_includes=["*.py", *[path.name for path in watch]],
        lifespan="on",
        proxy_headers=False,
        log_level="info",
    )
    return 0


# -- waitress ---------------------------------------------------------------------


def run_waitress(
    app: WSGIApplication,
    bind: Bind,
    threads: int,
    *,
    keep_proxy_headers: bool = False,
    reload: Callable[[], Any] | None = None,
) -> int:
    """Serve ``app`` with waitress; on SIGTERM/SIGINT stop accepting and drain.

    waitress drops ``X-Forwarded-*`` headers from untrusted peers by default;
    ``keep_proxy_headers`` (set when the site has ``[proxy]``, whose ProxyFix
    decides what to trust) passes them on, as gunicorn does. With ``reload``,
    SIGHUP runs ``reload()`` in a thread of its own while requests go on.
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
    if reload is not None:

        def hup(signum: int, frame: Any) -> None:
            threading.Thread(target=reload, daemon=True, name="appmux-reload").start()

        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, hup)
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
