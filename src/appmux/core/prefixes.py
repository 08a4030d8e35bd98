"""Pure prefix matching for path mounts.

:class:`PrefixTable` answers one question: which mount prefix, if any, is the
longest one that ends on a path-segment boundary of a request path? Prefixes are
validated and indexed once, at construction; a lookup then scans the path only
as deep as the deepest mount, so its cost does not grow with the request path.
:func:`split_head` is the one place that cuts a path's first segment off, for
the mounts and the per-segment tenants alike.

>>> table = PrefixTable({"/api": "api", "/api/v2": "v2"})
>>> table.match("/api/v2/users/7")
(7, 'v2')
>>> table.match("/apix") is None
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["PrefixTable", "normalize_prefix", "split_head"]

T = TypeVar("T")


def split_head(path: str) -> str:
    """The first segment of ``path`` with its slash: ``"/api"`` for ``"/api/v2"``.

    The whole path when it has one segment; ``""`` for ``""``; ``"/"`` for
    ``"/"`` and ``"//x"`` (an empty first segment). Nothing is normalized.
    """
    end = path.find("/", 1)
    return path if end < 0 else path[:end]


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


# A first segment's entry: (its own mount as (prefix length, value) or None,
# the lengths of longer mounts under it, longest first, or None).
_Head = tuple[tuple[int, T] | None, tuple[int, ...] | None]


class PrefixTable(Generic[T]):
    """An immutable map from mount prefixes to values, matched by segment.

    Keys are normalized with :func:`normalize_prefix`; two keys that normalize
    to the same prefix are an error. The root prefix (``""`` or ``"/"``) is not
    a mount: give it to the caller's fallback instead.

    A lookup slices off the request's first segment and looks it up. Only where
    longer mounts start with that segment does it test them, longest first, by
    their known lengths: it never scans the rest of the request path.
    """

    __slots__ = ("_by_prefix", "_heads")

    def __init__(self, mounts: Mapping[str, T]) -> None:
        by_prefix: dict[str, tuple[int, T]] = {}
        for prefix, value in mounts.items():
            normalized = normalize_prefix(prefix)
            if not normalized:
                raise ValueError("the root prefix is the fallback, not a mount")
            if normalized in by_prefix:
                raise ValueError(f"mount prefix {prefix!r} is given twice")
            by_prefix[normalized] = (len(normalized), value)
        longer: dict[str, set[int]] = {}
        for prefix in by_prefix:
            end = prefix.find("/", 1)
            if end > 0:
                longer.setdefault(prefix[:end], set()).add(len(prefix))
        heads: dict[str, _Head[T]] = {}
        for head in {*longer, *(p for p in by_prefix if p.find("/", 1) < 0)}:
            lengths = tuple(sorted(longer[head], reverse=True)) if head in longer else None
            heads[head] = (by_prefix.get(head), lengths)
        self._by_prefix = by_prefix
        self._heads = heads

    @property
    def depth(self) -> int:
        """Segments in the deepest prefix."""
        return max((p.count("/") for p in self._by_prefix), default=0)

    def __len__(self) -> int:
        return len(self._by_prefix)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_prefix)

    def __getitem__(self, prefix: str) -> T:
        return self._by_prefix[prefix][1]

    def match(self, path: str) -> tuple[int, T] | None:
        """Longest mount matching ``path``: ``(length of the prefix, value)``.

        A prefix matches when ``path`` equals it or continues with ``/``.
        Returns ``None`` when nothing matches.
        """
        end = path.find("/", 1)  # split_head, inlined: this runs per request
        head = self._heads.get(path if end < 0 else path[:end])
        if head is None:
            return None
        own, longer = head
        return own if longer is None else self._match_longer(path, own, longer)

    def _match_longer(
        self, path: str, own: tuple[int, T] | None, longer: tuple[int, ...]
    ) -> tuple[int, T] | None:
        """The longest of a head's longer mounts that ``path`` matches, else ``own``."""
        size = len(path)
        for length in longer:
            if length > size or (length < size and path[length] != "/"):
                continue
            found = self._by_prefix.get(path[:length])
            if found is not None:
                return found
        return own
