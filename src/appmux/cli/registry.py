"""``appmux registry``, ``appmux tenants`` and ``appmux domains``: the registry from a shell.

The registry is ``--registry URL``, else ``APPMUX_REGISTRY_URL``, else
``[registry] url`` of the config file (``--site PATH``, else found as ``appmux
serve`` finds it: ``./appmux.toml``, then ``./pyproject.toml``). Every
refused input is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from ..registry.records import STATUSES, TenantRecord, check_domain, check_key
from ..registry.snapshot import DomainRow
from ..registry.store import SCHEMA_VERSION, Registry, RegistryUnavailable, SchemaTooNew
from ..serve.config import REGISTRY_URL_ENV, ConfigError, SiteConfig, find_config, load_config

__all__ = ["domains", "registry", "tenants"]

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(status)


@dataclass
class Target:
    """The registry a command works on, and what the site config says of it."""

    registry: Registry
    reserved: tuple[str, ...] = ("www",)
    base_domains: tuple[str, ...] = ()


def _target(registry_url: str | None, config_path: str | None) -> Target:
    site: SiteConfig | None = None
    if config_path is not None or registry_url is None:
        path = Path(config_path) if config_path else find_config(Path.cwd())
        if path is not None:
            try:
                site = load_config(path)
            except ConfigError as exc:
                _fail(str(exc), 2)
    url = registry_url or (site.registry_url() if site else None)
    if not url:
        _fail(f"no registry: give --registry URL, set {REGISTRY_URL_ENV}, or [registry] url")
    try:
        if site is None:
            registry = Registry(url)
        else:
            registry = Registry(url, log_retention=site.registry.log_retention)
    except ValueError as exc:
        _fail(str(exc))
    if site is None:
        return Target(registry)
    return Target(registry, site.registry.reserved, site.base_domains())


def registry_options(command: F) -> F:
    """Add ``--registry URL`` and ``--site PATH`` (the site config) to a command."""

    command = site_option(command)
    return registry_option(command)


site_option = click.option(
    "--site",
    "config_path",
    metavar="PATH",
    help="The site config whose [registry] to use [default: ./appmux.toml].",
)
registry_option = click.option(
    "--registry",
    "registry_url",
    metavar="URL",
    envvar=REGISTRY_URL_ENV,
    help=f"sqlite:///tenants.db or postgresql://... [env: {REGISTRY_URL_ENV}].",
)


def _run(target: Target, action: Callable[[Registry], Any]) -> Any:
    try:
        return action(target.registry)
    except (ValueError, RegistryUnavailable, SchemaTooNew) as exc:
        _fail(str(exc))
    finally:
        target.registry.close()


def _parse_pairs(pairs: Iterable[str]) -> dict[str, Any]:
    """``k=v`` pairs; a value that is JSON (``3``, ``true``, ``[1]``) is decoded."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, equals, raw = pair.partition("=")
        if not equals or not name:
            _fail(f"{pair!r} is not KEY=VALUE")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


def _remove(target: Target, what: str, yes: bool, action: Callable[[Registry], Any]) -> None:
    """Run a removal once confirmed: ``--yes``, or a "y" at the terminal."""
    if not yes:
        if not sys.stdin.isatty():
            _fail(f"removing {what} needs --yes when stdin is not a terminal")
        if not click.confirm(f"Remove {what}?"):
            _fail("not removed")
    _run(target, action)
    click.echo(f"removed {what}")


def _record_json(record: TenantRecord) -> dict[str, Any]:
    return {
        "key": record.key,
        "status": record.status,
        "reason": record.reason,
        "config": dict(record.config),
        "domains": list(record.domains),
        "primary_host": record.primary_host,
        "rev": record.rev,
    }


def _domain_json(row: DomainRow) -> dict[str, Any]:
    return {
        "host": row.host,
        "tenant": row.tenant,
        "primary": row.primary,
        "redirect": row.redirect,
    }


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# -- appmux registry -------------------------------------------------------------------------


@click.group()
def registry() -> None:
    """Create and inspect the tenant registry.

    \b
    Examples:
      appmux registry init --registry sqlite:///tenants.db
      appmux registry status
    """


@registry.command()
@registry_options
def init(registry_url: str | None, config_path: str | None) -> None:
    """Create the registry's tables, or upgrade them (safe to repeat)."""
    target = _target(registry_url, config_path)
    version = _run(target, lambda r: r.init())
    click.echo(f"{target.registry.masked_url}: schema version {version}")


