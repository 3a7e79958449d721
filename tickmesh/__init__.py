"""tickmesh: an event-driven algorithmic trading platform built from small services on a bus."""

__version__ = "0.1.0"
