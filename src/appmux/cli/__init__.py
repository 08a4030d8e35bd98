"""The ``appmux`` command: serve a composed site, and explain its routing.

::

    appmux serve                     # appmux.toml here: gunicorn, or uvicorn for ASGI apps
    appmux serve --dev               # werkzeug's reloader and debugger, loopback only
    appmux routes                    # the routing table
    appmux check                     # import every app and factory, report problems
    appmux resolve http://acme.localhost:8000/about
    appmux reload                    # the running server: new config and code, no dropped request

Problems in the config file are one line naming the file and the key, with
exit status 2.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from ..core.binds import parse_bind
from ..interop import settings as bridge_settings
from ..observe.admin import TOKEN_ENV
from ..observe.page import format_status
from ..observe.status import process_running
from ..serve.config import ConfigError, SiteConfig, find_config, load_config
from ..serve.monitoring import Monitoring
from ..serve.reload import (
    ReloadableASGI,
    ReloadableWSGI,
    Reloader,
    ReloadFailed,
    read_state,
)
from ..serve.servers import (
    default_server,
    run_dev,
    run_dev_asgi,
    run_gunicorn,
    run_uvicorn,
    run_waitress,
)
from ..serve.site import (
    build_site,
    check_site,
    needs_asgi,
    resolve_url,
    route_rows,
    served_site,
)
from . import registry as registry_commands

CONFIG_HELP = "CONFIG defaults to ./appmux.toml, then ./pyproject.toml with [tool.appmux]."


__all__ = ["cli", "main"]


def _fail(message: str, status: int = 2) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(status)


def _config_path(config: str | None) -> Path:
    """CONFIG, else ./appmux.toml (or a pyproject.toml with [tool.appmux])."""
    if config is not None:
        return Path(config)
    found = find_config(Path.cwd())
    if found is None:
        _fail(f"no appmux.toml, nor a pyproject.toml with [tool.appmux], in {Path.cwd()}")
    return found


def _load(config: str | None) -> SiteConfig:
    try:
        return load_config(_config_path(config))
    except ConfigError as exc:
        _fail(str(exc))


config_argument = click.argument(
    "config", required=False, type=click.Path(dir_okay=False, path_type=str)
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="appmux")
def cli() -> None:
    """Serve many WSGI and ASGI apps (Flask, Django, FastAPI...) from one config file.

    \b
    Examples:
      appmux serve                       # ./appmux.toml on gunicorn, 127.0.0.1:8000
      appmux serve --dev                 # reloader + debugger, loopback only
      appmux routes                      # the routing table
      appmux check                       # import everything, report every problem
      appmux resolve http://acme.localhost:8000/about
      appmux tenants add initech --set theme=dark   # the tenant registry
      appmux domains add shop.acme.com --tenant acme
    """


@cli.command(epilog=CONFIG_HELP)
@config_argument
@click.option(
    "--bind",
    "-b",
    metavar="HOST:PORT",
    help="Where to listen [default: 127.0.0.1:8000, --dev: 127.0.0.1:5000].",
)
@click.option(
    "--workers", "-w", type=click.IntRange(min=1), help="Worker processes (gunicorn) [default: 1]."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="Threads per worker [default: 1 gunicorn, 4 waitress].",
)
@click.option(
    "--server",
    type=click.Choice(["gunicorn", "waitress", "uvicorn"]),
    help="Production server [default: uvicorn for a site with ASGI apps, else gunicorn"
    " where it runs, else waitress].",
)
@click.option(
    "--worker-class",
    type=click.Choice(["sync", "gthread", "asgi"]),
    help="gunicorn's worker class [default: gthread with --threads, else sync; asgi: its"
    " ASGI worker].",
)
@click.option(
    "--dev", is_flag=True, help="Werkzeug's dev server with reloader and interactive debugger."
)
@click.option(
    "--allow-remote-dev",
    is_flag=True,
    help="Let --dev bind beyond loopback (the debugger runs code!).",
)
def serve(
    config: str | None,
    bind: str | None,
    workers: int | None,
    threads: int | None,
    server: str | None,
    worker_class: str | None,
    dev: bool,
    allow_remote_dev: bool,
) -> None:
    """Serve the site described by CONFIG.

    \b
    Examples:
      appmux serve                          # ./appmux.toml on 127.0.0.1:8000
      appmux serve site.toml -b 0.0.0.0:8000 -w 4 --threads 8
      appmux serve --server waitress
      appmux serve --server uvicorn -w 4    # ASGI: uvicorn workers under gunicorn
      appmux serve --server gunicorn --worker-class asgi
      appmux serve --dev                    # reloads on code and config changes

    [server] in the config gives defaults for --bind, --workers, --threads,
    --server and --worker-class. A site with any ASGI app is served on uvicorn
    unless --server says otherwise (WSGI servers bridge its ASGI apps, without
    websockets). SIGTERM or SIGINT stops the server after in-flight requests finish.
    """
    site = _load(config)
    settings = site.server
    bridge_settings.threads = site.asgi.threads
    bridge_settings.drain_timeout = site.asgi.drain_timeout
    bridge_settings.lifespan_timeout = site.asgi.lifespan_timeout
    worker_class = worker_class or settings.worker_class
    chosen = server or settings.server
    if worker_class is not None and chosen not in (None, "gunicorn"):
        _fail(f"--worker-class goes with gunicorn, not {chosen}")
    try:
        where = parse_bind(bind or settings.bind or ("127.0.0.1:5000" if dev else "127.0.0.1:8000"))
    except ValueError as exc:
        _fail(f"--bind: {exc}" if bind else f"{site.path}: server.bind: {exc}")
    if dev:
        if site.admin is not None:
            click.echo("appmux: --dev serves no [admin] listener (metrics, status page)", err=True)
        if not where.is_loopback:
            if not allow_remote_dev:
                _fail(
                    f"--dev runs werkzeug's interactive debugger, which executes code: refusing "
                    f"to bind {where} beyond loopback (add --allow-remote-dev if you mean it)"
                )
            click.echo(f"WARNING: the debugger is reachable from the network on {where}", err=True)
        try:  # fail before the reloader starts if the site does not build
            asgi_site = needs_asgi(site)
            if not asgi_site:
                build_site(site)
        except ConfigError as exc:
            _fail(str(exc))
        if asgi_site:  # uvicorn's reloader: websockets work, no debugger
            import os

            from ..serve.devsite import CONFIG_ENV

            os.environ[CONFIG_ENV] = str(site.path)
            sys.exit(run_dev_asgi("appmux.serve.devsite:create", where, [site.path]))
        sys.exit(run_dev(lambda: build_site(site), where, [site.path]))
    try:
        if chosen is None:
            chosen = "uvicorn" if needs_asgi(site) and worker_class is None else default_server()
    except ConfigError as exc:
        _fail(str(exc))
    front = "asgi" if chosen == "uvicorn" or worker_class == "asgi" else "wsgi"
    try:
        monitoring = Monitoring.of(site, chosen)
    except ConfigError as exc:
        _fail(str(exc))
    n_threads = threads or settings.threads
    try:
        if monitoring is not None:
            try:
                monitoring.start()
            except OSError as exc:
                _fail(
                    f"{site.path}: admin.bind: cannot listen on {monitoring.listener.bind}: {exc}"
                )
        try:
            served = served_site(site, monitoring.observer if monitoring else None, front)
        except ConfigError as exc:
            _fail(str(exc))
        click.echo(f"appmux: serving {site.path} with {chosen} on http://{where}/", err=True)
        reloader = Reloader(site.path, served, monitoring.observer if monitoring else None)
        try:
            status = _run(
                reloader,
                chosen,
                worker_class,
                where,
                workers or settings.workers or 1,
                n_threads,
                site,
                monitoring,
            )
        finally:
            reloader.remove_state()
    finally:
        if monitoring is not None:
            monitoring.close()
    sys.exit(status)


def _run(
    reloader: Reloader,
    chosen: str,
    worker_class: str | None,
    where: Any,
    n_workers: int,
    n_threads: int | None,
    site: SiteConfig,
    monitoring: Monitoring | None,
) -> int:
    """Run the reloader's site on the chosen server; the exit status."""
    served = reloader.current
    on_worker_exit = monitoring.worker_exited if monitoring else None

    def reload_in_master() -> Any:
        try:
            reloader.current = reloader.rebuild_and_try()
        except ReloadFailed as exc:
            reloader.failed(str(exc))
            return None
        return reloader.current.app

    if chosen == "uvicorn":
        if n_workers == 1:
            return run_uvicorn(ReloadableASGI(reloader), where)
        return run_gunicorn(
            served.app,
            where,
            n_workers,
            1,
            on_worker_exit=on_worker_exit,
            worker_class="uvicorn",
            reload=reload_in_master,
            reloaded=reloader.succeeded,
        )
    if chosen == "gunicorn":
        return run_gunicorn(
            served.app,
            where,
            n_workers,
            n_threads or 1,
            on_worker_exit=on_worker_exit,
            worker_class=worker_class,
            # The site a worker starts with is the one current when it was forked.
            on_worker_start=lambda: reloader.current.startup(),
            on_worker_stop=lambda: reloader.current.shutdown(),
            reload=reload_in_master,
            reloaded=reloader.succeeded,
        )
    if n_workers > 1:
        click.echo("appmux: waitress runs one process; workers is ignored", err=True)
    try:
        served.startup()
    except Exception as exc:
        click.echo(f"Error: {exc}", err=True)
        return 1
    reloadable = ReloadableWSGI(reloader)
    try:
        return run_waitress(
            reloadable,
            where,
            n_threads or 4,
            keep_proxy_headers=bool(site.proxy),
            reload=reloadable.reload,
        )
    finally:
        reloader.current.shutdown()


