"""Key functions: how a lazy dispatcher tells tenants apart.

A key function takes the WSGI environ and returns the tenant key, ``None`` when
the request has no key (it goes to the fallback app), or raises a
:class:`werkzeug.exceptions.HTTPException` (such as ``BadRequest``) to answer
the request itself. Dispatchers hand a key to a factory only if it passes
:func:`is_safe_key`; key functions need not check that per request.

A key function whose result depends on one environ value only (when that value
is present) may say so in a ``route_field`` attribute (``SubdomainKey`` has
``route_field = "HTTP_HOST"``): an unbounded :class:`~appmux.LazyDispatcher`
then answers repeat requests with one dict lookup on that raw value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from werkzeug.exceptions import BadRequest

from .hosts import HostMemo, normalize_domain, parse_host, request_host, subdomain_of
from .types import Environ

__all__ = [
    "KeyFunc",
    "SubdomainKey",
    "header_key",
    "host_key",
    "is_safe_key",
    "path_segment_key",
    "shift_path_segment",
]

KeyFunc = Callable[[Environ], "str | None"]

MAX_KEY_LENGTH = 255

# No separators a key could smuggle into a path, URL or log line.
_UNSAFE_CHARACTER = re.compile(r"[\s/\\:\x00-\x1f\x7f]")


def is_safe_key(key: str) -> bool:
    """Whether ``key`` may reach a factory.

    Safe keys are at most 255 characters and contain no ``/``, ``\\``, ``:``,
    ``..``, whitespace or control characters, and are not ``"."``. The empty
    key is safe: it is the bare domain of a subdomain dispatcher.
    """
    return (
        isinstance(key, str)
        and len(key) <= MAX_KEY_LENGTH
        and ".." not in key
        and key != "."
        and _UNSAFE_CHARACTER.search(key) is None
    )


_REJECT = object()


class SubdomainKey:
    """Key requests by subdomain of ``domain``: ``a.b.example.com`` is ``"a.b"``.

    The bare domain is ``""``. A malformed host, or one not on a label boundary
    under ``domain``, is answered ``400 Bad Request``. A request without
    ``Host`` uses ``SERVER_NAME``. Results are memoized per raw header value.
    """

    __slots__ = ("domain", "_memo")

    route_field = "HTTP_HOST"

    def __init__(self, domain: str) -> None:
        self.domain = normalize_domain(domain)
        self._memo: HostMemo[object] = HostMemo(self._resolve)

    def _resolve(self, raw: str) -> object:
        host = parse_host(raw)
        if host is None:
            return _REJECT
        key = subdomain_of(host, self.domain)
        return _REJECT if key is None else key

    def __call__(self, environ: Environ) -> str:
        key = self._memo(request_host(environ))
        if key is _REJECT:
            raise BadRequest(f"The Host header is not a valid host under {self.domain}.")
        return key  # type: ignore[return-value]


def path_segment_key(environ: Environ) -> str | None:
    """The first segment of ``PATH_INFO``, or ``None`` if it cannot be a key.

    ``""``, ``"/"``, a missing ``PATH_INFO`` and an empty first segment
    (``//x``) give ``None``. Case is kept: paths are case-sensitive. Segments
    such as ``".."`` are returned; dispatchers refuse them with
    :func:`is_safe_key` before any factory sees them, off the hot path.
    """
    path: str = environ.get("PATH_INFO", "")
    if path[:1] != "/":
        return None
    end = path.find("/", 1)
    segment = path[1:] if end < 0 else path[1:end]
    return segment or None


def shift_path_segment(environ: Environ, key: str) -> None:
    """Move the first segment (``"/" + key``) from ``PATH_INFO`` to ``SCRIPT_NAME``.

    Unlike :func:`wsgiref.util.shift_path_info` nothing is normalized, so
    ``SCRIPT_NAME + PATH_INFO`` stays exactly what it was.
    """
    end = len(key) + 1
    path = environ["PATH_INFO"]
    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + path[:end]
    environ["PATH_INFO"] = path[end:]


def header_key(name: str, *, lower: bool = True) -> KeyFunc:
    """Key requests by the value of HTTP header ``name`` (e.g. ``X-Tenant``).

    A missing or empty header gives ``None``. Values are lower-cased unless
    ``lower=False``; unsafe values never reach the factory (the dispatcher
    checks :func:`is_safe_key`).
    """
    environ_key = "HTTP_" + name.upper().replace("-", "_")

    def key_from_header(environ: Environ) -> str | None:
        value: str | None = environ.get(environ_key)
        if not value:
            return None
        return value.lower() if lower else value

    key_from_header.__name__ = f"header_key({name!r})"
    key_from_header.route_field = environ_key  # type: ignore[attr-defined]
    return key_from_header


def host_key(environ: Environ) -> str:
    """Key requests by their whole normalized host (no port); 400 if malformed."""
    host = parse_host(request_host(environ))
    if host is None:
        raise BadRequest("The Host header is not a valid host name.")
    return host
