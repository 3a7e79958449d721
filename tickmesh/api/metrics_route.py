"""``GET /metrics``: the Prometheus text exposition of one dedicated registry.

The route is open, with no token, as Prometheus scrapers expect. That is safe on the default
bind: ``tickmesh run`` serves the API on the loopback address (127.0.0.1) unless told otherwise.
The series include equity and positions; whoever binds the API to another address should put
``/metrics`` behind a proxy or firewall that only lets the scraper in.

The handler is ``async`` on purpose: collection reads the platform's live, unlocked state, so it
must run on the event loop that runs the platform, never in FastAPI's thread pool.
"""

from __future__ import annotations

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

METRICS_PATH = "/metrics"


def install(app: FastAPI, registry: CollectorRegistry, path: str = METRICS_PATH) -> None:
    """Serve every collector of ``registry`` at ``GET path``, collected at request time."""

    async def metrics() -> Response:
        """Every series, collected now, in the Prometheus text format."""
        return Response(
            content=generate_latest(registry),
            media_type=CONTENT_TYPE_LATEST,
            headers={"Cache-Control": "no-store"},
        )

    app.add_api_route(path, metrics, methods=["GET"], include_in_schema=False, name="metrics")
