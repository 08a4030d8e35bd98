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
    "stored_record",
]

#: The states a tenant can be in.
STATUSES = ("active", "suspended", "archived")
#: The largest tenant config, as JSON text.
MAX_CONFIG_BYTES = 64 * 1024

# One lower-case DNS label: letters, digits, hyphens; 1-63; no hyphen at either end.
_KEY = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class TenantRecord:
    """One tenant as the registry holds it: immutable.

    ``config`` is a read-only mapping decoded from a JSON object; ``domains``
    are its custom hosts (``*.`` wildcards included), ``primary_host`` the one
    that redirecting domains point at; ``rev`` is the registry revision of the
    tenant's last change (a reload bumps it too).

    A registry of a million tenants holds a million records, so a record is
    compact: slots, its config kept as the stored JSON text until first read,
    and a single domain kept without a tuple around it.
    """

    __slots__ = ("key", "status", "reason", "_config", "_domains", "primary_host", "rev")

    key: str
    status: str
    reason: str | None
    primary_host: str | None
    rev: int
    _config: Mapping[str, Any] | str
    _domains: tuple[str, ...] | str

    def __init__(
        self,
        key: str,
        status: str = "active",
        reason: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        domains: tuple[str, ...] | str = (),
        primary_host: str | None = None,
        rev: int = 0,
    ) -> None:
        # ``config`` may be the stored JSON text (a store's rows): decoded on first read.
        if config is None:
            config = _EMPTY
        elif not isinstance(config, str) and not isinstance(config, MappingProxyType):
            config = MappingProxyType(dict(config))
        if not isinstance(domains, str):
            domains = tuple(domains)
            if len(domains) == 1:
                domains = domains[0]
        _fill(self, key, status, reason, config, domains, primary_host, rev)

    @property
    def config(self) -> Mapping[str, Any]:
        """The tenant's config: a read-only mapping."""
        config = self._config
        if isinstance(config, str):
            config = freeze_config(config)
            object.__setattr__(self, "_config", config)  # a cache: the value is the same
        return config

    @property
    def domains(self) -> tuple[str, ...]:
        """The tenant's custom domains, by host."""
        domains = self._domains
        return (domains,) if isinstance(domains, str) else domains

    def with_domains(self, domains: tuple[str, ...], primary_host: str | None) -> TenantRecord:
        """This record with other custom domains (and primary host)."""
        record = _new(TenantRecord)
        stored = domains[0] if len(domains) == 1 else domains
        _fill(
            record, self.key, self.status, self.reason, self._config, stored, primary_host, self.rev
        )
        return record

    def same_app(self, other: TenantRecord) -> bool:
        """Whether ``other`` can keep this record's app (only domains differ)."""
        if (self.status, self.rev) != (other.status, other.rev):
            return False
        mine, theirs = self._config, other._config
        if isinstance(mine, str) and isinstance(theirs, str):
            return mine == theirs
        return self.config == other.config

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.key,
            self.status,
            self.reason,
            self.config,
            self.domains,
            self.primary_host,
            self.rev,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TenantRecord):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((self.key, self.rev))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"TenantRecord is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"TenantRecord is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            TenantRecord,
            (
                self.key,
                self.status,
                self.reason,
                dict(self.config),
                self.domains,
                self.primary_host,
                self.rev,
            ),
        )

    def __repr__(self) -> str:
        return (
            f"TenantRecord(key={self.key!r}, status={self.status!r}, reason={self.reason!r},"
            f" config={dict(self.config)!r}, domains={self.domains!r},"
            f" primary_host={self.primary_host!r}, rev={self.rev!r})"
        )


_EMPTY: Mapping[str, Any] = MappingProxyType({})
_new = object.__new__
_SET_KEY, _SET_STATUS, _SET_REASON, _SET_CONFIG, _SET_DOMAINS, _SET_PRIMARY, _SET_REV = (
    TenantRecord.__dict__[name].__set__ for name in TenantRecord.__slots__
)


def _fill(
    record: TenantRecord,
    key: str,
    status: str,
    reason: str | None,
    config: Mapping[str, Any] | str,
    domains: tuple[str, ...] | str,
    primary_host: str | None,
    rev: int,
) -> None:
    # The slots' own setters: the class refuses attribute assignment.
    _SET_KEY(record, key)
    _SET_STATUS(record, status)
    _SET_REASON(record, reason)
    _SET_CONFIG(record, config)
    _SET_DOMAINS(record, domains)
    _SET_PRIMARY(record, primary_host)
    _SET_REV(record, rev)


def stored_record(
    key: str,
    status: str,
    reason: str | None,
    config: Mapping[str, Any] | str,
    rev: int,
    domains: tuple[str, ...] | str = (),
    primary_host: str | None = None,
) -> TenantRecord:
    """A record from a store's row, its config still JSON text.

    The fast path for reading a whole registry; :class:`TenantRecord` for the
    rest. ``domains`` is a tuple, or one host as a plain string.
    """
    record = _new(TenantRecord)
    _SET_KEY(record, key)  # _fill, inlined: a whole read makes a million of these
    _SET_STATUS(record, status)
    _SET_REASON(record, reason)
    _SET_CONFIG(record, config)
    _SET_DOMAINS(record, domains)
    _SET_PRIMARY(record, primary_host)
    _SET_REV(record, rev)
    return record


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
