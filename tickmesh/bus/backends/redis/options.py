"""The ``redis://`` bus URL: the connection part goes to redis-py, the query string holds the
bus options, and anything else in the query is refused (a typo must not silently fall back to a
default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

ACCEPTED_OPTIONS = ("maxlen", "min_age_s", "partitions")
DEFAULT_PARTITIONS = 4
DEFAULT_MAXLEN = 1_000_000
SCHEMES = ("redis", "rediss")
_N = TypeVar("_N", int, float)


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """How the bus lays out and trims its streams.

    Every process of one deployment must use the same ``partitions`` (a key's partition is
    ``crc32(key) % partitions``). Retention is per partition stream and approximate (Redis trims
    whole stream nodes): ``maxlen`` keeps about that many entries (``MAXLEN ~``; 0 keeps
    everything), ``min_age_s`` keeps entries younger than that (``MINID ~``, computed from this
    host's clock). Trimming does not wait for slow groups: a group further behind than the
    retention loses the trimmed messages, so size retention above the worst expected backlog.
    """

    partitions: int = DEFAULT_PARTITIONS
    maxlen: int = DEFAULT_MAXLEN
    min_age_s: float | None = None

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {self.partitions}")
        if self.maxlen < 0:
            raise ValueError(f"maxlen must be >= 0 (0 keeps everything), got {self.maxlen}")
        if self.min_age_s is not None and self.min_age_s <= 0:
            raise ValueError(f"min_age_s must be > 0, got {self.min_age_s}")
        if self.min_age_s is not None and self.maxlen:
            raise ValueError("maxlen and min_age_s are exclusive: trim by length or by age")


def parse_url(url: str) -> tuple[str, RedisOptions]:
    """Split ``redis://host:port/db?partitions=4&maxlen=100000`` into the URL redis-py connects
    to and the bus options; raises ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {parts.scheme!r}")
    _check_db(parts.path)
    query = {name: values[-1] for name, values in parse_qs(parts.query, True).items()}
    unknown = sorted(set(query) - set(ACCEPTED_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; "
            f"redis:// accepts {', '.join(ACCEPTED_OPTIONS)}"
        )
    by_age = "min_age_s" in query
    options = RedisOptions(
        partitions=_number(query, "partitions", int, DEFAULT_PARTITIONS),
        maxlen=_number(query, "maxlen", int, 0 if by_age else DEFAULT_MAXLEN),
        min_age_s=_number(query, "min_age_s", float, 0.0) if by_age else None,
    )
    return urlunsplit(parts._replace(query="", fragment="")), options


def _check_db(path: str) -> None:
    db = path.strip("/")
    if db and not db.isdigit():
        raise ValueError(f"the path must be a database number such as /0, got {path!r}")


def _number(query: dict[str, str], name: str, kind: type[_N], default: _N) -> _N:
    text = query.get(name)
    if text is None:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"option {name} must be {kind.__name__}, got {text!r}") from None
