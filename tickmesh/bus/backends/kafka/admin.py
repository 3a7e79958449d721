"""Cluster administration the bus needs: create and delete topics, delete groups, read a group's
committed offsets with their metadata.

Requests go through one :class:`aiokafka.client.AIOKafkaClient`. Topic requests go to the
controller when the metadata names one that exists, otherwise to any broker (newer brokers
forward them; the librdkafka mock cluster names a controller id that matches no broker). A
broker that does not implement a request at all (the mock has no CreateTopics, DeleteTopics or
DeleteGroups) makes the call return False: topics are then auto-created on first use and
nothing is deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    GroupIdNotFound,
    IncompatibleBrokerVersion,
    NoError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.protocol.admin import CreateTopicsRequest, DeleteGroupsRequest, DeleteTopicsRequest
from aiokafka.protocol.commit import OffsetFetchRequest
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.structs import TopicPartition

from tickmesh.bus.backends.kafka.reconnect import log

REQUEST_TIMEOUT_MS = 30_000
NO_OFFSET = -1

Committed = dict[TopicPartition, tuple[int, str]]


class KafkaAdmin:
    """Administrative requests on one client connection (see the module docstring)."""

    def __init__(self, bootstrap_servers: Sequence[str], client_id: str) -> None:
        self._client = AIOKafkaClient(
            bootstrap_servers=list(bootstrap_servers),
            client_id=client_id,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
        )

    async def start(self) -> None:
        await self._client.bootstrap()

    async def close(self) -> None:
        await self._client.close()

    def broker_count(self) -> int:
        return len(self._client.cluster.brokers())

    async def partition_count(self, topic: str) -> int | None:
        """Partitions of an existing topic (None if there is no such topic); never creates it."""
        cluster = await self._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic)
        return None if partitions is None else len(partitions)

    async def topics(self) -> set[str]:
        cluster = await self._client.fetch_all_metadata()
        return set(cluster.topics())

    async def create_topic(self, name: str, partitions: int, replication: int) -> bool:
        """Create ``name`` unless it exists; False when the broker cannot create topics."""
        request = CreateTopicsRequest([(name, partitions, replication, [], [])], 10_000, False)
        response = await self._send_topic_request(request)
        if response is None:
            return False
        for row in response.topic_errors:
            _raise_unless(row[1], TopicAlreadyExistsError)
        return True

    async def delete_topics(self, names: Iterable[str]) -> bool:
        """Delete topics (unknown ones are ignored); False when the broker cannot."""
        topics = sorted(names)
        if not topics:
            return True
        response = await self._send_topic_request(DeleteTopicsRequest(topics, 10_000))
        if response is None:
            return False
        for _topic, code in response.topic_error_codes:
            _raise_unless(code, UnknownTopicOrPartitionError)
        return True

    async def delete_groups(self, groups: Iterable[str]) -> bool:
        """Delete consumer groups (unknown ones are ignored); False when the broker cannot."""
        for group in sorted(groups):
            node = await self._coordinator(group)
            try:
                response = await self._client.send(node, DeleteGroupsRequest([group]))
            except IncompatibleBrokerVersion:
                return False
            for _group, code in response.results:
                _raise_unless(code, GroupIdNotFound)
        return True

    async def committed(self, group: str, partitions: Sequence[TopicPartition]) -> Committed:
        """``{partition: (offset, metadata)}``; offset is -1 where the group committed nothing."""
        by_topic: dict[str, list[int]] = defaultdict(list)
        for tp in partitions:
            by_topic[tp.topic].append(tp.partition)
        node = await self._coordinator(group)
        request = OffsetFetchRequest(group, sorted(by_topic.items()))
        response = await self._client.send(node, request)
        _raise_unless(getattr(response, "error_code", 0))
        found: Committed = dict.fromkeys(partitions, (NO_OFFSET, ""))
        for topic, rows in response.topics:
            for partition, offset, metadata, code in rows:
                _raise_unless(code, UnknownTopicOrPartitionError)
                found[TopicPartition(topic, partition)] = (offset, metadata or "")
        return found

    async def _coordinator(self, group: str) -> int:
        response = await self._client.send(
            self._client.get_random_node(), FindCoordinatorRequest(group, 0)
        )
        _raise_unless(response.error_code)
        return int(response.coordinator_id)

    async def _send_topic_request(self, request: Any) -> Any:
        await self._client.force_metadata_update()
        controller = self._client.cluster.controller
        node = controller.nodeId if controller is not None else self._client.get_random_node()
        try:
            return await self._client.send(node, request)
        except IncompatibleBrokerVersion as exc:
            log.info("kafka: the broker does not support %s (%s)", type(request).__name__, exc)
            return None


def _raise_unless(code: int, *tolerated: type[Exception]) -> None:
    error = for_code(code)
    if error is not NoError and error not in tolerated:
        raise error()
