"""The REST API served beside the platform in ``tickmesh run``, on the platform's event loop.

The listening socket is bound before the replay starts, so a taken port is a clear error at
once (exit 2) rather than a log line later. uvicorn's own SIGINT/SIGTERM handlers are left out:
the platform owns the signals and stops the server when it stops.

The JWT signing key: the configured ``secrets.api_jwt_secret``, else one generated on first use
and kept in ``<data_dir>/api_jwt_secret`` (readable by the owner only), so tokens survive a
restart on the same machine without anyone having to invent a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr

from tickmesh.config import Settings
from tickmesh.core.errors import ConfigError

SECRET_FILE = "api_jwt_secret"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def with_signing_key(settings: Settings) -> Settings:
    """``settings`` with a JWT key: the configured one, or the machine's persisted one."""
    if settings.secrets.api_jwt_secret is not None or settings.api.dev_random_secret:
        return settings
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    key = SecretStr(path.read_text().strip())
    secret_settings = settings.secrets.model_copy(update={"api_jwt_secret": key})
    return settings.model_copy(update={"secrets": secret_settings})


class ApiServer:
    """One uvicorn server on a socket bound at construction (``port=0``: any free port)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self._socket = _bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            log_config=None,
            timeout_graceful_shutdown=5,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise ConfigError(f"the API server on {self.url} stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot serve the API on {host}:{port} ({exc.strerror}); pass another --port "
            "(0 = any free port) or --no-api"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock
