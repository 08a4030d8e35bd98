"""Reading a WSGI request's raw values, and applying what routing consumed.

The protocol-neutral rules (``appmux.core.keys``) name what they read; this
module reads it from an environ: the raw ``Host`` (``HTTP_HOST``, else
``SERVER_NAME``, PEP 3333's order), one header, or the path head. Applying a
route moves the consumed part of ``PATH_INFO`` to ``SCRIPT_NAME`` without
normalizing anything, so ``SCRIPT_NAME + PATH_INFO`` stays what it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..core.keys import Reads
from ..core.prefixes import split_head
from .types import Environ

__all__ = [
    "TENANT_KEY",
    "consume",
    "environ_field",
    "read_path_head",
    "request_host",
    "token_reader",
]

#: Where a registry tenant's record is put for its app.
TENANT_KEY = "appmux.tenant"


def request_host(environ: Mapping[str, object]) -> str:
    """The raw host of a request: ``HTTP_HOST``, else ``SERVER_NAME``.

    This is PEP 3333's URL reconstruction order. The result is not validated;
    an environ with neither gives ``""``.
    """
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
    return host if isinstance(host, str) else ""


def read_path_head(environ: Environ) -> str:
    """The first segment of ``PATH_INFO`` with its slash (``"/acme"``)."""
    return split_head(environ.get("PATH_INFO", ""))


def environ_field(reads: Reads) -> str | None:
    """The one environ key a hot path can look a rule's raw value up by, if there is one."""
    if reads.kind == "host":
        return "HTTP_HOST"
    if reads.kind == "header":
        return "HTTP_" + reads.header.upper().replace("-", "_")
    return None


def token_reader(reads: Reads) -> Callable[[Environ], str]:
    """A function reading the raw value ``reads`` names from an environ (``""`` if absent)."""
    if reads.kind == "host":
        return request_host
    if reads.kind == "path":
        return read_path_head
    field = environ_field(reads)

    def read_header(environ: Environ) -> str:
        value = environ.get(field, "")  # type: ignore[arg-type]
        return value if isinstance(value, str) else ""

    return read_header


def consume(environ: Environ, consumed: int) -> None:
    """Move the first ``consumed`` characters of ``PATH_INFO`` to ``SCRIPT_NAME``."""
    path = environ.get("PATH_INFO", "")
    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + path[:consumed]
    environ["PATH_INFO"] = path[consumed:]
