"""The layers of ARCHITECTURE.md, checked on the source: each imports only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "appmux"

#: Layer by (sub)package, lowest first; a module may import its own layer and those before it.
ORDER = ["core", "background", "interop", "wsgi", "registry", "asgi", "observe", "serve", "cli"]
#: Pure modules: the core, and the registry's records, snapshot, shards, membership and rule.
PURE = [
    "core",
    "registry/records.py",
    "registry/snapshot.py",
    "registry/shards.py",
    "registry/membership.py",
    "registry/routing.py",
]
#: What no pure module may import: a protocol, a server, or any I/O library.
PROTOCOL = {
    "werkzeug",
    "flask",
    "django",
    "starlette",
    "uvicorn",
    "gunicorn",
    "waitress",
    "click",
    "wsgiref",
    "asyncio",
    "socket",
    "sqlite3",
    "psycopg",
    "prometheus_client",
    "http",
    "urllib",
}


def imported(path: Path, package_root: Path) -> list[tuple[str, int]]:
    """Absolute module names ``path`` imports (relative imports resolved), with their lines."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ["appmux", *path.relative_to(package_root).parent.parts]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.append((module, node.lineno))
            if node.module is None:  # from . import x
                names += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return names


def layer_of(path: Path, root: Path) -> str | None:
    parts = path.relative_to(root).parts
    name = parts[0].removesuffix(".py")
    return name if name in ORDER else None


def is_pure(path: Path, root: Path) -> bool:
    relative = path.relative_to(root).as_posix()
    return any(relative == where or relative.startswith(where + "/") for where in PURE)


def violations(root: Path) -> list[str]:
    """Every import that breaks the layering of the package at ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root)
        layer = layer_of(path, root)
        for name, line in imported(path, root):
            parts = name.split(".")
            pure_import = parts[0] != "appmux" or name.startswith(
                ("appmux.core", "appmux.registry.")
            )
            if is_pure(path, root) and (parts[0] in PROTOCOL or not pure_import):
                found.append(f"{where}:{line}: pure code imports {name}")
            if layer is None or parts[0] != "appmux" or len(parts) < 2 or parts[1] not in ORDER:
                continue
            if ORDER.index(parts[1]) > ORDER.index(layer):
                found.append(f"{where}:{line}: {layer} imports {name}, a layer above it")
    return found


def test_the_package_keeps_its_layers() -> None:
    assert len(list(PACKAGE.rglob("*.py"))) > 30
    assert violations(PACKAGE) == []


def test_a_core_that_imports_werkzeug_or_a_layer_above_is_caught(tmp_path: Path) -> None:
    for folder in ("core", "wsgi", "registry"):
        (tmp_path / folder).mkdir()
    (tmp_path / "core" / "bad.py").write_text(
        "import re\nfrom werkzeug.exceptions import BadRequest\nfrom ..wsgi import lazy\n"
    )
    (tmp_path / "core" / "good.py").write_text("from .hosts import parse_host\n")
    (tmp_path / "registry" / "snapshot.py").write_text("from ..wsgi.lazy import LazyDispatcher\n")
    (tmp_path / "wsgi" / "fine.py").write_text("from ..core import hosts\nimport werkzeug\n")
    assert violations(tmp_path) == [
        "core/bad.py:2: pure code imports werkzeug.exceptions",
        "core/bad.py:3: pure code imports appmux.wsgi",
        "core/bad.py:3: core imports appmux.wsgi, a layer above it",
        "registry/snapshot.py:1: pure code imports appmux.wsgi.lazy",
    ]
