"""Single-use stream tickets: how a browser's ``EventSource``, which cannot send headers, opens
``GET /api/v1/stream`` as a user. Random, bound to the user, short-lived, kept in memory."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace

from tickmesh.api.deps import Principal
from tickmesh.storage.users import Role

TICKET_PATH = "/api/v1/stream/ticket"


class TicketError(Exception):
    """A ticket that must not be honoured; ``str()`` says why (never the ticket itself)."""


class TicketLimitError(Exception):
    """The user holds too many unused tickets."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """Who a ticket opens a stream for, until when, and whether it was used."""

    username: str
    role: Role
    token_id: str
    expires_at: float
    used: bool = False


class TicketBook:
    """Single-use stream tickets in memory. A used or expired ticket is remembered for one more
    lifetime so its refusal can say which; after that it is forgotten (then: unknown)."""

    def __init__(self, ttl_s: float, per_user: int, clock: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self.per_user = per_user
        self._clock = clock
        self._tickets: dict[str, Ticket] = {}

    def issue(self, caller: Principal) -> str:
        """A new ticket for ``caller``; raises :class:`TicketLimitError` past the cap."""
        now = self._clock()
        self._prune(now)
        unused = sum(
            1
            for t in self._tickets.values()
            if t.username == caller.username and not t.used and now < t.expires_at
        )
        if unused >= self.per_user:
            raise TicketLimitError(
                f"{unused} unused stream tickets already (the limit is {self.per_user}); "
                "use one or let them expire"
            )
        value = secrets.token_urlsafe(32)
        self._tickets[value] = Ticket(
            caller.username, caller.role, caller.token_id, now + self.ttl_s
        )
        return value

    def redeem(self, value: str) -> Ticket:
        """The ticket's holder, once; raises :class:`TicketError` saying why not."""
        now = self._clock()
        self._prune(now)
        ticket = self._tickets.get(value)
        if ticket is None:
            raise TicketError(f"unknown stream ticket; get one from POST {TICKET_PATH}")
        if ticket.used:
            raise TicketError(
                f"stream ticket already used (single use); get a new one from POST {TICKET_PATH}"
            )
        if now >= ticket.expires_at:
            raise TicketError(
                f"stream ticket expired (tickets live {self.ttl_s:g} s); get a new one from "
                f"POST {TICKET_PATH}"
            )
        self._tickets[value] = replace(ticket, used=True)
        return ticket

    def _prune(self, now: float) -> None:
        forgotten = [k for k, t in self._tickets.items() if now >= t.expires_at + self.ttl_s]
        for key in forgotten:
            del self._tickets[key]
