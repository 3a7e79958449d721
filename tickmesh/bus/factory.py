"""Pick a bus backend from a URL (``memory://``; redis/nats/kafka arrive as optional extras)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.bus.base import Bus
from tickmesh.core.errors import ConfigError

_PLANNED = {"redis": "redis", "nats": "nats", "kafka": "kafka"}


def create_bus(url: str) -> Bus:
    """``memory://?partitions=4&retention=10000``."""
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme == "memory":
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
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
    if scheme in _PLANNED:
        raise ConfigError(
            f"bus URL {url!r}: the {scheme} backend is not available in this version yet; "
            "use memory://"
        )
    raise ConfigError(f"bus URL {url!r}: unknown scheme {scheme!r}; use memory://")
