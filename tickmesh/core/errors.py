"""One exception root, split into what may be retried and what needs an operator.

Service loops retry only :class:`RetryableError`; everything else is handled by the error policy
(dead-letter the message, quarantine the strategy, stop the service).
"""

from __future__ import annotations


class TickmeshError(Exception):
    """Root of every error tickmesh raises on purpose."""


class RetryableError(TickmeshError):
    """A transient condition (network, broker busy); the same call may succeed later."""


class OperatorError(TickmeshError):
    """Something a person must fix: bad config, bad data, inconsistent state."""


class ConfigError(OperatorError):
    """The configuration is invalid; the message names the key and how to fix it."""


class DataError(OperatorError):
    """Input data is malformed; carries where (file, line) and why."""

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(f"{where}{reason}")


class DecodeError(TickmeshError):
    """A bus payload could not be decoded into an event (poison message)."""


class StateMismatchError(OperatorError):
    """Persisted state disagrees with itself; trading must not start until it is resolved."""


class BusClosedError(TickmeshError):
    """The bus (or subscription) was closed while an operation was waiting on it."""