@cli.command(name="reload", epilog=CONFIG_HELP)
@config_argument
@click.option(
    "--timeout", default=60.0, show_default=True, help="Seconds to wait for the new site."
)
def reload_command(config: str | None, timeout: float) -> None:
    """Reload the running `appmux serve` of CONFIG: new config, new code, no dropped request.

    The server re-reads the config and re-imports the apps' code, checks the
    new site as `appmux check` does, and switches to it only if it is sound:
    requests in flight finish on the old site. Exit status 0 once the new site
    serves; 1 (with the error, one line naming the file and key) if it was
    broken and the old site serves on. The same as `kill -HUP` on the server.

    \b
    Example:
      appmux reload examples/appmux.toml
    """
    path = _config_path(config).resolve()
    state = read_state(path)
    pid = state.get("pid") if state else None
    if not isinstance(pid, int) or not process_running(pid):
        _fail(f"{path}: no running `appmux serve` of this config", 1)
    before = state["generation"] if state else 0
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(path)
        if state is not None and state.get("generation", 0) > before:
            break
        if time.monotonic() > deadline:
            _fail(f"{path}: the server (pid {pid}) did not finish reloading in {timeout:g} s", 1)
        time.sleep(0.05)
    if not state.get("ok"):
        _fail(str(state.get("error")), 1)
    click.echo(f"{path}: reloaded (pid {pid} serves the new site)")


