"""The built-in key rules in their WSGI form: callable with an environ, as before.

Each is the core's rule (``appmux.core.keys``: ``reads`` and ``key_of``,
which every dispatcher uses) plus ``__call__(environ)``: the key, ``None``, or
a raised werkzeug ``HTTPException`` (a ``400`` for a malformed host), so a
custom key function can build on them.
"""

from __future__ import annotations

from typing import cast

from ..core import keys
from ..core.routing import Answer
from .answers import answer_app
from .environ import token_reader
from .types import Environ

__all__ = [
    "HeaderKey",
    "HostKey",
    "PathSegmentKey",
    "SubdomainKey",
    "header_key",
    "host_key",
    "path_segment_key",
]


class _CalledWithEnviron:
    """``rule(environ)``: read the raw value the rule names, and map it to a key."""

    __slots__ = ()

    def __call__(self, environ: Environ) -> str | None:
        rule = cast(keys.KeyRule, self)
        key = rule.key_of(token_reader(rule.reads)(environ))
        if type(key) is Answer:
            raise answer_app(key)
        return key  # type: ignore[return-value]


class SubdomainKey(keys.SubdomainKey, _CalledWithEnviron):
    """Key requests by subdomain of ``domain``; a 400 for other or malformed hosts."""

    __slots__ = ()


class HostKey(keys.HostKey, _CalledWithEnviron):
    """Key requests by their whole normalized host (no port); 400 if malformed."""

    __slots__ = ()


class HeaderKey(keys.HeaderKey, _CalledWithEnviron):
    """Key requests by the value of one header; a missing or empty one gives ``None``."""

    __slots__ = ()


class PathSegmentKey(keys.PathSegmentKey, _CalledWithEnviron):
    """Key requests by their first path segment, consumed from the path."""

    __slots__ = ()


def header_key(name: str, *, lower: bool = True) -> HeaderKey:
    """Key requests by the value of HTTP header ``name`` (e.g. ``X-Tenant``)."""
    return HeaderKey(name, lower=lower)


#: Key requests by their whole normalized host (no port); 400 if malformed.
host_key = HostKey()

#: Key requests by their first path segment (``None`` for ``/`` and ``//x``).
path_segment_key = PathSegmentKey()
