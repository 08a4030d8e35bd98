"""Zero-downtime reload: ``kill -HUP`` on ``appmux serve``, or ``appmux reload``.

A :class:`Reloader` rebuilds the site from its config file: it forgets the
modules imported from the config's folder (so edited app code is imported
afresh), parses the config, checks the new site as ``appmux check`` does, and
builds it. A broken site (a config error, an app that fails to import, an ASGI
app whose startup fails) changes nothing: the old site keeps serving and the
error is logged as one line naming the file and key. A sound one replaces the
old: on gunicorn new workers start with it and the old ones finish their
requests and exit; on waitress and the ASGI front the site is swapped in
place, and the old one's lazily created apps are retired once its requests
have finished.

``appmux serve`` keeps a state file beside the config
(``.<config name>.serve.json``: its pid and the outcome of the last reload),
which ``appmux reload`` reads to find the server, and to wait for the answer.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..interop.lifespan import Lifespan, spawn
from ..observe.observer import Observer
from .config import ConfigError, load_config
from .site import ServedSite, check_site, served_site

__all__ = [
    "ReloadFailed",
    "ReloadableASGI",
    "ReloadableWSGI",
    "Reloader",
    "read_state",
    "state_path",
]

logger = logging.getLogger("appmux")

#: Seconds an old site's requests get to finish before its apps are retired anyway.
DRAIN_TIMEOUT = 20.0


def state_path(config: Path) -> Path:
    """Where ``appmux serve`` of ``config`` keeps its state (pid, last reload)."""
    return config.with_name(f".{config.name}.serve.json")


def read_state(config: Path) -> dict[str, Any] | None:
    """The state of the server of ``config``, or ``None`` when none runs or ran."""
    try:
        data = json.loads(state_path(config).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def forget_site_modules(folder: Path) -> list[str]:
    """Drop the modules imported from ``folder`` (not appmux's own, nor installed
    packages), so that the next import reads their code afresh; their names."""
    root = folder.resolve()
    here = Path(__file__).resolve().parents[1]
    dropped = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if (
            path.is_relative_to(root)
            and not path.is_relative_to(here)
            and "site-packages" not in path.parts
        ):
            del sys.modules[name]
            dropped.append(name)
            if path.suffix == ".py":
                # A bytecode cache written in the same second as an edit of the same
                # size would pass for current: drop it, the source is read anew.
                Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
    importlib.invalidate_caches()
    return dropped


class ReloadFailed(Exception):
    """The new site is broken (one line naming the file and key)."""


class Reloader:
    """Builds the site of ``config`` anew, checked first, and records each outcome."""

    def __init__(self, config: Path, served: ServedSite, observer: Observer | None = None) -> None:
        self.config = config
        self.front = served.front
        self.observer = observer
        #: The site serving now (in this process).
        self.current = served
        #: Reloads done (ok or not); the state file's ``generation``.
        self.generation = 0
        self._pid = os.getpid()
        self.record(None)

    def rebuild(self) -> ServedSite:
        """The new site: checked as ``appmux check`` does, then built; :class:`ReloadFailed`."""
        forget_site_modules(self.config.parent)
        try:
            site = load_config(self.config)
            problems = check_site(site)
            if problems:
                raise ReloadFailed(problems[0])
            return served_site(site, self.observer, self.front)
        except ReloadFailed:
            raise
        except ConfigError as exc:
            raise ReloadFailed(str(exc)) from None
        except Exception as exc:  # an app's import-time code raised something else
            raise ReloadFailed(f"{self.config}: {type(exc).__name__}: {exc}") from None

    def rebuild_and_try(self) -> ServedSite:
        """:meth:`rebuild`, then the new site's ASGI lifespans started (and stopped) in a
        throwaway forked child, so that a pre-fork master, which must start no thread
        nor loop, refuses a site its new workers could not start."""
        new = self.rebuild()
        if not new.bridges and new.front != "asgi":
            return new
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the trial child: start the site as a worker would, report, leave
            os.close(read)
            code, message = 0, b""
            try:
                _start_and_stop(new)
            except Exception as exc:
                code, message = 1, str(exc).encode("utf-8", "replace")
            os.write(write, message[:4000])
            os._exit(code)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            reason = pipe.read().decode("utf-8", "replace")
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise ReloadFailed(reason or f"{self.config}: the new site could not start")
        return new

    def record(self, error: str | None) -> None:
        """Write the outcome of a reload (``None``: the site serves) to the state file."""
        state = {
            "pid": self._pid,
            "config": str(self.config),
            "generation": self.generation,
            "ok": error is None,
            "error": error,
            "at": time.time(),
        }
        path = state_path(self.config)
        temporary = path.with_name(f"{path.name}.{os.getpid()}")
        try:
            temporary.write_text(json.dumps(state))
            temporary.replace(path)
        except OSError as exc:
            logger.warning("cannot write %s: %s", path, exc)

    def failed(self, error: str) -> None:
        """A reload that changed nothing: logged as one line, and recorded."""
        logger.error("reload refused, still serving the old site: %s", error)
        self.generation += 1
        self.record(error)

    def succeeded(self) -> None:
        """A reload whose site serves now."""
        logger.info("reloaded %s: the new site serves", self.config)
        self.generation += 1
        self.record(None)

    def remove_state(self) -> None:
        """Forget the state file (the server stops)."""
        if os.getpid() == self._pid:
            state_path(self.config).unlink(missing_ok=True)


def _start_and_stop(site: ServedSite) -> None:
    """Start the site's ASGI lifespans and shut them down again (``LifespanFailed``)."""
    if site.front == "asgi":

        async def cycle() -> None:
            lifespan = Lifespan(site.app, "the new site")
            await lifespan.startup()
            await lifespan.shutdown()

        asyncio.run(cycle())
        return
    site.startup()
    site.shutdown()