@cli.command(epilog=CONFIG_HELP)
@config_argument
def routes(config: str | None) -> None:
    """Print the routing table: host, prefix, target, kind and pool options.

    \b
    Example:
      appmux routes examples/appmux.toml
    """
    rows = route_rows(_load(config))
    header = ("HOST", "PREFIX", "TARGET", "KIND", "OPTIONS")
    table = [header] + [(r.host, r.prefix, r.target, r.kind, r.options) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@cli.command(epilog=CONFIG_HELP)
@config_argument
def check(config: str | None) -> None:
    """Import every app and factory; report every problem (exit 0 when all is well).

    \b
    Example:
      appmux check && appmux serve
    """
    site = _load(config)
    problems = check_site(site)
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    if problems:
        sys.exit(2)
    click.echo(f"{site.path}: OK ({len(route_rows(site))} routes)")


@cli.command(epilog=CONFIG_HELP)
@click.argument("url")
@config_argument
def resolve(url: str, config: str | None) -> None:
    """Show which app URL reaches, with its SCRIPT_NAME, PATH_INFO and tenant key.

    No app runs: the site is built with probes in place of the apps. Exit
    status 1 when no app is reached (the dispatchers answer 400 or 404).

    \b
    Examples:
      appmux resolve http://localhost:8000/backend/users
      appmux resolve http://acme.localhost:8000/about examples/appmux.toml
    """
    site = _load(config)
    try:
        found = resolve_url(site, url)
    except ValueError as exc:
        _fail(str(exc))
    if found.target is None:
        click.echo(f"no app: the dispatchers answer {found.status}")
        sys.exit(1)
    click.echo(f"target:      {found.target}")
    click.echo(f"kind:        {found.kind}")
    click.echo(f"SCRIPT_NAME: {found.script_name!r}")
    click.echo(f"PATH_INFO:   {found.path_info!r}")
    click.echo(f"tenant key:  {'-' if found.tenant_key is None else repr(found.tenant_key)}")


@cli.command(epilog=CONFIG_HELP)
@config_argument
@click.option(
    "--admin",
    "admin_url",
    metavar="URL",
    help="The admin listener [default: http://<[admin] bind of CONFIG>].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw /status.json.")
def status(config: str | None, admin_url: str | None, as_json: bool) -> None:
    """Show the running server: routes, tenants, registry and workers.

    Reads /status.json from the admin listener (APPMUX_ADMIN_TOKEN, else
    [admin] token, is sent as a bearer token). Exit status 1 when it does not answer.

    \b
    Examples:
      appmux status
      appmux status --admin http://127.0.0.1:9100 --json
    """
    import json
    import os
    import urllib.error
    import urllib.request

    token = os.environ.get(TOKEN_ENV)
    if admin_url is None:
        site = _load(config)
        if site.admin is None:
            _fail(f"{site.path}: no [admin] table: give --admin URL", 1)
        admin_url = f"http://{site.admin.bind}"
        token = token or site.admin.token
    request = urllib.request.Request(admin_url.rstrip("/") + "/status.json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        _fail(f"{admin_url}: {exc.code} {exc.reason}", 1)
    except (OSError, ValueError) as exc:
        _fail(f"{admin_url}: no answer: {exc}", 1)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    click.echo(format_status(data))


cli.add_command(registry_commands.registry)
cli.add_command(registry_commands.tenants)
cli.add_command(registry_commands.domains)


def main() -> None:
    """Entry point of the ``appmux`` console script."""
    cli()
