"""What routing decides, apart from any protocol: serve this app, or answer with this status.

A dispatcher's core returns one of these, and its protocol layer applies it:
a :class:`Route` says which app serves the request and how much of the path
it consumed (the protocol moves that much to ``SCRIPT_NAME``, or appends it to
``root_path`` with ``path`` whole); an :class:`Answer` is a status the
protocol layer turns into a response. ``None`` means "the dispatcher's
default app".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from .lease import Lease

__all__ = ["Answer", "Route"]

#: ``(app, consumed, tenant, lease)``: serve ``app``, having consumed
#: ``consumed`` characters of the request path. ``tenant`` is what the app is
#: told about its tenant (a registry record), or ``None``. ``lease`` is set
#: when the request was counted in flight: the protocol layer must call
#: ``lease.leave()`` once the response is finished. A plain tuple, because hot
#: paths unpack it on every request (a tuple subclass unpacks several times slower).
Route: TypeAlias = tuple[Any, int, Any, "Lease | None"]


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the request with ``status`` and a short ``message`` naming no internals.

    ``retry_after`` (seconds) goes with 503s; ``redirect_host`` with 308s: the
    protocol layer builds the same URL on that host.
    """

    status: int
    message: str
    retry_after: int | None = None
    redirect_host: str | None = None
