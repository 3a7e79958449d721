"""The ``kafka://`` bus URL: the brokers to bootstrap from, and in the query string the bus
options; anything else in the query is refused (a typo must not silently fall back to a
default)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

ACCEPTED_OPTIONS = ("partitions", "replication_factor", "session_timeout_ms")
DEFAULT_PARTITIONS = 4
DEFAULT_PORT = 9092
# The lowest session timeout a broker accepts by default (group.min.session.timeout.ms): a dead
# process is noticed after this long, and a restarted one is not kept waiting longer than needed.
DEFAULT_SESSION_TIMEOUT_MS = 6000
MIN_SESSION_TIMEOUT_MS = 1000


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    """Where the brokers are and how topics and groups are set up.

    ``partitions`` is the partition count of the topics the bus creates; every process of a
    deployment must use the same (a key's partition is ``crc32(key) % partitions``).
    ``replication_factor`` of created topics defaults to ``min(3, brokers in the cluster)``.
    ``session_timeout_ms`` is how long the group coordinator waits for a silent process before
    handing its partitions to the others.
    """

    bootstrap_servers: tuple[str, ...]
    partitions: int = DEFAULT_PARTITIONS
    replication_factor: int | None = None
    session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS

    def __post_init__(self) -> None:
        if not self.bootstrap_servers:
            raise ValueError("at least one broker host:port is needed")
        if self.partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {self.partitions}")
        if self.replication_factor is not None and self.replication_factor < 1:
            raise ValueError(f"replication_factor must be >= 1, got {self.replication_factor}")
        if self.session_timeout_ms < MIN_SESSION_TIMEOUT_MS:
            raise ValueError(
                f"session_timeout_ms must be >= {MIN_SESSION_TIMEOUT_MS}, "
                f"got {self.session_timeout_ms}"
            )

    @property
    def heartbeat_interval_ms(self) -> int:
        """A third of the session timeout, as Kafka recommends."""
        return self.session_timeout_ms // 3


def parse_url(url: str) -> KafkaOptions:
    """``kafka://host:port[,host:port]?partitions=4`` -> options; raises ValueError naming what
    is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "kafka":
        raise ValueError(f"scheme must be kafka, got {parts.scheme!r}")
    if parts.path.strip("/"):
        raise ValueError(f"a kafka:// URL has no path, got {parts.path!r}")
    query = {name: values[-1] for name, values in parse_qs(parts.query, True).items()}
    unknown = sorted(set(query) - set(ACCEPTED_OPTIONS))
    if unknown:
        accepted = ", ".join(ACCEPTED_OPTIONS)
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; kafka:// accepts {accepted}")
    replication = (
        _integer(query, "replication_factor", 1) if "replication_factor" in query else None
    )
    return KafkaOptions(
        bootstrap_servers=_brokers(parts.netloc),
        partitions=_integer(query, "partitions", DEFAULT_PARTITIONS),
        replication_factor=replication,
        session_timeout_ms=_integer(query, "session_timeout_ms", DEFAULT_SESSION_TIMEOUT_MS),
    )


def _brokers(netloc: str) -> tuple[str, ...]:
    if "@" in netloc:
        raise ValueError("credentials in a kafka:// URL are not supported")
    if not netloc:
        raise ValueError("no broker given: use kafka://host:port[,host:port]")
    return tuple(_broker(item) for item in netloc.split(","))


def _broker(item: str) -> str:
    """``host:port``, ``host`` (port 9092) or ``[v6 address]:port``."""
    if item.startswith("["):
        address, _, rest = item.partition("]")
        host, port = address + "]", rest.removeprefix(":") if rest else str(DEFAULT_PORT)
    elif item.count(":") <= 1:
        host, _, port = item.partition(":")
        port = port or str(DEFAULT_PORT)
    else:
        host, port = "", ""
    if len(host) < 1 or host == "[]" or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"broker must be host:port, got {item!r}")
    return f"{host}:{int(port)}"


def _integer(query: dict[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"option {name} must be an integer, got {text!r}") from None
