"""Start-up of a namespace: verify stored state, then start a new session or resume one.

A session is one replay of the configured feeds. Everything in it is deterministic: ids come from
generators seeded with the session's seed and time from the event timestamps. So a session that
stopped early (Ctrl-C, a crash, ``kill -9``) is resumed by replaying its inputs from the start on
top of the state the session began with: the events it had already produced come out again with
the same ids, the store ignores them, and the run carries on past the point where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from tickmesh.core.errors import StateMismatchError
from tickmesh.core.stamp import Stamper
from tickmesh.model.events import Fill
from tickmesh.portfolio import Portfolio
from tickmesh.storage import Database, SessionRecord, SessionStatus, StoredRiskState


@dataclass(frozen=True)
class SessionPlan:
    session: SessionRecord
    resumed: bool
    base_fills: list[Fill]
    """Fills from before this session: the state the session starts from."""
    stored_risk: StoredRiskState | None = None


def fingerprint(parts: Mapping[str, object]) -> str:
    """A stable hash of what determines a session's outcome (config and data content)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


async def plan_session(
    db: Database, namespace: str, starting_cash: Decimal, config_fingerprint: str
) -> SessionPlan:
    """Check stored fills against stored positions, then decide: resume or start fresh.

    Raises :class:`StateMismatchError` (refuse to trade) when the positions rebuilt from the
    stored fills differ from the stored positions.
    """
    async with db.reader() as repo:
        fills = await repo.load_fills(namespace)
        stored = await repo.load_positions(namespace)
        latest = await repo.latest_session(namespace)
        session_fills = set() if latest is None else await repo.session_fill_ids(latest.id)
        risk = await repo.load_risk_state(namespace)
    ledger = Portfolio.rebuild(fills, starting_cash, Stamper.deterministic("startup-check"))
    mismatches = ledger.position_mismatches(stored)
    if mismatches:
        raise StateMismatchError(
            f"namespace {namespace!r}: positions rebuilt from stored fills differ from stored "
            f"positions ({'; '.join(mismatches[:5])}); refusing to trade. Inspect the database "
            "or start a fresh namespace."
        )
    if latest is not None and latest.status in _RESUMABLE:
        if latest.config_fingerprint == config_fingerprint:
            base = [f for f in fills if f.fill_id not in session_fills]
            return SessionPlan(latest, resumed=True, base_fills=base, stored_risk=risk)
        async with db.transaction() as repo:
            await repo.finish_session(latest.id, SessionStatus.CRASHED, time.time_ns())
    previous = "" if latest is None else latest.id
    plan = await _new_session(db, namespace, ledger, fills, config_fingerprint, previous)
    return SessionPlan(plan.session, resumed=False, base_fills=fills, stored_risk=risk)


_RESUMABLE = {SessionStatus.RUNNING, SessionStatus.INTERRUPTED}


async def _new_session(
    db: Database,
    namespace: str,
    ledger: Portfolio,
    fills: list[Fill],
    config_fingerprint: str,
    previous: str,
) -> SessionPlan:
    """The seed is derived from the config and the session before, so the same history
    replayed into a fresh store produces the same ids: runs can be compared fill by fill."""
    now = time.time_ns()
    seed_text = f"{namespace}:{config_fingerprint}:{previous}"
    session = SessionRecord(
        id=f"{namespace}-{now}",
        namespace=namespace,
        started_at=now,
        status=SessionStatus.RUNNING,
        start_cash=ledger.cash,
        config_fingerprint=config_fingerprint,
        seed=int(hashlib.sha256(seed_text.encode()).hexdigest()[:12], 16),
        start_positions={f"{p.strategy_id}:{p.symbol}": p.quantity for p in ledger.positions()},
    )
    async with db.transaction() as repo:
        await repo.create_session(session)
    return SessionPlan(session, resumed=False, base_fills=fills)
