"""The dashboard's page and assets: served with their content types, a strict CSP and cache
headers, pinned to their content hash, gzipped when asked; anything else under /static is a 404."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI

from tickmesh.api.dashboard import ASSETS, CONTENT_SECURITY_POLICY, IMMUTABLE, install

from .conftest import make_client

LIBRARY = "vendor/lightweight-charts.standalone.production.js"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    install(app)
    async with make_client(app) as http:
        yield http


def packaged(path: str) -> bytes:
    return resources.files("tickmesh.web").joinpath(path).read_bytes()


def asset_links(page: str) -> dict[str, str]:
    """``name -> version`` of every /static reference in the page."""
    return dict(re.findall(r'"/static/([^"?]+)\?v=([0-9a-f]+)"', page))


async def test_page_is_html_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert '<form id="login-form"' in response.text


def test_page_has_no_inline_script_or_style_and_no_remote_asset() -> None:
    page = packaged("static/index.html").decode()

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts
    assert all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in page
    assert " style=" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page.split("<footer")[0])


async def test_page_pins_every_asset_to_its_content_hash(client: httpx.AsyncClient) -> None:
    links = asset_links((await client.get("/")).text)

    assert set(links) == {"app.js", "app.css", LIBRARY, "vendor/LICENSE-lightweight-charts.txt"}
    for name, version in links.items():
        response = await client.get(f"/static/{name}", params={"v": version})
        assert response.status_code == 200, name
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.content == packaged(ASSETS[name][0])


async def test_page_shows_the_chart_library_attribution(client: httpx.AsyncClient) -> None:
    footer = (await client.get("/")).text.split("<footer", 1)[1]

    assert "TradingView Lightweight Charts™" in footer
    assert "Copyright (c) 2026 TradingView, Inc." in footer
    assert 'href="https://www.tradingview.com/"' in footer


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        (LIBRARY, "text/javascript; charset=utf-8"),
        ("vendor/LICENSE-lightweight-charts.txt", "text/plain; charset=utf-8"),
    ],
)
async def test_static_files_have_their_content_type_and_csp(
    client: httpx.AsyncClient, name: str, media_type: str
) -> None:
    response = await client.get(f"/static/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]


async def test_vendored_chart_library_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/static/{LIBRARY}", headers={"accept-encoding": "identity"})

    assert response.status_code == 200
    assert response.content == packaged(LIBRARY)
    assert b"createChart" in response.content
    assert b"createSeriesMarkers" in response.content
    assert "content-encoding" not in response.headers


async def test_assets_go_gzipped_to_clients_that_accept_it(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/static/{LIBRARY}", headers={"accept-encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == packaged(LIBRARY)  # httpx decodes it
    assert len(gzip.compress(response.content)) < len(packaged(LIBRARY))


async def test_unchanged_asset_answers_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/static/app.css", headers={"accept-encoding": "identity"})

    again = await client.get(
        "/static/app.css",
        headers={"if-none-match": first.headers["etag"], "accept-encoding": "identity"},
    )

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/index.html",
        "/static/vendor/README.md",
        "/static/../api/app.py",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/",
    ],
)
async def test_unknown_static_path_is_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404


async def test_favicon_is_empty_not_an_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/favicon.ico")

    assert response.status_code == 204


async def test_head_of_page_answers_like_get(client: httpx.AsyncClient) -> None:
    response = await client.head("/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_dashboard_routes_stay_out_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert not [path for path in paths if path == "/" or path.startswith("/static")]


async def test_api_routes_still_answer_beside_the_dashboard(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/portfolio")

    assert response.status_code == 401
