"""``tickmesh service NAME``: one service in its own process, on a shared bus and database.

``api``: the REST API, the dashboard and the live stream without the pipeline. It reads the
database the pipeline writes (``--db``), sends operator commands on the bus's ``ops.commands``
and streams to browsers what the pipeline publishes on the bus, read by a consumer group of its
own (``api-stream-<id>``, from the newest message on, removed again at exit), so every API
process sees everything and several can serve side by side.

``feed``, ``bars``, ``strategies``, ``risk``, ``execution``, ``portfolio``, ``recorder``: the
trading pipeline, one service per process, over the sequenced log
(:mod:`tickmesh.services.processes`); together they end with the portfolio and fills of
``tickmesh run``, and any of them may be killed and started again with the same command.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import signal
from collections.abc import Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from tickmesh.commands.common import BusOpt, ConfigOpt, PrefixOpt, fail, load, shared_bus
from tickmesh.core.errors import ConfigError, OperatorError

log = logging.getLogger(__name__)
ALIVE_EVERY_S = 5.0
"""How often a pipeline service touches its ``--alive-file``."""
service_app = typer.Typer(
    help="Run one service in its own process on a shared bus and database.",
    no_args_is_help=True,
)


_PIPELINE_HELP = {
    "feed": "Plan the session and sequence the feed through the pipeline services' log.",
    "bars": "Build bars from the sequenced ticks.",
    "strategies": "Run the strategies on the sequenced bars.",
    "risk": "Check the strategies' signals against the risk limits.",
    "execution": "Fill the validated orders on the paper venue.",
    "portfolio": "Keep the portfolio from the fills.",
    "recorder": "Store signals, orders, fills and positions in the database (--db).",
}


def _pipeline_command(name: str) -> Any:
    def command(
        config: ConfigOpt = None,
        db: Annotated[
            str | None, typer.Option(help="Database (sqlite:///... or postgresql://...).")
        ] = None,
        bus: BusOpt = None,
        bus_prefix: PrefixOpt = None,
        namespace: Annotated[
            str | None, typer.Option(help="Broker namespace (default paper).")
        ] = None,
        log_format: Annotated[
            str,
            typer.Option(envvar="TICKMESH_LOG_FORMAT", help="text, or json (one object per line)."),
        ] = "text",
        alive_file: Annotated[
            Path | None,
            typer.Option(
                help=f"Touched every {ALIVE_EVERY_S:g} s while the service's loop runs "
                "(for a container healthcheck: stale means hung)."
            ),
        ] = None,
    ) -> None:
        overrides = {"db_url": db, "namespace": namespace, "bus_url": bus, "bus_prefix": bus_prefix}
        settings, external = _prepare(config, overrides, log_format, name)
        try:
            summary = asyncio.run(_run_pipeline_service(settings, external, name, alive_file))
        except ConfigError as exc:
            raise fail(str(exc)) from None
        except OperatorError as exc:
            raise fail(str(exc), code=3) from None
        typer.echo(json.dumps(summary, sort_keys=True))

    command.__doc__ = _PIPELINE_HELP[name]
    return command


def _prepare(
    config: Path | None, overrides: dict[str, Any], log_format: str, name: str
) -> tuple[Any, Any]:
    """Settings, logging, and the shared bus the service ``name`` runs on (exits 2 with the
    reason on a bad config, log format or bus)."""
    settings = load(config, overrides)
    from tickmesh.services.logs import configure_logging

    try:
        configure_logging(settings.log_level, log_format)
    except ValueError as exc:
        raise fail(str(exc)) from None
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings, shared_bus(settings.bus_url, settings.bus_prefix, f"tickmesh service {name}")


async def _run_pipeline_service(
    settings: Any, external: Any, name: str, alive_file: Path | None = None
) -> dict[str, Any]:
    from tickmesh.services.processes import run_feed, run_worker

    beating = None if alive_file is None else asyncio.create_task(_beat(alive_file))
    try:
        await _reach(external, settings.bus_url)
        if name == "feed":
            session_id, stats = await run_feed(settings, external)
            roots = stats.entries and stats.seconds and stats.entries / stats.seconds
            return {
                "service": name,
                "session_id": session_id,
                **asdict(stats),
                "entries_per_s": roots,
            }
        session_id, worker = await run_worker(settings, external, name)
        return {"service": name, "session_id": session_id, **asdict(worker)}
    finally:
        if beating is not None:
            beating.cancel()
        await external.close()


async def _beat(path: Path) -> None:
    """Touch ``path`` every :data:`ALIVE_EVERY_S` for as long as this event loop turns."""
    while True:
        await asyncio.to_thread(path.touch)
        await asyncio.sleep(ALIVE_EVERY_S)


for _name in _PIPELINE_HELP:
    service_app.command(_name)(_pipeline_command(_name))


@service_app.command("api")
def api_command(
    config: ConfigOpt = None,
    db: Annotated[
        str | None,
        typer.Option(help="Database the pipeline writes (sqlite:///... or postgresql://...)."),
    ] = None,
    bus: BusOpt = None,
    bus_prefix: PrefixOpt = None,
    namespace: Annotated[str | None, typer.Option(help="Broker namespace (default paper).")] = None,
    host: Annotated[
        str, typer.Option(help="Address to serve on; loopback unless you say.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 = any free.")] = 8000,
    log_format: Annotated[
        str,
        typer.Option(envvar="TICKMESH_LOG_FORMAT", help="text, or json (one object per line)."),
    ] = "text",
) -> None:
    """Serve the API, dashboard and live stream alone, beside a pipeline running elsewhere."""
    overrides = {"db_url": db, "namespace": namespace, "bus_url": bus, "bus_prefix": bus_prefix}
    settings, external = _prepare(config, overrides, log_format, "api")
    try:
        asyncio.run(_serve_api(settings, external, host, port, config))
    except ConfigError as exc:
        raise fail(str(exc)) from None


async def _serve_api(
    settings: Any, external: Any, host: str, port: int, config_path: Path | None
) -> None:
    from tickmesh import topics
    from tickmesh.api import create_app
    from tickmesh.api.stream import install as install_stream
    from tickmesh.bus import SubscribeOptions
    from tickmesh.services.api_server import ApiServer, with_signing_key
    from tickmesh.services.hub import HubLimits, HubService, StreamHub
    from tickmesh.services.runtime import AsyncRunner
    from tickmesh.storage import Database

    database = Database(settings.db_url)
    await database.connect()
    try:
        await database.migrate()
        await _reach(external, settings.bus_url)

        async def publish_command(command: Any) -> None:
            await external.publish(topics.OPS_COMMANDS, command, topics.key_for(command))

        hub = StreamHub(HubLimits(max_per_user=settings.api.stream_max_per_user))
        feeder = HubService(hub, settings.namespace, _bar_timeframes(settings))
        feeder.name = f"api-stream-{secrets.token_hex(4)}"
        runner = AsyncRunner(external, feeder, options=SubscribeOptions(start="latest"))
        app = create_app(
            database,
            with_signing_key(settings),
            publish_command=publish_command,
            config_path=config_path,
        )
        install_stream(app, hub)
        _install_metrics(app, feeder, hub)
        server = ApiServer(app, host, port)
        await server.start()
        print(f"serving on {server.url}", flush=True)
        stopping = asyncio.Event()
        feeding = asyncio.create_task(_feed_stream(runner, _tap_log(external, feeder, stopping)))
        try:
            await _until_signalled(feeding)
        finally:
            hub.close("the server is stopping")
            await server.stop()
            runner.stop()
            stopping.set()
            if not feeding.done():
                await feeding
            await external.delete_group(feeder.name, feeder.inputs())
    finally:
        await external.close()
        await database.close()


async def _feed_stream(runner: Any, tap: Coroutine[Any, Any, None]) -> None:
    """The stream's two sources: the usual topics (``tickmesh run --bus``) and the sequenced
    log (``tickmesh service NAME``); one failing stops the other."""
    async with asyncio.TaskGroup() as group:
        group.create_task(runner.run())
        group.create_task(tap)


async def _tap_log(bus: Any, feeder: Any, stopping: asyncio.Event) -> None:
    """Hand the stream feeder every entry of the sequenced log under its logical topic, from
    the newest on, through a consumer group of its own (removed at exit)."""
    from tickmesh.bus import SubscribeOptions
    from tickmesh.core.errors import DecodeError
    from tickmesh.services.sequencer import LOG_TOPIC, TOPIC

    group = f"{feeder.name}-log"
    wanted = set(feeder.inputs())
    sub = bus.subscribe([LOG_TOPIC], group, "api", SubscribeOptions(start="latest"))
    try:
        while not stopping.is_set():
            for delivery in await sub.fetch(256, timeout=0.5):
                logical = delivery.headers.get(TOPIC, "")
                try:
                    if logical in wanted:
                        feeder.process(logical, delivery.event)
                except DecodeError as exc:
                    log.warning("skipped an undecodable log entry on %s: %s", logical, exc)
                await delivery.ack()
    finally:
        await sub.close()
        await bus.delete_group(group, [LOG_TOPIC])


def _install_metrics(app: Any, feeder: Any, hub: Any) -> None:
    """``/metrics`` of this process: the stream feeder and the live stream."""
    from tickmesh.api.metrics_route import install
    from tickmesh.services.metrics import HandleLatency, StreamServiceMetrics, build_registry

    latency = HandleLatency()
    latency.attach(feeder)
    install(app, build_registry(StreamServiceMetrics([feeder], latency, hub)))


async def _reach(external: Any, url: str) -> None:
    try:
        await external.start()
    except Exception as exc:
        shown = url.rsplit("@", maxsplit=1)[-1]
        raise ConfigError(
            f"bus {shown} is unreachable ({type(exc).__name__}: {exc}); "
            "start it or pass another --bus"
        ) from exc


def _bar_timeframes(settings: Any) -> list[str]:
    """The bar series the pipeline publishes: 1m, the roll-ups, the strategies' own and those
    of bar files it replays."""
    replayed = (getattr(source, "timeframe", None) for source in settings.feed.sources)
    return sorted(
        {"1m", *settings.bars.timeframes, *(s.timeframe for s in settings.strategies)}
        | {tf for tf in replayed if tf}
    )


async def _until_signalled(feeding: asyncio.Task[None]) -> None:
    """Until SIGINT or SIGTERM, or until the stream feeder fails (its error is raised)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, feeding}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if feeding.done() and (exc := feeding.exception()) is not None:
        raise ConfigError(
            f"the live stream stopped reading the bus ({type(exc).__name__}: {exc}); "
            "check the bus and start the API again"
        ) from exc
