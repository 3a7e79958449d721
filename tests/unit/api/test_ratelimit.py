"""The login throttle on a clock the test moves."""

from __future__ import annotations

from tickmesh.api.ratelimit import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, max_keys: int = 100) -> LoginLimiter:
    return LoginLimiter(3, 60.0, now=clock, max_keys=max_keys)


def test_below_the_limit_logins_may_proceed() -> None:
    clock = Clock()
    limit = limiter(clock)
    limit.failed("vera", "1.2.3.4")
    limit.failed("vera", "1.2.3.4")

    assert limit.retry_after("vera", "1.2.3.4") is None


def test_at_the_limit_wait_runs_until_oldest_failure_leaves_window() -> None:
    clock = Clock()
    limit = limiter(clock)
    for step in (0.0, 10.0, 20.0):
        clock.now = 1000.0 + step
        limit.failed("vera", "1.2.3.4")

    clock.now = 1030.5

    assert limit.retry_after("vera", "1.2.3.4") == 30


def test_after_the_window_the_pair_may_try_again() -> None:
    clock = Clock()
    limit = limiter(clock)
    for _ in range(3):
        limit.failed("vera", "1.2.3.4")

    clock.now += 60.0

    assert limit.retry_after("vera", "1.2.3.4") is None


def test_success_clears_the_count() -> None:
    clock = Clock()
    limit = limiter(clock)
    for _ in range(3):
        limit.failed("vera", "1.2.3.4")

    limit.succeeded("vera", "1.2.3.4")

    assert limit.retry_after("vera", "1.2.3.4") is None


def test_oldest_pair_is_forgotten_beyond_max_keys() -> None:
    clock = Clock()
    limit = limiter(clock, max_keys=2)
    for _ in range(3):
        limit.failed("first", "c")
    limit.failed("second", "c")

    limit.failed("third", "c")

    assert limit.retry_after("first", "c") is None
