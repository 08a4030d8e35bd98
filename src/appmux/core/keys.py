"""Key rules: how a lazy dispatcher tells tenants apart, on plain strings.

A key rule says which raw value of a request it reads (:attr:`KeyRule.reads`:
the host, the path or one header) and maps that value to a tenant key with
:meth:`KeyRule.key_of`: the key, ``None`` when the request names no tenant (it
goes to the fallback app), or an :class:`~appmux.core.routing.Answer` (such as
a 400 for a malformed host). Rules never see a protocol: the WSGI and ASGI
layers read the raw value from an environ or a scope, so one rule serves both.

Dispatchers hand a key to a factory only if it passes :func:`is_safe_key`;
rules need not check that per request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .hosts import HostMemo, normalize_domain, parse_host, subdomain_of
from .routing import Answer

__all__ = [
    "HOST",
    "PATH",
    "HeaderKey",
    "HostKey",
    "KeyRule",
    "PathSegmentKey",
    "Reads",
    "SubdomainKey",
    "header_key",
    "host_key",
    "is_rule",
    "is_safe_key",
    "path_segment_key",
]

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


@dataclass(frozen=True)
class Reads:
    """The raw value a rule reads: ``"host"``, ``"path"`` or ``"header"`` (with its name).

    ``"host"`` is the ``Host`` header (else the server name); ``"path"`` is the
    first path segment with its slash (``"/acme"``), which the route consumes;
    ``"header"`` is one header's value, ``header`` its lower-case name.
    """

    kind: str
    header: str = ""


HOST = Reads("host")
PATH = Reads("path")


class KeyRule(Protocol):
    """What a dispatcher needs of a key rule."""

    @property
    def reads(self) -> Reads: ...

    def key_of(self, raw: str) -> str | Answer | None: ...


_REJECT = object()


class SubdomainKey:
    """Key requests by subdomain of ``domain``: ``a.b.example.com`` is ``"a.b"``.

    The bare domain is ``""``. A malformed host, or one not on a label boundary
    under ``domain``, is answered ``400 Bad Request``. Results are memoized per
    raw value.
    """

    __slots__ = ("domain", "_memo", "_reject")

    reads = HOST

    def __init__(self, domain: str) -> None:
        self.domain = normalize_domain(domain)
        self._memo: HostMemo[object] = HostMemo(self._resolve)
        self._reject = Answer(400, f"The Host header is not a valid host under {self.domain}.")

    def _resolve(self, raw: str) -> object:
        host = parse_host(raw)
        if host is None:
            return _REJECT
        key = subdomain_of(host, self.domain)
        return _REJECT if key is None else key

    def key_of(self, raw: str) -> str | Answer:
        """The subdomain ``raw`` names, or a 400."""
        key = self._memo(raw)
        return self._reject if key is _REJECT else key  # type: ignore[return-value]


class HostKey:
    """Key requests by their whole normalized host (no port); 400 if malformed."""

    __slots__ = ()

    reads = HOST
    _reject = Answer(400, "The Host header is not a valid host name.")

    def key_of(self, raw: str) -> str | Answer:
        """The normalized host, or a 400."""
        host = parse_host(raw)
        return self._reject if host is None else host

    def __repr__(self) -> str:
        return "host_key"


class HeaderKey:
    """Key requests by the value of header ``name``; a missing or empty one gives ``None``.

    Values are lower-cased unless ``lower=False``.
    """

    __slots__ = ("name", "lower", "reads")

    def __init__(self, name: str, *, lower: bool = True) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a header name is required, not {name!r}")
        self.name = name
        self.lower = lower
        self.reads = Reads("header", name.lower())

    def key_of(self, raw: str) -> str | None:
        """The header's value as the key (``None`` when empty)."""
        if not raw:
            return None
        return raw.lower() if self.lower else raw

    def __repr__(self) -> str:
        return f"header_key({self.name!r})"


class PathSegmentKey:
    """Key requests by their first path segment; the route consumes ``"/" + key``.

    ``""``, ``"/"`` and an empty first segment (``//x``) give ``None``. Case is
    kept: paths are case-sensitive. Segments such as ``".."`` are returned;
    dispatchers refuse them with :func:`is_safe_key`, off the hot path.
    """

    __slots__ = ()

    reads = PATH

    def key_of(self, raw: str) -> str | None:
        """The segment of a path head (``"/acme"`` gives ``"acme"``)."""
        if raw[:1] != "/":
            return None
        return raw[1:] or None

    def __repr__(self) -> str:
        return "path_segment_key"


def header_key(name: str, *, lower: bool = True) -> HeaderKey:
    """Key requests by the value of HTTP header ``name`` (e.g. ``X-Tenant``)."""
    return HeaderKey(name, lower=lower)


#: Key requests by their whole normalized host (no port); 400 if malformed.
host_key = HostKey()

#: Key requests by their first path segment, consumed from the path.
path_segment_key = PathSegmentKey()


def is_rule(key: object) -> bool:
    """Whether ``key`` is a key rule (it says what it ``reads`` and has ``key_of``)."""
    return hasattr(key, "reads") and callable(getattr(key, "key_of", None))
