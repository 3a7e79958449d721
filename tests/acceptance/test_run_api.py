"""``tickmesh run`` serves the REST API beside the pipeline: log in, read, halt."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from .conftest import Workdir, clean_env

pytestmark = pytest.mark.integration


def call(url: str, body: dict[str, Any] | None = None, token: str = "") -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def wait_for_api(proc: subprocess.Popen[str], port_file: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            call(f"http://127.0.0.1:{port_file}/health")
            return f"http://127.0.0.1:{port_file}"
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the API never answered")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_operator_logs_in_reads_the_portfolio_and_halts_trading(workdir: Workdir) -> None:
    workdir.run("admin", "user", "add", "ops", "--role", "operator", "--password-stdin",
                "--db", f"sqlite:///{workdir.db}", input_text="a-long-password\n")  # fmt: skip
    port = free_port()
    config = str(workdir.config(ticks=4_000))
    cmd = [sys.executable, "-m", "tickmesh.cli", "run", "--no-live", "--port", str(port),
           "--db", f"sqlite:///{workdir.db}", "--config", config]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=workdir.path, env=clean_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        base = wait_for_api(proc, str(port))
        login = {"username": "ops", "password": "a-long-password"}
        token = call(f"{base}/api/v1/token/login", login)["access_token"]

        halted = call(f"{base}/api/v1/ops/halt", {"reason": "acceptance"}, token)
        time.sleep(1.5)  # the store is flushed about once a second
        risk = call(f"{base}/api/v1/risk", token=token)
        portfolio = call(f"{base}/api/v1/portfolio", token=token)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    assert halted["command"] == "HALT"
    assert risk["risk"]["state"] == "HALTED"
    assert portfolio["namespace"] == "paper"
