"""The registry's values and input rules: pure, no I/O.

A :class:`TenantRecord` is what every process serves from: frozen, with its
config as a read-only mapping. The ``check_*`` functions enforce the rules that
need no site config (key format, JSON size, host names) and raise
:class:`ValueError` with the reason, for the stores and the CLI alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..core.hosts import normalize_domain, normalize_host_pattern

__all__ = [
    "MAX_CONFIG_BYTES",
    "STATUSES",
    "TenantRecord",
    "check_config",
    "check_domain",
    "check_key",
    "check_status",
    "freeze_config",
]

#: The states a tenant can be in.
STATUSES = ("active", "suspended", "archived")
#: The largest tenant config, as JSON text.
MAX_CONFIG_BYTES = 64 * 1024

# One lower-case DNS label: letters, digits, hyphens; 1-63; no hyphen at either end.
_KEY = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class TenantRecord:
    """One tenant as the registry holds it.

    ``config`` is a read-only mapping decoded from a JSON object; ``domains``
    are its custom hosts (``*.`` wildcards included), ``primary_host`` the one
    that redirecting domains point at; ``rev`` is the registry revision of the
    tenant's last change (a reload bumps it too).
    """

    key: str
    status: str = "active"
    reason: str | None = None
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    domains: tuple[str, ...] = ()
    primary_host: str | None = None
    rev: int = 0

    def same_app(self, other: TenantRecord) -> bool:
        """Whether ``other`` can keep this record's app (only domains differ)."""
        return (self.status, self.rev, self.config) == (other.status, other.rev, other.config)


def check_key(key: object) -> str:
    """A tenant key, lower-cased; ``ValueError`` unless it is one DNS label."""
    if not isinstance(key, str):
        raise ValueError(f"a tenant key must be a string, not {type(key).__name__}")
    lowered = key.lower()
    if not _KEY.fullmatch(lowered):
        raise ValueError(
            f"invalid tenant key {key!r}: one DNS label of a-z, 0-9 and '-',"
            " 1-63 characters, no '-' at either end"
        )
    return lowered


def check_status(status: object) -> str:
    """``status`` if it is one of :data:`STATUSES`, else ``ValueError``."""
    if not isinstance(status, str) or status not in STATUSES:
        raise ValueError(f"invalid status {status!r}: one of {', '.join(STATUSES)}")
    return status


def check_config(config: object) -> str:
    """The JSON text of ``config`` (``None`` is ``{}``); it must be an object of <= 64 KiB."""
    if config is None:
        config = {}
    if isinstance(config, str | bytes):
        try:
            config = json.loads(config)
        except ValueError as exc:
            raise ValueError(f"config is not valid JSON: {exc}") from None
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a JSON object, not {type(config).__name__}")
    try:
        text = json.dumps(dict(config), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config is not JSON-serializable: {exc}") from None
    if len(text.encode()) > MAX_CONFIG_BYTES:
        raise ValueError(f"config is {len(text.encode())} bytes of JSON; at most 64 KiB")
    return text


def freeze_config(text: str) -> Mapping[str, Any]:
    """The read-only mapping of a stored config's JSON text."""
    return MappingProxyType(json.loads(text) if text else {})


def check_domain(host: object) -> str:
    """A custom domain, normalized: a host name or a ``*.`` wildcard (not an IP)."""
    if not isinstance(host, str):
        raise ValueError(f"a domain must be a string, not {type(host).__name__}")
    try:
        normalized = normalize_host_pattern(host)
        if not normalized.startswith("*."):
            normalize_domain(normalized)  # refuses IPv6 literals
    except (TypeError, ValueError):
        raise ValueError(f"invalid host {host!r}") from None
    if ":" in host:
        raise ValueError(f"invalid host {host!r}: a domain has no port")
    return normalized
