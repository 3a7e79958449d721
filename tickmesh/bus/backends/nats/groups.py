"""A consumer group on one topic: one durable pull consumer per partition, created by the first
member to join (later members, in any process, reuse it as it is, like the memory bus keeps the
options a group was created with)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import DEFAULT_PREFIX, AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy
from nats.js.errors import NotFoundError

from tickmesh.bus.backends.nats.membership import Roster
from tickmesh.bus.backends.nats.names import Names
from tickmesh.bus.base import SubscribeOptions

# No limit on messages delivered and not yet acked: a consumer only ever holds what its fetches
# asked for, and at the limit the broker leaves ``no_wait`` pull requests unanswered (2.9), which
# would stall every fetch instead of applying backpressure.
_UNLIMITED = -1


@dataclass(eq=False, slots=True)
class GroupPartition:
    """One partition consumer of a group. ``barrier`` is the ``$JS.ACK`` reply subject of the last
    message this process acknowledged on it: acking it again with a reply waits until the broker
    has applied every earlier ack (see :meth:`NatsBus.lag`)."""

    group: GroupTopic
    index: int
    consumer: str
    next_subject: str
    barrier: str | None = None


@dataclass(eq=False)
class GroupTopic:
    """What this process knows of one consumer group on one topic."""

    group: str
    topic: str
    stream: str
    options: SubscribeOptions
    roster: Roster
    partitions: list[GroupPartition] = field(default_factory=list)


def consumer_config(name: str, subject: str, options: SubscribeOptions) -> ConsumerConfig:
    """The redelivery policy of ``options`` as a durable, explicitly acknowledged pull consumer."""
    start = DeliverPolicy.ALL if options.start == "earliest" else DeliverPolicy.NEW
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=subject,
        deliver_policy=start,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=options.ack_wait_s,
        max_deliver=options.max_deliver,
        max_ack_pending=_UNLIMITED,
        replay_policy=ReplayPolicy.INSTANT,
    )


async def open_group(
    js: JetStreamContext,
    names: Names,
    group: str,
    topic: str,
    options: SubscribeOptions,
    roster: Roster,
) -> GroupTopic:
    """Make sure every partition consumer of (group, topic) exists; the stream must exist."""
    stream = names.stream(topic)
    found = GroupTopic(group, topic, stream, options, roster)
    subjects = names.subjects(topic)
    for p in range(len(subjects)):
        name = names.consumer(group, p)
        next_subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{name}"
        found.partitions.append(GroupPartition(found, p, name, next_subject))
    await asyncio.gather(
        *(
            _ensure_consumer(js, stream, consumer_config(part.consumer, subject, options))
            for part, subject in zip(found.partitions, subjects, strict=True)
        )
    )
    return found


async def _ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    assert config.durable_name is not None
    try:
        await js.consumer_info(stream, config.durable_name)
    except NotFoundError:
        await js.add_consumer(stream, config)
