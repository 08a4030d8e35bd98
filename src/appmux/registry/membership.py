"""A compact set of names that may say "maybe" for a name it lacks: pure, no I/O.

An on-demand registry process holds the records of the tenants it serves, not
of every tenant, yet an invented host (``random123.example.com``) must not
become a database query. :class:`Membership` is a Bloom filter over every
tenant key (or every custom domain): ``name in membership`` is ``False`` for a
name that was never added, so such a host is answered without a query, and
``True`` for every added name and, rarely, for another one (about 0.2 % of
them at the sizes it is built for). Names are never removed (a removed tenant
only costs a query until the next whole read rebuilds the filter).

24 bits a name: 3 MB for a million names.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Membership"]

#: Bits per name the filter is sized for, and probes per name: about 0.2 % false positives.
BITS_PER_NAME = 24
PROBES = 3
#: Room for names added after the filter was built (by the change log) before it degrades.
HEADROOM = 1.25
_MASK32 = 0xFFFFFFFF


class Membership:
    """A Bloom filter of strings, sized for ``expected`` names."""

    __slots__ = ("_bits", "_size")

    def __init__(self, expected: int, names: Iterable[str] = ()) -> None:
        size = max(1024, int(max(expected, 1) * HEADROOM)) * BITS_PER_NAME
        self._bits = bytearray(size // 8 + 1)
        self._size = size
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        """Add ``name``: from now on ``name in self`` is ``True``."""
        bits, size = self._bits, self._size
        h = hash(name)
        first, step = h & _MASK32, ((h >> 32) & _MASK32) | 1
        for probe in range(PROBES):
            position = (first + probe * step) % size
            bits[position >> 3] |= 1 << (position & 7)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        bits, size = self._bits, self._size
        h = hash(name)
        first, step = h & _MASK32, ((h >> 32) & _MASK32) | 1
        for probe in range(PROBES):
            position = (first + probe * step) % size
            if not bits[position >> 3] & (1 << (position & 7)):
                return False
        return True
