"""A WSGI response body that runs a callback once, after the body's own ``close()``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .types import ResponseBody

__all__ = ["ReleasingBody"]


class ReleasingBody:
    """A response body that calls ``release`` once, after the body's own ``close``.

    PEP 3333: the server calls ``close()`` once the response is finished or
    abandoned, so ``release`` marks the true end of a request, streaming
    responses included.
    """

    __slots__ = ("_body", "_release")

    def __init__(self, body: ResponseBody, release: Callable[[], None]) -> None:
        self._body = body
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        """Close the wrapped body, then release (once, whatever happens)."""
        release, self._release = self._release, None
        if release is None:
            return
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            release()