def _retire_dispatcher(dispatcher: Any) -> None:
    """Retire a dispatcher's apps (each closes once idle); a registry one stops following."""
    if hasattr(dispatcher, "refresher"):
        dispatcher.close()
    else:
        dispatcher.clear()


class _InFlight:
    """Requests in flight on one site (on one event loop: no lock needed)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1


class ReloadableWSGI:
    """The WSGI app of a one-process server (waitress): the current site, swapped by :meth:`reload`.

    A request reads the current site once (one attribute); requests already in
    the old site finish there. Its lazily created apps are retired at once
    (each closes once its in-flight requests end); its bridged ASGI apps shut
    down after :data:`DRAIN_TIMEOUT`.
    """

    def __init__(self, reloader: Reloader) -> None:
        self.reloader = reloader
        self._app = reloader.current.app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._app(environ, start_response)

    def reload(self) -> None:
        """Build, check and start the new site, then swap it in (the outcome is recorded)."""
        reloader = self.reloader
        try:
            new = reloader.rebuild()
            new.startup()  # a bridged ASGI app's lifespan
        except Exception as exc:
            reloader.failed(str(exc))
            return
        old = reloader.current
        self._app = new.app
        reloader.current = new
        reloader.succeeded()
        for dispatcher in old.lazy:
            _retire_dispatcher(dispatcher)
        if old.bridges:
            timer = threading.Timer(DRAIN_TIMEOUT, _close_bridges, args=(old,))
            timer.daemon = True
            timer.start()


def _close_bridges(site: ServedSite) -> None:
    for bridge in reversed(site.bridges):
        bridge.close()


class ReloadableASGI:
    """The ASGI app of a one-process uvicorn: the current site, swapped on SIGHUP.

    It answers the server's lifespan itself (the current site's startup and,
    at the end, its shutdown); a new site's startup runs before it is swapped
    in, and a failure there leaves the old one serving.
    """

    def __init__(self, reloader: Reloader) -> None:
        self.reloader = reloader
        self._site = reloader.current
        self._lifespan = Lifespan(self._site.app, f"{reloader.config}")
        self._flight = _InFlight()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        flight = self._flight
        flight.enter()
        try:
            await self._site.app(scope, receive, send)
        finally:
            flight.leave()

    async def _serve_lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._lifespan.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self._loop = asyncio.get_running_loop()
                self.listen_for_hup(self._loop)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._lifespan.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def listen_for_hup(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reload on SIGHUP (from the server's loop)."""
        import signal

        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: spawn(self.reload()))
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals
            logger.warning("SIGHUP reloads are not available in this process")

    async def reload(self) -> None:
        """Build, check and start the new site, then swap it in (the outcome is recorded)."""
        from ..interop.threads import run_in_thread

        reloader = self.reloader
        try:
            new = await run_in_thread(reloader.rebuild)
            lifespan = Lifespan(new.app, f"{reloader.config}")
            await lifespan.startup()
        except Exception as exc:
            reloader.failed(str(exc))
            return
        old_lifespan, old_flight = self._lifespan, self._flight
        self._site, self._lifespan, self._flight = new, lifespan, _InFlight()
        reloader.current = new
        reloader.succeeded()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while old_flight.count > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await old_lifespan.shutdown()
