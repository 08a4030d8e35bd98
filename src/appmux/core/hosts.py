"""Pure host-name handling: parse a ``Host`` value, find a subdomain, look a host up.

Nothing here knows a protocol: every function takes a string and returns
either a normalized value or ``None`` for input that must be rejected, so the
rules can be tested and benchmarked on their own. Reading the raw value from a
request is the protocol layer's job.

>>> parse_host("Foo.Example.COM.:8000")
'foo.example.com'
>>> subdomain_of("a.b.example.com", "example.com")
'a.b'
>>> subdomain_of("evilexample.com", "example.com") is None
True
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = [
    "MAX_HOST_LENGTH",
    "HostMemo",
    "HostTable",
    "normalize_domain",
    "normalize_host_pattern",
    "parse_host",
    "subdomain_of",
]

T = TypeVar("T")

#: The longest host name DNS allows (RFC 1035), without the trailing dot.
MAX_HOST_LENGTH = 253

# One label: letters, digits and hyphens, 1-63 long, no hyphen at either end
# (RFC 1123). Applied to the whole lower-cased host at once.
_HOSTNAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_PORT = re.compile(r"[0-9]{1,5}")


def _valid_port(port: str) -> bool:
    return _PORT.fullmatch(port) is not None and int(port) <= 65535


def parse_host(raw: str) -> str | None:
    """Return the normalized host name of a ``Host`` header, or ``None``.

    Lower-cases, drops the port (also after an IPv6 literal such as
    ``[::1]:8000``), drops one trailing dot, and checks every label. IPv6
    literals come back in brackets and compressed form (``[::1]``). Anything
    else (empty, spaces, ``user@host``, bad ports, over-long names, non-ASCII)
    is ``None``.
    """
    if not raw or len(raw) > MAX_HOST_LENGTH + 8 or not raw.isascii():
        return None
    raw = raw.lower()
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            return None
        rest = raw[end + 1 :]
        if rest and not (rest.startswith(":") and _valid_port(rest[1:])):
            return None
        try:
            address = ipaddress.IPv6Address(raw[1:end])
        except ValueError:
            return None
        return f"[{address.compressed}]"
    name, colon, port = raw.partition(":")
    if colon and not _valid_port(port):
        return None
    if name.endswith("."):
        name = name[:-1]
    if len(name) > MAX_HOST_LENGTH or _HOSTNAME.fullmatch(name) is None:
        return None
    return name


def normalize_domain(domain: str) -> str:
    """Validate a configured domain and return it normalized.

    Raises :class:`ValueError` with the reason; meant for constructors, so a
    bad configuration fails at start-up rather than on a request.
    """
    if not isinstance(domain, str):
        raise TypeError(f"domain must be a str, not {type(domain).__name__}")
    normalized = parse_host(domain)
    if normalized is None or normalized.startswith("["):
        raise ValueError(f"invalid domain {domain!r}")
    return normalized


def normalize_host_pattern(pattern: str) -> str:
    """Validate a configured host key: an exact name or a ``*.`` wildcard.

    ``"*.Example.COM"`` gives ``"*.example.com"``, ``"API.example.com:80"``
    gives ``"api.example.com"``. Raises :class:`ValueError` with the reason.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"host keys must be str, not {pattern!r}")
    if pattern.startswith("*."):
        return "*." + normalize_domain(pattern[2:])
    host = parse_host(pattern)
    if host is None:
        raise ValueError(f"invalid host name {pattern!r}")
    return host


def subdomain_of(host: str, domain: str) -> str | None:
    """The part of normalized ``host`` before normalized ``domain``.

    ``""`` for the bare domain; ``None`` when ``host`` is not ``domain`` and
    does not end in ``"." + domain`` (so ``evilexample.com`` is not under
    ``example.com``).
    """
    if host == domain:
        return ""
    if host.endswith(domain) and host[-len(domain) - 1] == ".":
        return host[: -len(domain) - 1]
    return None


class HostMemo(Generic[T]):
    """Remembers ``resolve(raw_host)`` per raw ``Host`` value.

    A cache hit is one dict lookup on the header as received, before any
    parsing. The memo holds at most ``limit`` entries and starts over when
    full, so a flood of distinct (hostile) hosts costs parsing time, never
    unbounded memory. ``resolve`` must be a pure function of the raw value.
    """

    __slots__ = ("_resolve", "_memo", "_limit")

    def __init__(self, resolve: Callable[[str], T], limit: int = 4096) -> None:
        self._resolve = resolve
        self._memo: dict[str, T] = {}
        self._limit = limit

    def __call__(self, raw: str) -> T:
        """Return ``resolve(raw)``, computing it at most once per memo epoch."""
        try:
            return self._memo[raw]
        except KeyError:
            pass
        value = self._resolve(raw)
        if len(self._memo) >= self._limit:
            self._memo.clear()
        self._memo[raw] = value
        return value


class HostTable(Generic[T]):
    """An immutable map from host patterns to values: exact names and ``*.`` wildcards.

    Patterns are normalized with :func:`normalize_host_pattern`; two patterns
    that normalize alike are an error. A wildcard ``*.example.com`` matches one
    label (``foo.example.com``), never ``example.com`` nor ``a.b.example.com``;
    an exact name beats a wildcard. Used by ``HostDispatcher`` and the
    registry's custom domains alike. ``normalized=True`` skips normalizing
    patterns that were checked when they were stored.
    """

    __slots__ = ("_exact", "_wildcard")

    def __init__(self, patterns: Mapping[str, T], *, normalized: bool = False) -> None:
        exact: dict[str, T] = {}
        wildcard: dict[str, T] = {}
        for pattern, value in patterns.items():
            # normalized=True: the caller checked every pattern already (the registry did).
            name = pattern if normalized else normalize_host_pattern(pattern)
            table = exact
            if name.startswith("*."):
                table, name = wildcard, name[2:]
            if name in table:
                raise ValueError(f"host {pattern!r} is given twice")
            table[name] = value
        self._exact = exact
        self._wildcard = wildcard

    def lookup(self, host: str) -> T | None:
        """The value for normalized ``host``: exact first, then a one-label wildcard."""
        value = self._exact.get(host)
        if value is None:
            _label, dot, parent = host.partition(".")
            if dot:
                value = self._wildcard.get(parent)
        return value

    def __len__(self) -> int:
        return len(self._exact) + len(self._wildcard)

    def __iter__(self) -> Iterator[str]:
        yield from self._exact
        for parent in self._wildcard:
            yield f"*.{parent}"
