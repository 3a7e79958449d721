"""NATS JetStream bus backend: ``create_bus("nats://host:4222?partitions=4")``."""

try:
    import nats  # noqa: F401 - the optional dependency this backend needs
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("the NATS bus needs nats-py: pip install 'tickmesh[nats]'") from exc

from tickmesh.bus.backends.nats.bus import NatsBus
from tickmesh.bus.backends.nats.options import NatsOptions

__all__ = ["NatsBus", "NatsOptions"]
