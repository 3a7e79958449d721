"""Kafka bus backend (``kafka://``): ``pip install 'tickmesh[kafka]'``."""

try:
    import aiokafka  # noqa: F401
except ImportError as exc:
    raise ImportError("the Kafka bus needs aiokafka: pip install 'tickmesh[kafka]'") from exc

from tickmesh.bus.backends.kafka.bus import KafkaBus
from tickmesh.bus.backends.kafka.options import KafkaOptions

__all__ = ["KafkaBus", "KafkaOptions"]