@registry.command()
@registry_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(registry_url: str | None, config_path: str | None, as_json: bool) -> None:
    """Show the registry's URL (password masked), schema version, revision, counts and
    change log (its rows and the oldest revision it holds)."""
    target = _target(registry_url, config_path)

    def read(r: Registry) -> dict[str, Any]:
        version = r.schema_version()
        if version is None:
            raise RegistryUnavailable(f"{r.masked_url}: no schema: run `appmux registry init`")
        counts = r.counts()
        return {
            "url": r.masked_url,
            "schema_version": version,
            "code_schema_version": SCHEMA_VERSION,
            "revision": counts["revision"],
            "tenants": {s: counts["tenants"].get(s, 0) for s in STATUSES},
            "domains": counts["domains"],
            "change_log": r.log_status(),
        }

    summary = _run(target, read)
    if as_json:
        _echo_json(summary)
        return
    click.echo(f"url:            {summary['url']}")
    click.echo(f"schema version: {summary['schema_version']}")
    click.echo(f"revision:       {summary['revision']}")
    counts = ", ".join(f"{n} {s}" for s, n in summary["tenants"].items())
    click.echo(f"tenants:        {sum(summary['tenants'].values())} ({counts})")
    click.echo(f"domains:        {summary['domains']}")
    log = summary["change_log"]
    oldest = "-" if log["oldest"] is None else log["oldest"]
    click.echo(f"change log:     {log['rows']} rows, oldest revision {oldest}")


# -- appmux tenants --------------------------------------------------------------------------


@click.group()
def tenants() -> None:
    """Add, configure, suspend and remove tenants while the site runs.

    \b
    Examples:
      appmux tenants add initech --set theme=dark
      appmux tenants set acme plan=pro --unset trial
      appmux tenants suspend acme --reason "unpaid bill"
      appmux tenants list --json
    """


@tenants.command("add")
@click.argument("key")
@click.option("--config", "config_json", metavar="JSON", help="The tenant's config object.")
@click.option("--set", "pairs", multiple=True, metavar="K=V", help="One config value (repeat).")
@click.option("--suspended", is_flag=True, help="Add it suspended.")
@registry_options
def tenants_add(
    key: str,
    config_json: str | None,
    pairs: tuple[str, ...],
    suspended: bool,
    registry_url: str | None,
    config_path: str | None,
) -> None:
    """Add tenant KEY (one lower-case DNS label), active unless --suspended."""
    target = _target(registry_url, config_path)
    try:
        key = check_key(key)
    except ValueError as exc:
        _fail(str(exc))
    if key in target.reserved:
        _fail(f"tenant key {key!r} is reserved (see [registry] reserved)")
    config: dict[str, Any] = {}
    if config_json is not None:
        try:
            config = json.loads(config_json)
        except ValueError as exc:
            _fail(f"--config is not valid JSON: {exc}")
        if not isinstance(config, dict):
            _fail("--config must be a JSON object")
    config.update(_parse_pairs(pairs))
    status = "suspended" if suspended else "active"
    record = _run(target, lambda r: r.add_tenant(key, config, status=status))
    click.echo(f"added tenant {record.key} ({record.status}, rev {record.rev})")


@tenants.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only tenants in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
def tenants_list(
    status: str | None, as_json: bool, registry_url: str | None, config_path: str | None
) -> None:
    """List tenants with their status and domains."""
    records = _run(_target(registry_url, config_path), lambda r: r.tenants())
    records = [r for r in records if status is None or r.status == status]
    if as_json:
        _echo_json([_record_json(r) for r in records])
        return
    if not records:
        click.echo("no tenants")
        return
    rows = [("KEY", "STATUS", "REV", "DOMAINS")]
    rows += [(r.key, r.status, str(r.rev), " ".join(r.domains) or "-") for r in records]
    _table(rows)


@tenants.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
def tenants_show(
    key: str, as_json: bool, registry_url: str | None, config_path: str | None
) -> None:
    """Show one tenant: status, reason, config, domains, rev."""
    record = _run(_target(registry_url, config_path), lambda r: r.get_tenant(key))
    if record is None:
        _fail(f"no tenant {key!r}")
    if as_json:
        _echo_json(_record_json(record))
        return
    click.echo(f"key:          {record.key}")
    click.echo(f"status:       {record.status}" + (f" ({record.reason})" if record.reason else ""))
    click.echo(f"rev:          {record.rev}")
    click.echo(f"primary host: {record.primary_host or '-'}")
    click.echo(f"domains:      {' '.join(record.domains) or '-'}")
    click.echo(f"config:       {json.dumps(dict(record.config), sort_keys=True)}")


@tenants.command("set")
@click.argument("key")
@click.argument("pairs", nargs=-1, metavar="K=V...")
@click.option("--unset", "unset", multiple=True, metavar="K", help="Remove a config key (repeat).")
@registry_options
def tenants_set(
    key: str,
    pairs: tuple[str, ...],
    unset: tuple[str, ...],
    registry_url: str | None,
    config_path: str | None,
) -> None:
    """Change config values of KEY: every worker rebuilds its app."""
    if not pairs and not unset:
        _fail("give K=V pairs to set, or --unset K")
    values = _parse_pairs(pairs)

    def change(r: Registry) -> TenantRecord:
        record = r.get_tenant(key)
        if record is None:
            raise ValueError(f"no tenant {key!r}")
        config = {**record.config, **values}
        for name in unset:
            if name not in config:
                raise ValueError(f"tenant {record.key!r} has no config key {name!r}")
            del config[name]
        return r.update_tenant(key, config=config)

    record = _run(_target(registry_url, config_path), change)
    click.echo(f"tenant {record.key}: {json.dumps(dict(record.config), sort_keys=True)}")


