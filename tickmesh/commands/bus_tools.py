"""``tickmesh tail`` and ``tickmesh mirror``: tools that watch or copy what flows on a bus."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from typing import Annotated, Any

import typer

from tickmesh import topics
from tickmesh.commands.common import BusOpt, ConfigOpt, PrefixOpt, fail, load, shared_bus

NamespacesOpt = Annotated[
    list[str] | None,
    typer.Option("--namespace", help="Namespaces whose topics patterns may match (default: the "
                 "configured one)."),
]


def _topics(patterns: list[str], namespaces: list[str]) -> list[str]:
    try:
        return topics.match(patterns, namespaces)
    except ValueError as exc:
        raise fail(str(exc)) from None


async def _until_signalled(work: Any, stop: asyncio.Event) -> Any:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await work


def tail_command(
    topic: Annotated[list[str], typer.Argument(help="Topics or patterns, e.g. 'market.bars.*'.")],
    config: ConfigOpt = None,
    bus: BusOpt = None,
    bus_prefix: PrefixOpt = None,
    group: Annotated[
        str | None, typer.Option(help="Consumer group (default: a throwaway one).")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Replay the retained log first.")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after N messages.")] = None,
    namespace: NamespacesOpt = None,
) -> None:
    """Print messages on TOPIC as readable JSON lines as they arrive."""
    from tickmesh.services.tail import tail

    settings = load(config, {"bus_url": bus, "bus_prefix": bus_prefix})
    names = _topics(topic, namespace or [settings.namespace])
    the_bus = shared_bus(settings.bus_url, settings.bus_prefix, "tail")
    throwaway = group is None
    group_name = group or f"tail-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        await the_bus.start()
        stop = asyncio.Event()
        try:
            await _until_signalled(
                tail(
                    the_bus,
                    names,
                    group_name,
                    typer.echo,
                    start="earliest" if from_start else "latest",
                    limit=limit,
                    stop=stop,
                ),
                stop,
            )
        finally:
            if throwaway:
                with contextlib.suppress(Exception):
                    await the_bus.delete_group(group_name, names)
            await the_bus.close()

    asyncio.run(main())


def mirror_command(
    source: Annotated[str, typer.Option("--from", help="Bus URL to copy from.")],
    destination: Annotated[str, typer.Option("--to", help="Bus URL to copy to.")],
    topic: Annotated[
        list[str], typer.Option("--topics", help="Topics or patterns to copy (repeatable).")
    ],
    config: ConfigOpt = None,
    from_prefix: Annotated[str | None, typer.Option(help="Bus prefix on the source.")] = None,
    to_prefix: Annotated[str | None, typer.Option(help="Bus prefix on the destination.")] = None,
    group: Annotated[str, typer.Option(help="Durable consumer group on the source.")] = "mirror",
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after N messages.")] = None,
    namespace: NamespacesOpt = None,
) -> None:
    """Copy topics from one bus to another; resumable, without duplicates after a restart."""
    from tickmesh.services.mirror import Mirror

    settings = load(config, {})
    names = _topics(topic, namespace or [settings.namespace])
    src = shared_bus(source, settings.bus_prefix if from_prefix is None else from_prefix, "mirror")
    dst = shared_bus(destination, settings.bus_prefix if to_prefix is None else to_prefix, "mirror")

    async def main() -> None:
        await src.start()
        await dst.start()
        stop = asyncio.Event()
        try:
            stats = await _until_signalled(Mirror(src, dst, names, group).run(stop, limit), stop)
        finally:
            await src.close()
            await dst.close()
        typer.echo(
            f"copied {stats.copied}, skipped {stats.skipped_duplicates} already copied, "
            f"destination held {stats.already_in_destination} before"
        )

    asyncio.run(main())
