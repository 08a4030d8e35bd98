"""Monitoring for one ``appmux serve`` run: its metrics folder, exporter and admin listener.

A fresh folder per run holds prometheus-client's multiprocess files and every
worker's status file; ``PROMETHEUS_MULTIPROC_DIR`` points at it before
prometheus-client is imported. Dead workers are marked (their live gauges
drop out); the folder is removed when the run ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from ..core.binds import parse_bind
from ..observe.admin import TOKEN_ENV, AdminApp, AdminListener, check_bind
from ..observe.exporter import Exporter, metrics_available
from ..observe.observer import Observer
from ..observe.status import retire_worker
from .config import ConfigError, SiteConfig
from .site import route_rows

__all__ = ["Monitoring"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Monitoring:
    """Everything ``[admin]`` asks of one run; ``Monitoring.of(site)`` is ``None`` without it."""

    def __init__(self, site: SiteConfig, server_name: str) -> None:
        assert site.admin is not None
        token = os.environ.get(TOKEN_ENV) or site.admin.token
        try:
            bind = parse_bind(site.admin.bind)
            check_bind(bind, token)
        except ValueError as exc:
            raise ConfigError(site.path, "admin.bind", str(exc)) from None
        self.directory = Path(tempfile.mkdtemp(prefix="appmux-metrics-"))
        self._owner = os.getpid()
        os.environ[MULTIPROC_ENV] = str(self.directory)
        self.observer = Observer(site.metrics.per_tenant, site.metrics.per_tenant_limit)
        self.exporter = Exporter(self.observer, self.directory)
        self.observer.on_request = self.exporter.ensure_running
        routes = [
            {k: v for k, v in asdict(row).items() if k != "options"} for row in route_rows(site)
        ]
        server = {"name": server_name, "config": str(site.path), "pid": os.getpid()}
        self.listener = AdminListener(AdminApp(self.directory, routes, server, token), bind)

    @classmethod
    def of(cls, site: SiteConfig, server_name: str) -> Monitoring | None:
        """The run's monitoring, or ``None`` when the site has no ``[admin]``."""
        return cls(site, server_name) if site.admin is not None else None

    def start(self) -> None:
        """Listen on the admin address (``OSError`` if it is taken), from a process of its own.

        Call it before the site is built: it forks, and the site's apps may start threads.
        """
        self.listener.start()

    def worker_exited(self, pid: int) -> None:
        """Mark a dead worker: its live gauges leave the sums, its totals stay counted."""
        if metrics_available():
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, str(self.directory))  # type: ignore[no-untyped-call]
        retire_worker(self.directory, pid)

    def close(self) -> None:
        """Stop listening and remove the run's folder (in the process that made it only).

        A gunicorn worker is a fork of the master that unwinds the same stack when
        it exits: it must leave the folder to the master.
        """
        if os.getpid() != self._owner:
            return
        self.exporter.stop()
        self.listener.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        if os.environ.get(MULTIPROC_ENV) == str(self.directory):
            del os.environ[MULTIPROC_ENV]
