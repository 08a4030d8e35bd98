"""Pure prefix matching for path mounts.

:class:`PrefixTable` answers one question: which mount prefix, if any, is the
longest one that ends on a path-segment boundary of a request path? Prefixes are
validated and indexed once, at construction; a lookup then scans the path only
as deep as the deepest mount, so its cost does not grow with the request path.

>>> table = PrefixTable({"/api": "api", "/api/v2": "v2"})
>>> table.match("/api/v2/users/7")
(7, 'v2')
>>> table.match("/apix") is None
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["PrefixTable", "normalize_prefix"]

T = TypeVar("T")


def normalize_prefix(prefix: str) -> str:
    """Return ``prefix`` without trailing slashes; ``""`` means the root.

    Raises :class:`ValueError` for a prefix that does not start with ``/`` (or
    is not empty) or that contains an empty segment (``//``), since no request
    path could reach it on a segment boundary in a useful way.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"mount prefix must be a str, not {type(prefix).__name__}")
    stripped = prefix.rstrip("/")
    if stripped and not stripped.startswith("/"):
        raise ValueError(f"mount prefix {prefix!r} must start with '/'")
    if "//" in stripped:
        raise ValueError(f"mount prefix {prefix!r} has an empty segment")
    return stripped


class PrefixTable(Generic[T]):
    """An immutable map from mount prefixes to values, matched by segment.

    Keys are normalized with :func:`normalize_prefix`; two keys that normalize
    to the same prefix are an error. The root prefix (``""`` or ``"/"``) is not
    a mount: give it to the caller's fallback instead.
    """

    __slots__ = ("_by_prefix", "_depth")

    def __init__(self, mounts: Mapping[str, T]) -> None:
        by_prefix: dict[str, T] = {}
        for prefix, value in mounts.items():
            normalized = normalize_prefix(prefix)
            if not normalized:
                raise ValueError("the root prefix is the fallback, not a mount")
            if normalized in by_prefix:
                raise ValueError(f"mount prefix {prefix!r} is given twice")
            by_prefix[normalized] = value
        self._by_prefix = by_prefix
        self._depth = max((p.count("/") for p in by_prefix), default=0)

    @property
    def depth(self) -> int:
        """Segments in the deepest prefix: the most a lookup scans."""
        return self._depth

    def __len__(self) -> int:
        return len(self._by_prefix)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_prefix)

    def __getitem__(self, prefix: str) -> T:
        return self._by_prefix[prefix]

    def match(self, path: str) -> tuple[int, T] | None:
        """Longest mount matching ``path``: ``(length of the prefix, value)``.

        A prefix matches when ``path`` equals it or continues with ``/``.
        Returns ``None`` when nothing matches.
        """
        by_prefix = self._by_prefix
        if self._depth == 1:  # the common case: one-segment mounts only
            end = path.find("/", 1)
            if end < 0:
                end = len(path)
            value = by_prefix.get(path[:end])
            return None if value is None else (end, value)
        ends = []
        end = 0
        for _ in range(self._depth):
            end = path.find("/", end + 1)
            if end < 0:
                ends.append(len(path))
                break
            ends.append(end)
        for end in reversed(ends):
            value = by_prefix.get(path[:end])
            if value is not None:
                return end, value
        return None
