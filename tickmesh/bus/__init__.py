"""The message bus: one interface, several backends, one contract."""

from tickmesh.bus.backends.memory import MemoryBus
from tickmesh.bus.base import Bus, Delivery, Outgoing, SubscribeOptions, Subscription
from tickmesh.bus.factory import create_bus

__all__ = [
    "Bus",
    "Delivery",
    "MemoryBus",
    "Outgoing",
    "SubscribeOptions",
    "Subscription",
    "create_bus",
]
