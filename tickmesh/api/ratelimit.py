"""Failed-login throttling per username and client, in memory.

After ``max_failures`` failed logins within ``window_s`` seconds, a (username, client) pair is
refused, right password or not, until the oldest of those failures leaves the window; a
successful login clears the pair's count. Keys are bounded (the oldest pair is forgotten first),
so a flood of made-up names cannot grow memory without limit.

The state lives in one process: several API processes each allow ``max_failures``. Behind a
reverse proxy every client has the proxy's address, so the limit becomes per username.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000


class LoginLimiter:
    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        now: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._now = now
        self._max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, username: str, client: str) -> int | None:
        """Whole seconds to wait before ``username`` may try again from ``client``, or None when
        it may try now."""
        key = (username, client)
        failures = self._recent(key)
        if len(failures) < self.max_failures:
            return None
        wait = failures[0] + self.window_s - self._now()
        return max(1, math.ceil(wait))

    def failed(self, username: str, client: str) -> None:
        key = (username, client)
        failures = self._recent(key)
        failures.append(self._now())
        self._failures[key] = failures
        if len(self._failures) > self._max_keys:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, username: str, client: str) -> None:
        self._failures.pop((username, client), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        """The key's failures still inside the window (older ones are dropped)."""
        failures = self._failures.pop(key, None) or deque(maxlen=self.max_failures)
        horizon = self._now() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if failures:
            self._failures[key] = failures  # re-inserted: the newest key is evicted last
        return failures
