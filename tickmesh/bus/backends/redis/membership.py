"""Who is in a consumer group, kept in Redis so members in different processes agree.

Each (topic, group) has a sorted set of member -> last seen (ms, the server's clock, so hosts'
clocks never matter). A member refreshes itself on fetch; one that has not been seen within
``ack_wait`` is dropped, exactly as the memory bus stops counting it as live. Partition ``p`` of
the topic goes to the ``p % n``-th live member in name order: every member computes the same
assignment from the same set. Members of one group should share ``ack_wait``: the shortest
one decides when a silent member stops counting.
"""

from __future__ import annotations

from collections.abc import Sequence

# KEYS: one member set per topic. ARGV: consumer, ack_wait ms, key ttl ms.
# Returns, per key, the live members after refreshing this one.
REFRESH_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local horizon = now - tonumber(ARGV[2])
local live = {}
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. horizon)
  redis.call('PEXPIRE', key, ARGV[3])
  live[i] = redis.call('ZRANGE', key, 0, -1)
end
return live
"""

MIN_KEY_TTL_MS = 60_000


def key_ttl_ms(ack_wait_ms: int) -> int:
    """A member set whose members have all been gone for a while expires by itself."""
    return max(MIN_KEY_TTL_MS, 4 * ack_wait_ms)


def assigned_partitions(live: Sequence[bytes], consumer: str, partitions: int) -> list[int]:
    """The partitions ``consumer`` serves among ``live`` members (itself always counts)."""
    names = sorted({member.decode() for member in live} | {consumer})
    idx, n = names.index(consumer), len(names)
    return [p for p in range(partitions) if p % n == idx]
