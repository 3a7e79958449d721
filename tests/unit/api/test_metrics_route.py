"""``GET /metrics``: the text exposition of a dedicated registry, open, collected per request."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from tests.unit.services.test_metrics import assert_platform_series, build_parts, parse, sample
from tickmesh.api import ApiSettings, create_app
from tickmesh.api.metrics_route import install
from tickmesh.config import Settings
from tickmesh.services.metrics import build_registry
from tickmesh.storage import Database


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_metrics_serves_every_platform_series_in_text_format() -> None:
    parts = await build_parts()
    app = FastAPI()
    install(app, build_registry(parts.metrics))

    async with client(app) as http:
        response = await http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    assert response.headers["cache-control"] == "no-store"
    assert_platform_series(parse(response.text))


async def test_metrics_collected_at_each_request() -> None:
    parts = await build_parts()
    app = FastAPI()
    install(app, build_registry(parts.metrics, process=False))

    async with client(app) as http:
        first = parse((await http.get("/metrics")).text)
        parts.progress.fills += 2
        parts.portfolio.mark("BTC", 90.0)
        second = parse((await http.get("/metrics")).text)

    assert sample(first, "tickmesh_fills_total", namespace="paper") == 3
    assert sample(second, "tickmesh_fills_total", namespace="paper") == 5
    assert sample(second, "tickmesh_equity", namespace="paper") == 9989.8


async def test_metrics_on_the_api_open_while_reads_need_a_token(
    db: Database, settings: Settings, api_settings: ApiSettings
) -> None:
    parts = await build_parts()
    app = create_app(db, settings, api=api_settings)
    install(app, build_registry(parts.metrics, process=False))

    async with client(app) as http:
        metrics = await http.get("/metrics")
        reads = await http.get("/api/v1/portfolio")

    assert metrics.status_code == 200
    assert sample(parse(metrics.text), "tickmesh_open_positions", namespace="paper") == 1
    assert reads.status_code == 401


async def test_metrics_route_left_out_of_the_openapi_schema() -> None:
    app = FastAPI()
    install(app, CollectorRegistry(), path="/internal/metrics")

    async with client(app) as http:
        schema = (await http.get("/openapi.json")).json()
        empty = await http.get("/internal/metrics")

    assert "/internal/metrics" not in schema["paths"]
    assert (empty.status_code, empty.text) == (200, "")
