"""Writing the audit trail of operator actions: who, when, what, and how it ended.

An action is recorded as ``pending`` before it runs and updated with its outcome afterwards, so
an action whose outcome could not be written still shows up, and an action is never taken while
the trail cannot be written (the first write fails first).
"""

from __future__ import annotations

from tickmesh.api.deps import ApiContext, Principal, writing
from tickmesh.storage.users import AuditEntry, AuditOutcome, UserStore


async def record(
    ctx: ApiContext,
    caller: Principal,
    action: str,
    outcome: AuditOutcome,
    *,
    namespace: str = "",
    detail: str = "",
    client: str = "",
) -> str:
    """Write one entry; returns its id."""
    entry = AuditEntry(
        id=ctx.ids.next_id(),
        ts=ctx.now_ns(),
        actor=caller.username,
        role=caller.role.value,
        action=action,
        outcome=outcome,
        namespace=namespace,
        detail=detail,
        client=client[:64],
    )
    async with writing(ctx) as conn:
        await UserStore(conn).add_audit(entry)
    return entry.id


async def finish(ctx: ApiContext, entry_id: str, outcome: AuditOutcome, detail: str) -> None:
    """Set the outcome of a ``pending`` entry."""
    async with writing(ctx) as conn:
        await UserStore(conn).set_audit_outcome(entry_id, outcome, detail)
