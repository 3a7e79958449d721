"""The NATS bus URL: ``nats://[user:password@]host[:port][,host:port...][?option=value&...]``.

Options (all optional): ``partitions`` (4; every process of a deployment must use the same
number), the stream retention limits ``max_msgs``, ``max_bytes``, ``max_age`` (seconds; the
JetStream defaults, unlimited, when absent), ``replicas`` (1), ``storage`` (``file`` or
``memory``), ``duplicate_window`` (seconds a ``Nats-Msg-Id`` is remembered, 120), ``timeout``
(seconds one broker request may take, 5) and ``retry`` (seconds a publish keeps retrying through a
broker outage before it raises :class:`~tickmesh.core.errors.RetryableError`, 60).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be an integer") from None


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number of seconds")
    return value


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError("must be >= 1")
    return value


def _limit(raw: str) -> int:
    value = _int(raw)
    if value < 1 and value != -1:
        raise ValueError("must be >= 1, or -1 for unlimited")
    return value


def _seconds(raw: str) -> float:
    value = _float(raw)
    if value < 0:
        raise ValueError("must be >= 0 seconds")
    return value


def _positive_seconds(raw: str) -> float:
    value = _float(raw)
    if value <= 0:
        raise ValueError("must be > 0 seconds")
    return value


def _storage(raw: str) -> str:
    if raw not in ("file", "memory"):
        raise ValueError("must be 'file' or 'memory'")
    return raw


# option -> (dataclass field, parser)
_OPTIONS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "partitions": ("partitions", _positive_int),
    "max_msgs": ("max_msgs", _limit),
    "max_bytes": ("max_bytes", _limit),
    "max_age": ("max_age_s", _seconds),
    "replicas": ("replicas", _positive_int),
    "storage": ("storage", _storage),
    "duplicate_window": ("duplicate_window_s", _positive_seconds),
    "timeout": ("timeout_s", _positive_seconds),
    "retry": ("retry_s", _seconds),
}


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """Connection and stream settings of one NATS bus."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    partitions: int = 4
    max_msgs: int = -1
    max_bytes: int = -1
    max_age_s: float = 0.0
    replicas: int = 1
    storage: str = "file"
    duplicate_window_s: float = 120.0
    timeout_s: float = 5.0
    retry_s: float = 60.0

    @classmethod
    def from_url(cls, url: str) -> NatsOptions:
        """Parse a ``nats://`` URL; raises ValueError naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme != "nats":
            raise ValueError(f"expected a nats:// URL, got scheme {parts.scheme!r}")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("a nats:// URL has no path or fragment")
        return cls(servers=_servers(parts.netloc), **_parse_query(parts.query))


def _servers(netloc: str) -> tuple[str, ...]:
    """``user:pw@a:4222,b:4222`` -> one URL per server, each carrying the credentials."""
    credentials, _, hosts = netloc.rpartition("@")
    userinfo = f"{credentials}@" if credentials else ""
    servers = []
    for host in hosts.split(","):
        if not host or host.startswith(":"):
            raise ValueError(f"missing host in {netloc!r}")
        _check_port(host)
        servers.append(f"nats://{userinfo}{host}")
    return tuple(servers)


def _check_port(host: str) -> None:
    if host.startswith("["):  # IPv6 literal
        port = host.rpartition("]")[2].removeprefix(":")
    else:
        port = host.rpartition(":")[2] if ":" in host else ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"invalid port in {host!r}")


def _parse_query(query: str) -> dict[str, Any]:
    raw = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(raw) - set(_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; nats:// accepts {', '.join(_OPTIONS)}"
        )
    values = {}
    for name, text in raw.items():
        field_name, parse = _OPTIONS[name]
        try:
            values[field_name] = parse(text)
        except ValueError as exc:
            raise ValueError(f"option {name}={text!r}: {exc}") from None
    return values
