"""What a cascade decides, for both protocols: pure, no I/O.

A cascade tries its apps in order; an answer that says "not mine" passes the
request to the next app, and the last app's answer stands. With
``cascade_on="status"`` (the default) a ``404`` or ``405`` passes; with
``"marker"`` only a ``404`` carrying ``X-Cascade: pass`` does (the Rails and
Sinatra convention), so that a new app's real 404s stay its own.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["BODY_LIMIT", "CASCADE_ON", "check_cascade", "passes"]

#: The values of ``cascade_on``.
CASCADE_ON = ("status", "marker")
#: The request body a cascade buffers to replay to each app (larger: the first app only).
BODY_LIMIT = 1024 * 1024


def check_cascade(apps: int, cascade_on: str, body_limit: int) -> None:
    """``ValueError`` naming what is wrong with a cascade's arguments."""
    if apps < 2:
        raise ValueError(f"a cascade needs at least two apps, not {apps}")
    if cascade_on not in CASCADE_ON:
        raise ValueError(f"cascade_on must be 'status' or 'marker', not {cascade_on!r}")
    if not isinstance(body_limit, int) or isinstance(body_limit, bool) or body_limit < 0:
        raise ValueError(f"cascade_body_limit must be a whole number of bytes, not {body_limit!r}")


def passes(status: int, headers: Iterable[tuple[str, str]], cascade_on: str) -> bool:
    """Whether a response with ``status`` and ``headers`` passes to the next app."""
    if cascade_on == "status":
        return status in (404, 405)
    if status != 404:
        return False
    return any(name.lower() == "x-cascade" and value.strip() == "pass" for name, value in headers)
