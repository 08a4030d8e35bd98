"""Reading an ASGI request's raw values, and applying what routing consumed.

The same raw values the WSGI layer reads from an environ (:mod:`appmux.wsgi.environ`):
the raw ``Host`` header (else the server's name), one header, or the head of
the path below ``root_path``. Applying a route appends the consumed part to
``root_path``; ``path`` and ``raw_path`` stay whole (the current ASGI
convention: Starlette, uvicorn, Django).
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.keys import Reads
from ..core.prefixes import split_head
from .types import Scope

__all__ = ["TENANT_KEY", "consume", "path_rest", "request_host", "token_reader"]

#: Where a registry tenant's record is put for its app (``scope["appmux.tenant"]``).
TENANT_KEY = "appmux.tenant"


def request_host(scope: Scope) -> str:
    """The raw ``Host`` header, else (absent or empty) the server's name; not validated.

    PEP 3333's order, as :func:`appmux.wsgi.environ.request_host` reads it.
    """
    for name, value in scope.get("headers", ()):
        if name == b"host":
            if value:
                return value.decode("latin-1")  # type: ignore[no-any-return]
            break
    server = scope.get("server")
    return server[0] if server else ""


def path_rest(scope: Scope) -> str:
    """The part of ``path`` below ``root_path`` (what routing matches on)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


def consume(scope: Scope, consumed: int) -> None:
    """Append the next ``consumed`` characters of the path to ``root_path``."""
    scope["root_path"] = scope.get("root_path", "") + path_rest(scope)[:consumed]


def _header_reader(name: str) -> Callable[[Scope], str]:
    wanted = name.lower().encode("latin-1")

    def read_header(scope: Scope) -> str:
        for header, value in scope.get("headers", ()):
            if header == wanted:
                return value.decode("latin-1")  # type: ignore[no-any-return]
        return ""

    return read_header


def _path_head(scope: Scope) -> str:
    return split_head(path_rest(scope))


def token_reader(reads: Reads) -> Callable[[Scope], str]:
    """A function reading the raw value ``reads`` names from a scope (``""`` if absent)."""
    if reads.kind == "host":
        return request_host
    if reads.kind == "path":
        return _path_head
    return _header_reader(reads.header)
