"""The ``tickmesh`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tickmesh import __version__
from tickmesh.commands.common import BusOpt, ConfigOpt, PrefixOpt, fail, load
from tickmesh.core.errors import ConfigError, DataError, StateMismatchError

app = typer.Typer(
    name="tickmesh",
    help="Event-driven algorithmic trading: feeds, bars, strategies, risk, paper execution.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@config_app.command("show")
def config_show(config: ConfigOpt = None) -> None:
    """Print the effective configuration, secrets masked."""
    from tickmesh.config import render_config

    typer.echo(render_config(load(config, {})))


@app.command()
def run(
    config: ConfigOpt = None,
    until_exhausted: Annotated[
        bool, typer.Option("--until-exhausted", help="Stop when the replay ends.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    db: Annotated[
        str | None, typer.Option(help="Database URL (default sqlite:///tickmesh.db).")
    ] = None,
    namespace: Annotated[str | None, typer.Option(help="Broker namespace (default paper).")] = None,
    speed: Annotated[
        float | None, typer.Option(help="Replay speed factor; 0 = as fast as possible.")
    ] = None,
    live: Annotated[bool, typer.Option(help="Show the live terminal view.")] = True,
    bus: BusOpt = None,
    bus_prefix: PrefixOpt = None,
    api: Annotated[bool, typer.Option(help="Serve the REST API while running.")] = True,
    host: Annotated[str, typer.Option(help="API address; loopback unless you say.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="API port; 0 = any free.")] = 8000,
    log_format: Annotated[
        str,
        typer.Option(envvar="TICKMESH_LOG_FORMAT", help="text, or json (one object per line)."),
    ] = "text",
) -> None:
    """Run the whole platform in one process on the embedded defaults.

    With --bus, every event is also published on that bus (for tail, mirror, dashboards and other
    deployments) and operator commands published on its ops.commands are obeyed."""
    overrides = {"db_url": db, "namespace": namespace, "bus_url": bus, "bus_prefix": bus_prefix}
    settings = load(config, overrides)
    if speed is not None and speed < 0:
        raise fail(f"--speed must be >= 0 (0 = as fast as possible), got {speed}")
    from tickmesh.services.logs import configure_logging

    try:
        configure_logging(settings.log_level, log_format)
    except ValueError as exc:
        raise fail(str(exc)) from None
    logging.getLogger("alembic").setLevel(logging.WARNING)
    show_live = live and not as_json and sys.stdout.isatty()
    serve = (host, port) if api else None
    try:
        summary = asyncio.run(_run(settings, show_live, until_exhausted, speed, serve, config))
    except (DataError, ConfigError) as exc:
        raise fail(str(exc)) from None
    except StateMismatchError as exc:
        raise fail(str(exc), code=3) from None
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
    else:
        _print_summary(summary)


async def _run(
    settings: Any,
    show_live: bool,
    until_exhausted: bool,
    speed: float | None,
    serve: tuple[str, int] | None,
    config_path: Path | None = None,
) -> Any:
    from tickmesh.services.platform import Platform

    platform = await Platform.open(settings)
    server = None
    try:
        if speed is not None:
            platform.feed.speed = speed
        server = await _start_api(platform, settings, serve, config_path) if serve else None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, platform.request_stop)
        summary = await _drive(platform, show_live, until_exhausted)
        summary["api"] = server.url if server else None
        return summary
    finally:
        if server is not None:
            platform.hub.close("the server is stopping")
            await server.stop()
        await platform.close()


async def _drive(platform: Any, show_live: bool, until_exhausted: bool) -> Any:
    if not show_live:
        return await platform.run(until_exhausted=until_exhausted)
    from rich.live import Live

    from tickmesh.services.live_view import render

    with Live(get_renderable=lambda: render(platform), console=Console(), refresh_per_second=4):
        return await platform.run(until_exhausted=until_exhausted)


async def _start_api(
    platform: Any, settings: Any, serve: tuple[str, int], config_path: Path | None = None
) -> Any:
    """The REST API on the platform's store; operator commands go into its pipeline."""
    from tickmesh import topics
    from tickmesh.api import create_app
    from tickmesh.services.api_server import ApiServer, with_signing_key

    async def publish_command(command: Any) -> None:
        platform.host.publish(command, topics.OPS_COMMANDS)
        platform.host.run_until_idle()

    keyed = with_signing_key(settings)
    app = create_app(
        platform.db,
        keyed,
        publish_command=publish_command,
        strategies=platform.runner.status,
        config_path=config_path,
    )
    _install_metrics(app, platform)
    from tickmesh.api.stream import install as install_stream

    install_stream(app, platform.hub)
    server = ApiServer(app, *serve)
    await server.start()
    return server


def _install_metrics(app: Any, platform: Any) -> None:
    """``/metrics``: the platform's live state in Prometheus' text format."""
    from tickmesh.api.metrics_route import install
    from tickmesh.services.metrics import PlatformMetrics, build_registry

    metrics = PlatformMetrics(
        namespace=platform.namespace,
        services=platform.services,
        bus=platform.bus,
        portfolio=platform.portfolio,
        progress=platform.progress,
        latency=platform.latency,
        tick_to_fill=platform.tick_to_fill.histogram,
        trading_state=lambda: platform.risk.state,
    )
    install(app, build_registry(metrics))


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"session {summary['session_id']}", show_header=False)
    for key in (
        "events",
        "signals",
        "orders",
        "fills",
        "equity",
        "cash",
        "pnl",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "open_positions",
        "risk_state",
    ):
        table.add_row(key, str(summary[key]))
    for reason, count in summary["rejections"].items():
        table.add_row(f"rejected: {reason}", str(count))
    Console().print(table)


def _register() -> None:
    from tickmesh.commands import admin, backtest, bus_tools, data, reconcile, service

    app.command("tail")(bus_tools.tail_command)
    app.command("mirror")(bus_tools.mirror_command)
    app.add_typer(data.data_app, name="data")
    app.add_typer(admin.admin_app, name="admin")
    app.add_typer(reconcile.reconcile_app, name="reconcile")
    app.add_typer(service.service_app, name="service")
    app.command("backtest")(backtest.backtest_command)
    app.command("runs")(backtest.runs_command)
    app.command("report")(backtest.report_command)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
