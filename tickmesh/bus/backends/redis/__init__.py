"""Redis Streams bus backend (``redis://``): ``pip install 'tickmesh[redis]'``."""

try:
    import redis.asyncio  # noqa: F401
except ImportError as exc:
    raise ImportError("the Redis bus needs redis-py: pip install 'tickmesh[redis]'") from exc

from tickmesh.bus.backends.redis.bus import RedisBus
from tickmesh.bus.backends.redis.options import RedisOptions

__all__ = ["RedisBus", "RedisOptions"]
