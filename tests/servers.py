"""Find the servers integration tests need: URLs from the environment, local defaults.

A test that needs a server calls :func:`require`; when the server is unreachable the test skips
with the reason, unless ``TICKMESH_REQUIRE_SERVICES=1`` (set by ``.ci/run``), where it fails.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from urllib.parse import urlparse

import pytest

DEFAULTS = {
    "redis": ("TICKMESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "nats": ("TICKMESH_TEST_NATS_URL", "nats://127.0.0.1:4222"),
    "postgres": ("TICKMESH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "kafka": ("TICKMESH_TEST_KAFKA_URL", ""),  # empty: the librdkafka mock cluster
}


def services_required() -> bool:
    return os.environ.get("TICKMESH_REQUIRE_SERVICES", "") == "1"


def url_of(name: str) -> str:
    env, default = DEFAULTS[name]
    return os.environ.get(env, default)


@cache
def _reachable(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"{host}:{port} unreachable ({exc})"


def unavailable(reason: str) -> None:
    """Skip, or fail when CI requires every service."""
    if services_required():
        pytest.fail(f"required service unavailable: {reason} (TICKMESH_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def require(name: str) -> str:
    """The URL of server ``name``; skips (or fails under CI) when it cannot be reached."""
    url = url_of(name)
    if name == "kafka" and not url:
        return kafka_mock_url()
    parsed = urlparse(url)
    for netloc in parsed.netloc.split(","):
        host_port = netloc.rsplit("@", 1)[-1]
        host, _, port = host_port.partition(":")
        problem = _reachable(host or "127.0.0.1", int(port or _DEFAULT_PORTS[parsed.scheme]))
        if problem:
            unavailable(f"{name} at {url}: {problem}; set {DEFAULTS[name][0]}")
    return url


_DEFAULT_PORTS = {"redis": 6379, "nats": 4222, "postgresql": 5432, "kafka": 9092}
_mock_cluster: list[object] = []


def kafka_mock_url() -> str:
    """A real Kafka-protocol broker on loopback: librdkafka's mock cluster, one per test session."""
    try:
        from confluent_kafka import Producer
    except ImportError:
        unavailable("confluent-kafka is not installed (it bundles the Kafka mock cluster)")
    if not _mock_cluster:
        producer = Producer({"test.mock.num.brokers": 1})
        brokers = producer.list_topics(timeout=5).brokers
        address = next(f"{b.host}:{b.port}" for b in brokers.values())
        _mock_cluster.append((producer, address))  # keeps the cluster alive
    _, address = _mock_cluster[0]  # type: ignore[misc]
    return f"kafka://{address}"
