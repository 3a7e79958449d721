"""The terminal's live view of a running platform (rich)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from tickmesh.services.platform import Platform


def render(platform: Platform) -> Group:
    p = platform.progress
    snap = platform.portfolio.snapshot(platform.clock.now_ns())
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[b]tickmesh[/b] namespace [cyan]{platform.namespace}[/]",
        f"session {platform.plan.session.id}{' (resumed)' if platform.plan.resumed else ''}",
        f"risk [b]{platform.risk.state.value}[/]",
        "[green]replay done, Ctrl-C to stop[/]" if p.exhausted else "[yellow]running[/]",
    )
    head.add_row(
        f"events {p.events:,} ({p.events_per_s:,.0f}/s)",
        f"signals {p.signals:,}  orders {p.orders:,}  fills {p.fills:,}",
        f"equity [b]{snap.equity:,.2f}[/]  cash {snap.cash:,.2f}",
        f"realized {snap.realized_pnl:,.2f}  unrealized {snap.unrealized_pnl:,.2f}",
    )
    prices = Table(title="symbols", expand=False)
    prices.add_column("symbol")
    prices.add_column("last", justify="right")
    for symbol, price in sorted(p.last_prices.items()):
        prices.add_row(symbol, f"{price:,.5g}")
    positions = Table(title="positions")
    for col in ("strategy", "symbol", "qty", "avg", "unrealized"):
        positions.add_column(col, justify="right" if col not in ("strategy", "symbol") else "left")
    for pos in snap.positions:
        if pos.quantity:
            positions.add_row(
                pos.strategy_id,
                pos.symbol,
                f"{pos.quantity}",
                f"{pos.avg_price:,.5g}",
                f"{pos.unrealized_pnl:,.2f}",
            )
    rejections = Table(title="rejections by reason")
    rejections.add_column("reason")
    rejections.add_column("count", justify="right")
    for reason, count in p.rejections.most_common():
        rejections.add_row(reason, f"{count:,}")
    row = Table.grid(padding=(0, 3))
    row.add_row(prices, positions, rejections)
    return Group(head, row)
