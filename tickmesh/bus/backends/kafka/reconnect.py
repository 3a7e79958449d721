"""Riding out broker trouble: which aiokafka errors mean "try again", and the retry loop.

aiokafka already retries inside a request (metadata refresh, leader moves); what reaches this
module is a request that gave up, and a service loop must keep going once the broker is back.
Authorization failures and protocol mismatches are not retried: a person has to fix them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IncompatibleBrokerVersion,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    NodeNotReadyError,
    TopicAuthorizationFailedError,
    UnsupportedVersionError,
)

from tickmesh.bus.retry import retrying as shared_retrying

log = logging.getLogger("tickmesh.bus.kafka")

T = TypeVar("T")

_TRANSIENT = (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable, NodeNotReadyError)
_FATAL = (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    IncompatibleBrokerVersion,
    TopicAuthorizationFailedError,
    UnsupportedVersionError,
)


def is_transient(exc: BaseException) -> bool:
    """A failure that the same request may get past later (broker down, leader moving)."""
    return isinstance(exc, _TRANSIENT) or bool(getattr(exc, "retriable", False))


def is_recoverable(exc: BaseException) -> bool:
    """A consumer-side error aiokafka reports and then recovers from by itself (it rejoins the
    group): everything but authorization and protocol-version failures."""
    return isinstance(exc, KafkaError) and not isinstance(exc, _FATAL)


async def retrying(
    op: Callable[[], Awaitable[T]],
    what: str,
    closed: Callable[[], bool],
    deadline: float | None = None,
) -> T:
    """Run ``op`` until it gets through transient failures (see :mod:`tickmesh.bus.retry`)."""
    return await shared_retrying(
        op, what, closed, deadline, transient=_is_transient_kafka, log=log, backend="kafka"
    )


def _is_transient_kafka(exc: BaseException) -> bool:
    return isinstance(exc, KafkaError) and is_transient(exc)
