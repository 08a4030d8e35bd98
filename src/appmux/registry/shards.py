"""An immutable mapping whose updates copy only what they touch: pure, no I/O.

A registry snapshot of a million tenants cannot be copied for every change. A
:class:`ShardedMap` splits its keys by hash over a power-of-two number of
small dicts ("shards", a few hundred entries each); :meth:`ShardedMap.evolve`
returns a new map that shares every shard it did not touch with this one, so
applying a change costs one copy of the shard list plus one small dict per
changed key. Lookups are two subscripts. Readers never lock: a map is never
modified once built.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload

__all__ = ["SHARD_SIZE", "ShardedMap"]

V = TypeVar("V")
D = TypeVar("D")

#: The entries a shard holds on average when a map is built.
SHARD_SIZE = 256


def _shard_count(entries: int) -> int:
    count = 1
    while count * SHARD_SIZE < entries:
        count *= 2
    return count


class ShardedMap(Mapping[str, V]):
    """An immutable ``str`` → value mapping; :meth:`evolve` derives changed copies."""

    __slots__ = ("_shards", "_mask", "_len")

    _shards: tuple[dict[str, V], ...]

    def __init__(self, items: Mapping[str, V] | Iterable[tuple[str, V]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else list(items)
        shards = self.empty_shards(len(pairs))
        mask = len(shards) - 1
        for key, value in pairs:
            shards[hash(key) & mask][key] = value
        self._adopt(shards)

    @staticmethod
    def empty_shards(entries: int) -> list[dict[str, V]]:
        """Empty shards for about ``entries`` entries, to fill and :meth:`of_shards`.

        A key goes in ``shards[hash(key) & (len(shards) - 1)]``.
        """
        return [{} for _ in range(_shard_count(entries))]

    @classmethod
    def of_shards(cls, shards: list[dict[str, V]]) -> ShardedMap[V]:
        """The map of shards filled as :meth:`empty_shards` says (they are not copied)."""
        new = cls.__new__(cls)
        new._adopt(shards)
        return new

    def _adopt(self, shards: list[dict[str, V]]) -> None:
        self._shards = tuple(shards)
        self._mask = len(shards) - 1
        self._len = sum(len(shard) for shard in shards)

    @overload
    def get(self, key: str) -> V | None: ...
    @overload
    def get(self, key: str, default: D) -> V | D: ...
    def get(self, key: str, default: object = None) -> object:
        """The value of ``key``, else ``default`` (one hash, two subscripts)."""
        return self._shards[hash(key) & self._mask].get(key, default)

    def __getitem__(self, key: str) -> V:
        return self._shards[hash(key) & self._mask][key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._shards[hash(key) & self._mask]

    def __iter__(self) -> Iterator[str]:
        for shard in self._shards:
            yield from shard

    def __len__(self) -> int:
        return self._len

    def evolve(self, changes: Mapping[str, V | None]) -> ShardedMap[V]:
        """A new map with ``changes`` applied: a value sets its key, ``None`` removes it.

        Costs a copy of the shard list and of each touched shard; when the map
        has grown to four times its shards' size, it is rebuilt with more.
        """
        if not changes:
            return self
        shards = list(self._shards)
        mask = self._mask
        copied: set[int] = set()
        size = self._len
        for key, value in changes.items():
            index = hash(key) & mask
            if index not in copied:
                shards[index] = dict(shards[index])
                copied.add(index)
            shard = shards[index]
            if value is None:
                if shard.pop(key, None) is not None:
                    size -= 1
            else:
                if key not in shard:
                    size += 1
                shard[key] = value
        if size > 4 * SHARD_SIZE * len(shards):  # amortized: the count doubles at least
            return ShardedMap((key, value) for shard in shards for key, value in shard.items())
        return ShardedMap.of_shards(shards)

    def __repr__(self) -> str:
        return f"<ShardedMap of {self._len} entries in {len(self._shards)} shards>"
