"""Deployment files: the compose file wires every part with healthchecks; the image runs any
tickmesh command. (No Docker engine runs here: where the compose plugin exists, `docker compose
config` must accept the file.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


PIPELINE = ("feed", "bars", "strategies", "risk", "execution", "portfolio", "recorder")


def test_every_service_has_a_healthcheck() -> None:
    services = compose()["services"]

    assert {"redis", "nats", "postgres", "platform", "api", *PIPELINE} <= set(services)
    assert [name for name, s in services.items() if "healthcheck" not in s] == []


def test_each_pipeline_service_runs_alone_and_its_healthcheck_reads_the_file_it_touches() -> None:
    services = compose()["services"]

    for name in PIPELINE:
        service = services[name]
        assert service["command"] == ["service", name, "--alive-file=/tmp/alive"]
        assert service["profiles"] == ["services"]
        assert "/tmp/alive" in " ".join(service["healthcheck"]["test"])
        assert service["environment"]["TICKMESH_BUS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["TICKMESH_DB_URL"].startswith("postgresql://")
    assert services["api"]["command"][:2] == ["service", "api"]
    assert services["platform"]["profiles"] == ["platform"]  # one profile or the other


def test_platform_waits_for_healthy_dependencies_and_uses_them() -> None:
    platform = compose()["services"]["platform"]
    command = " ".join(platform["command"])

    assert platform["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    assert command.startswith("run --no-live --bus=redis://redis:6379/0")
    assert platform["environment"]["TICKMESH_DB_URL"].startswith("postgresql://")
    assert "/health" in " ".join(platform["healthcheck"]["test"])


def test_published_ports_are_loopback_only() -> None:
    for service in compose()["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_image_runs_tickmesh_with_every_backend_installed() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()

    assert 'ENTRYPOINT ["tickmesh"]' in dockerfile
    assert "[postgres,redis,nats,kafka]" in dockerfile
    assert "USER tickmesh" in dockerfile


def test_docker_compose_accepts_the_file_where_the_plugin_exists(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                         check=False).returncode != 0:  # fmt: skip
        pytest.skip("no docker compose plugin on this machine")
    env = {"POSTGRES_PASSWORD": "x", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
