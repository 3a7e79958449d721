"""Pick a bus backend from a URL.

``memory://`` is built in; ``redis://``, ``nats://`` and ``kafka://`` are optional installs
(``pip install 'tickmesh[redis]'`` and so on). Each backend module exposes one class with
``from_url(url, prefix)``; ``prefix`` namespaces every stream, subject, topic and group so several
deployments (or test runs) share one broker without seeing each other's messages.
"""

from __future__ import annotations

import importlib
from urllib.parse import parse_qs, urlparse

from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.bus.base import Bus
from tickmesh.core.errors import ConfigError

# scheme -> (module, class, pip extra)
_BACKENDS = {
    "redis": ("tickmesh.bus.backends.redis", "RedisBus", "redis"),
    "rediss": ("tickmesh.bus.backends.redis", "RedisBus", "redis"),
    "nats": ("tickmesh.bus.backends.nats", "NatsBus", "nats"),
    "kafka": ("tickmesh.bus.backends.kafka", "KafkaBus", "kafka"),
}


def create_bus(url: str, prefix: str = "") -> Bus:
    """``memory://?partitions=4&retention=10000``, ``redis://host:port/db``, ``nats://host:port``,
    ``kafka://host:port[,host:port]``."""
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme == "memory":
        return _memory(url, parsed.query)
    if scheme in _BACKENDS:
        module_name, class_name, extra = _BACKENDS[scheme]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"bus URL {url!r} needs the {scheme} client library ({exc}); "
                f"install it with: pip install 'tickmesh[{extra}]'"
            ) from exc
        try:
            bus: Bus = getattr(module, class_name).from_url(url, prefix=prefix)
        except ValueError as exc:
            raise ConfigError(f"bus URL {url!r}: {exc}") from exc
        return bus
    known = ", ".join(["memory://", *(f"{s}://" for s in _BACKENDS)])
    raise ConfigError(f"bus URL {url!r}: unknown scheme {scheme!r}; use one of {known}")


def _memory(url: str, query_string: str) -> MemoryBus:
    query = {k: v[-1] for k, v in parse_qs(query_string).items()}
    unknown = set(query) - {"partitions", "retention"}
    if unknown:
        raise ConfigError(
            f"bus URL {url!r}: unknown option(s) {', '.join(sorted(unknown))}; "
            "memory:// accepts partitions and retention"
        )
    try:
        return MemoryBus(int(query.get("partitions", 4)), int(query.get("retention", 10_000)))
    except ValueError as exc:
        raise ConfigError(f"bus URL {url!r}: {exc}") from exc
