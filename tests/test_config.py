"""Config files: parsing, references, errors naming file and key, the built site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from wsgi_helpers import call

from appmux.serve.config import ConfigError, find_config, load_config
from appmux.serve.refs import BadReference, Reference, parse_reference
from appmux.serve.site import build_site, check_site, resolve_url, route_rows

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SITES = Path(__file__).resolve().parent / "sites"

MINIMAL = """\
[mounts]
"/" = "frontend_app:application"
"/backend" = "backend_app:application"
"""


def write(tmp_path: Path, text: str, name: str = "appmux.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_form_works_exactly_as_written(tmp_path: Path) -> None:
    site = build_site(load_config(write(tmp_path, MINIMAL)))
    assert "appmux demo" in call(site, "/", host="localhost").text
    users = call(site, "/backend/users", host="localhost")
    assert json.loads(users.body)["url"] == "http://localhost/backend/users"


def test_references_import_from_the_config_folder() -> None:
    site = build_site(load_config(SITES / "local_ref.toml"))
    assert call(site, "/slow/?s=0", host="localhost").text == "slept 0.0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pkg.mod:app", Reference("pkg.mod", "app")),
        ("mod:create_app()", Reference("mod", "create_app", call=True)),
        (
            "mod:create_app('prod', 2, debug=False, paths=['/a'])",
            Reference("mod", "create_app", ("prod", 2), {"debug": False, "paths": ["/a"]}, True),
        ),
    ],
)
def test_parse_reference(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "mod",
        "mod:",
        ":app",
        "1mod:app",
        "mod:app.attr",
        "mod:f(x)",
        "mod:f(**k)",
        "mod:f(1 +)",
        "mod:__import__('os').system('x')",
        "mod:[1]",
    ],
)
def test_parse_reference_refuses_anything_but_names_and_literal_calls(text: str) -> None:
    with pytest.raises(BadReference):
        parse_reference(text)


BROKEN = [
    ("", "", "nothing to serve"),
    ('[mounts]\n"/" = "frontend_app:application"\n[extra]\nx = 1\n', "extra", "unknown key"),
    ('[mounts]\n"/" = "a:b"\n"/api" = "a:b"\n"/api/" = "a:b"\n', 'mounts."/api/"', "overlaps"),
    ('[mounts]\n"api" = "a:b"\n', "mounts.api", "must start with '/'"),
    ("[mounts\n", "", "invalid TOML"),
    ('[mounts]\n"/" = "frontend_app"\n', 'mounts."/"', "not of the form"),
    (
        '[mounts]\n"/" = "no_such_module_xyz:app"\n',
        'mounts."/"',
        "does not import: ModuleNotFoundError: No module named 'no_such_module_xyz'",
    ),
    ('[mounts]\n"/" = "frontend_app:nothing"\n', 'mounts."/"', "has no attribute 'nothing'"),
    ('[mounts]\n"/" = "myapplication:USERS"\n', 'mounts."/"', "not a WSGI application"),
    ('[mounts]\n"/" = "broken_import:app"\n', 'mounts."/"', "ZeroDivisionError"),
    ('[hosts."bad host"]\napp = "a:b"\n', 'hosts."bad host"', "invalid host name"),
    (
        '[hosts."A.com"]\napp = "a:b"\n[hosts."a.com."]\napp = "a:b"\n',
        'hosts."a.com."',
        "same host",
    ),
    ('[tenants]\nby = "subdomain"\nfactory = "a:b"\n', "tenants.domain", "required"),
    ('[tenants]\nby = "cookie"\nfactory = "a:b"\n', "tenants.by", "must be one of"),
    ('[tenants]\nby = "path"\n', "tenants.factory", "missing"),
    (
        '[tenants]\nby = "path"\nfactory = "a:b"\nmax_instances = 0\n',
        "tenants.max_instances",
        ">= 1",
    ),
    (
        '[tenants]\nby = "path"\nfactory = "a:b"\nidle_timeout = "1h"\n',
        "tenants.idle_timeout",
        "seconds",
    ),
    ('app = "a:b"\n[server]\nworkers = 0\n', "server.workers", ">= 1"),
    ('app = "a:b"\n[server]\nserver = "uwsgi"\n', "server.server", "gunicorn, waitress"),
    ('app = "a:b"\n[proxy]\nx_for = -1\n', "proxy.x_for", ">= 0"),
    ('app = "a:b"\n[proxy]\nx_forwarded = 1\n', "proxy.x_forwarded", "unknown key"),
    ('app = "a:b"\nmounts = {"/" = "a:b"}\n', "", "only one of"),
    (
        '[tenants]\nby = "path"\nfactory = "frontend_app:nothing"\n',
        "tenants.factory",
        "has no attribute",
    ),
    (
        '[tenants]\nby = "registry"\nfactory = "tenants:create_app"\n',
        "registry.url",
        "missing",
    ),
    ('app = "a:b"\n[registry]\nurl = "tenants.db"\n', "registry.url", "must be a URL"),
    ('app = "a:b"\n[registry]\nurl = "sqlite:///t.db"\nttl = 1\n', "registry.ttl", "unknown"),
    ('app = "a:b"\n[registry]\nrefresh_interval = 0\n', "registry.refresh_interval", "positive"),
    ('app = "a:b"\n[registry]\nreserved = "www"\n', "registry.reserved", "list"),
    ('app = "a:b"\n[registry]\nlisten = "no"\n', "registry.listen", "true or false"),
    ('app = "a:b"\n[admin]\nport = 1\n', "admin.port", "unknown key"),
    ('app = "a:b"\n[admin]\ntoken = "x"\n', "admin.bind", "required"),
    ('app = "a:b"\n[admin]\nbind = "127.0.0.1:9100"\ntoken = "short"\n', "admin.token", "16"),
    ('app = "a:b"\n[metrics]\nper_tenant = true\n', "metrics", "needs [admin]"),
    (
        'app = "a:b"\n[admin]\nbind = "127.0.0.1:9100"\n[metrics]\nper_tenant_limit = 0\n',
        "metrics.per_tenant_limit",
        ">= 1",
    ),
    (
        '[registry]\nurl = "mysql://x/y"\n'
        '[tenants]\nby = "registry"\nfactory = "tenants:create_app"\n',
        "registry.url",
        "unsupported registry URL",
    ),
    (
        '[tenants]\nby = "registry"\nfactory = "a:b"\nbase_domains = "example.com"\n',
        "tenants.base_domains",
        "list of domains",
    ),
    (
        '[tenants]\nby = "registry"\nfactory = "a:b"\nbase_domains = ["bad..com"]\n',
        "tenants.base_domains",
        "invalid domain",
    ),
    (
        '[tenants]\nby = "subdomain"\ndomain = "a.com"\nfactory = "a:b"\nbase_domains = []\n',
        "tenants.base_domains",
        "only goes with by = 'registry'",
    ),
    (
        '[tenants]\nby = "registry"\nfactory = "a:b"\nsuspended_status = 200\n',
        "tenants.suspended_status",
        "4xx or 5xx",
    ),
]


@pytest.mark.parametrize(("text", "key", "message"), BROKEN)
def test_broken_config_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    (tmp_path / "broken_import.py").write_text("app = 1 / 0\n")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        build_site(load_config(path))
    error = caught.value
    assert error.key == key
    assert message in error.message
    line = str(error)
    assert "\n" not in line and line.startswith(str(path)) and "Traceback" not in line


def test_check_collects_every_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[mounts]\n"/" = "nope_a:app"\n"/b" = "nope_b:app"\n'
        '[hosts."*.localhost".tenants]\nby = "subdomain"\ndomain = "localhost"\n'
        'factory = "nope_c:make"\n',
    )
    problems = check_site(load_config(path))
    assert sorted(p.key for p in problems) == [
        'hosts."*.localhost".tenants.factory',
        'mounts."/"',
        'mounts."/b"',
    ]
    assert check_site(load_config(EXAMPLES / "appmux.toml")) == []


def test_pyproject_tool_table_is_found_and_keys_say_so(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None
    write(tmp_path, '[project]\nname = "x"\n', "pyproject.toml")
    assert find_config(tmp_path) is None
    write(
        tmp_path,
        '[tool.appmux.mounts]\n"/" = "frontend_app:application"\n[tool.appmux.x]\n',
        "pyproject.toml",
    )
    found = find_config(tmp_path)
    assert found == tmp_path / "pyproject.toml"
    with pytest.raises(ConfigError, match=r"tool\.appmux\.x: unknown key"):
        load_config(found)
    write(tmp_path, MINIMAL)
    assert find_config(tmp_path) == tmp_path / "appmux.toml"


def demo_site():  # type: ignore[no-untyped-def]
    return build_site(load_config(EXAMPLES / "appmux.toml"))


@pytest.mark.parametrize(
    ("host", "path", "status", "needle"),
    [
        ("localhost:8000", "/", 200, "appmux demo"),
        ("localhost:8000", "/backend/", 200, '"users_url":"/backend/users"'),
        ("127.0.0.1:8000", "/", 400, "does not serve that host"),
        ("localhost", "/legacy/", 200, 'href="/legacy/reports/2024/"'),
        ("acme.localhost:8000", "/", 200, "Acme Corp"),
        ("ACME.localhost.", "/about", 200, "about acme: http://acme.localhost./"),
        ("nobody.localhost", "/", 404, "No such tenant"),
        ("evil..localhost", "/", 400, "Bad Request"),
        ("a b", "/", 400, "Bad Request"),
    ],
)
@pytest.mark.usefixtures("demo_registry")
def test_demo_site_in_process(host: str, path: str, status: int, needle: str) -> None:
    result = call(demo_site(), path, host=host)
    assert result.status == status
    assert needle in result.text


def test_proxy_fix_is_outermost_so_hosts_see_the_forwarded_host(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[proxy]\nx_host = 1\nx_proto = 1\n"
        '[hosts."*.example.com".tenants]\nby = "subdomain"\ndomain = "example.com"\n'
        'factory = "tenants:make_app"\n',
    )
    site = build_site(load_config(path))
    forwarded = call(
        site,
        "/about",
        host="10.0.0.5:8000",
        HTTP_X_FORWARDED_HOST="acme.example.com",
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert forwarded.text == "about acme: https://acme.example.com/"
    hostile = call(site, "/", host="internal", HTTP_X_FORWARDED_HOST="evil..example.com")
    assert hostile.status == 400
    assert call(site, "/", host="acme.example.com").status == 200


def test_routes_and_resolve_import_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[mounts]\n"/" = "never_imported_a:app"\n'
        '"/t" = {tenants = {by = "path", factory = "never_imported_b:make"}}\n',
    )
    config = load_config(path)
    rows = route_rows(config)
    assert [(r.prefix, r.target, r.kind) for r in rows] == [
        ("/t", "never_imported_b:make(key)", "tenant per path segment"),
        ("/", "never_imported_a:app", "app"),
    ]
    found = resolve_url(config, "http://localhost/t/acme/page?x=1")
    assert (found.target, found.script_name, found.path_info, found.tenant_key) == (
        "never_imported_b:make('acme')",
        "/t/acme",
        "/page",
        "acme",
    )
    assert resolve_url(config, "http://localhost/other").target == "never_imported_a:app"


def test_resolve_opens_the_registry_only_for_its_tenants_and_starts_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from appmux import Registry

    monkeypatch.delenv("APPMUX_REGISTRY_URL", raising=False)
    db = tmp_path / "tenants.db"
    path = write(
        tmp_path,
        '[registry]\nurl = "sqlite:///tenants.db"\n'
        '[hosts."localhost"]\napp = "never_imported_a:app"\n'
        '[tenants]\nby = "registry"\nbase_domains = ["example.com"]\n'
        'factory = "never_imported_b:make"\n',
    )
    config = load_config(path)
    # A URL that never reaches the registry never opens it: no file is made, nothing read.
    assert resolve_url(config, "http://localhost/x").target == "never_imported_a:app"
    assert not db.exists()
    registry = Registry(f"sqlite:///{db}")
    registry.init()
    registry.add_tenant("acme")
    before = set(threading.enumerate())
    found = resolve_url(config, "http://acme.example.com/about")
    assert (found.target, found.tenant_key) == ("never_imported_b:make('acme')", "acme")
    assert set(threading.enumerate()) <= before  # no refresher (nor any thread) was started


def test_registry_url_is_relative_to_the_config_file_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APPMUX_REGISTRY_URL", raising=False)
    (tmp_path / "site").mkdir()
    path = write(
        tmp_path / "site",
        '[registry]\nurl = "sqlite:///data/t.db"\nreserved = ["WWW", "admin"]\n'
        '[tenants]\nby = "registry"\nfactory = "tenants:create_app"\n'
        'base_domains = ["Example.COM"]\n',
    )
    config = load_config(path)
    assert config.registry_url() == f"sqlite:///{tmp_path / 'site' / 'data' / 't.db'}"
    assert config.registry.reserved == ("www", "admin")
    assert config.base_domains() == ("example.com",)
    monkeypatch.setenv("APPMUX_REGISTRY_URL", "sqlite:////elsewhere.db")
    assert config.registry_url() == "sqlite:////elsewhere.db"