def _status_command(name: str, status: str, doc: str) -> None:
    @tenants.command(name, help=doc)
    @click.argument("key")
    @registry_options
    def command(key: str, registry_url: str | None, config_path: str | None, **kw: Any) -> None:
        reason = kw.get("reason")
        record = _run(
            _target(registry_url, config_path),
            lambda r: r.update_tenant(key, status=status, reason=reason),
        )
        click.echo(f"tenant {record.key}: {record.status}")

    if name == "suspend":
        click.option("--reason", metavar="TEXT", help="Why (kept in the registry).")(command)


_status_command("suspend", "suspended", "Suspend KEY: its hosts answer 403; its app is retired.")
_status_command("resume", "active", "Make KEY active again.")
_status_command("archive", "archived", "Archive KEY: its hosts answer 410 Gone.")


@tenants.command("reload")
@click.argument("key")
@registry_options
def tenants_reload(key: str, registry_url: str | None, config_path: str | None) -> None:
    """Make every worker rebuild KEY's app (nothing else changes)."""
    record = _run(_target(registry_url, config_path), lambda r: r.reload_tenant(key))
    click.echo(f"tenant {record.key}: reloading (rev {record.rev})")


@tenants.command("remove")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask (required when stdin is not a terminal).")
@registry_options
def tenants_remove(key: str, yes: bool, registry_url: str | None, config_path: str | None) -> None:
    """Remove KEY and its domains."""
    target = _target(registry_url, config_path)
    _remove(target, f"tenant {key!r} and its domains", yes, lambda r: r.remove_tenant(key))


# -- appmux domains --------------------------------------------------------------------------


@click.group()
def domains() -> None:
    """Give tenants custom domains (shop.acme.com, or a wildcard such as \\*.acme.com).

    \b
    Examples:
      appmux domains add shop.acme.com --tenant acme --primary
      appmux domains add old-acme.com --tenant acme --redirect
      appmux domains list --tenant acme
    """


@domains.command("add")
@click.argument("host")
@click.option("--tenant", "tenant", required=True, metavar="KEY", help="The tenant it serves.")
@click.option("--primary", is_flag=True, help="The tenant's canonical host.")
@click.option("--redirect", is_flag=True, help="Answer 308 to the tenant's primary host.")
@registry_options
def domains_add(
    host: str,
    tenant: str,
    primary: bool,
    redirect: bool,
    registry_url: str | None,
    config_path: str | None,
) -> None:
    """Route HOST to a tenant."""
    target = _target(registry_url, config_path)
    try:
        normalized = check_domain(host)
    except ValueError as exc:
        _fail(str(exc))
    bare = normalized.removeprefix("*.")
    for base in target.base_domains:
        if bare == base or bare.endswith("." + base):
            _fail(
                f"{normalized} is under the base domain {base}: tenants get"
                f" <key>.{base} without a domain entry"
            )
    row = _run(target, lambda r: r.add_domain(host, tenant, primary=primary, redirect=redirect))
    flags = [name for name, on in (("primary", row.primary), ("redirect", row.redirect)) if on]
    click.echo(
        f"added domain {row.host} -> {row.tenant}" + (f" ({', '.join(flags)})" if flags else "")
    )


@domains.command("list")
@click.option("--tenant", "tenant", metavar="KEY", help="Only this tenant's domains.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_options
def domains_list(
    tenant: str | None, as_json: bool, registry_url: str | None, config_path: str | None
) -> None:
    """List custom domains."""
    rows = _run(_target(registry_url, config_path), lambda r: r.domains())
    if tenant is not None:
        rows = [row for row in rows if row.tenant == tenant.lower()]
    if as_json:
        _echo_json([_domain_json(row) for row in rows])
        return
    if not rows:
        click.echo("no domains")
        return
    table = [("HOST", "TENANT", "PRIMARY", "REDIRECT")]
    table += [
        (r.host, r.tenant, "yes" if r.primary else "", "yes" if r.redirect else "") for r in rows
    ]
    _table(table)


@domains.command("set-primary")
@click.argument("host")
@registry_options
def domains_set_primary(host: str, registry_url: str | None, config_path: str | None) -> None:
    """Make HOST its tenant's primary domain."""
    row = _run(_target(registry_url, config_path), lambda r: r.set_primary(host))
    click.echo(f"{row.host} is now the primary domain of {row.tenant}")


@domains.command("remove")
@click.argument("host")
@click.option("--yes", is_flag=True, help="Do not ask (required when stdin is not a terminal).")
@registry_options
def domains_remove(host: str, yes: bool, registry_url: str | None, config_path: str | None) -> None:
    """Remove a custom domain."""
    target = _target(registry_url, config_path)
    _remove(target, f"domain {host}", yes, lambda r: r.remove_domain(host))
