"""What every command shares: error exits, settings loading, opening a bus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tickmesh.core.errors import ConfigError

err = Console(stderr=True, soft_wrap=True)  # never break a path or URL across lines

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (strategies, symbols, limits)."),
]
BusOpt = Annotated[
    str | None,
    typer.Option(
        "--bus", help="Bus URL: redis://host:port/db, nats://host:port, kafka://host:port."
    ),
]
PrefixOpt = Annotated[
    str | None,
    typer.Option("--bus-prefix", help="Namespace of every stream/topic (TICKMESH_BUS_PREFIX)."),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise."""
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def load(config: Path | None, overrides: dict[str, Any]) -> Any:
    """Settings from the file, the environment and the given (non-None) overrides."""
    from tickmesh.config import load_settings

    try:
        return load_settings(config, {k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        raise fail(str(exc)) from None


def shared_bus(url: str, prefix: str, what: str) -> Any:
    """A bus other processes can see; memory:// lives inside one process, so it is refused."""
    from tickmesh.bus import create_bus

    if url.startswith("memory:"):
        raise fail(
            f"{what} needs a shared bus, but the bus is {url!r} (it lives inside one process); "
            "pass --bus redis://..., nats://... or kafka://... (or set TICKMESH_BUS_URL)"
        )
    try:
        return create_bus(url, prefix=prefix)
    except ConfigError as exc:
        raise fail(str(exc)) from None
