"""The dashboard's page and assets: served with their content types, a strict CSP and cache
headers, pinned to their content hash, gzipped when asked; anything else under /static is a 404.
The page's ES modules import each other under pinned names too, so a change to one renames every
module that depends on it."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tickmesh.api import dashboard
from tickmesh.api.dashboard import ASSETS, CONTENT_SECURITY_POLICY, IMMUTABLE, MODULES, install

from .conftest import make_client

LIBRARY = "vendor/lightweight-charts.standalone.production.js"
JAVASCRIPT = "text/javascript; charset=utf-8"
IMPORT = re.compile(r"""\b(?:from|import)\s*["'](\.[^"']+)["']""")
MAX_MODULE_LINES = 400


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


def imports_of(source: str) -> list[str]:
    """The relative import specifiers of an ES module, as written."""
    return IMPORT.findall(source)


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
    assert '<script src="/static/app.js" type="module">' in page
    assert "<style" not in page
    assert " style=" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page.split("<footer")[0])


def test_operator_controls_start_hidden_until_the_role_is_known() -> None:
    page = packaged("static/index.html").decode()

    assert '<form id="ops-form" class="ops" hidden>' in page
    assert '<th id="strategies-action-head" hidden>' in page
    assert '<tbody id="strategies">' in page
    assert "<th>Report</th>" in page


async def test_page_pins_every_asset_to_its_content_hash(client: httpx.AsyncClient) -> None:
    links = asset_links((await client.get("/")).text)

    assert set(links) == {*MODULES, "app.css", LIBRARY, "vendor/LICENSE-lightweight-charts.txt"}
    for name, version in links.items():
        response = await client.get(f"/static/{name}", params={"v": version})
        assert response.status_code == 200, name
        assert response.headers["cache-control"] == IMMUTABLE
        if name not in MODULES:
            assert response.content == packaged(ASSETS[name][0])


async def test_page_preloads_every_module(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text

    preloaded = re.findall(r'<link rel="modulepreload" href="/static/([^"?]+)\?v=', page)

    assert sorted(preloaded) == sorted(set(MODULES) - {"app.js"})


async def test_modules_import_each_other_pinned_to_the_served_version(
    client: httpx.AsyncClient,
) -> None:
    links = asset_links((await client.get("/")).text)

    for name in MODULES:
        served = (await client.get(f"/static/{name}", params={"v": links[name]})).text
        written = packaged(f"static/{name}").decode()
        pinned = [f"./{dep}?v={links[dep]}" for dep in _deps(written)]
        assert imports_of(served) == pinned, name
        assert IMPORT.sub("", served) == IMPORT.sub("", written), name


def _deps(source: str) -> list[str]:
    return [spec.removeprefix("./") for spec in imports_of(source)]


def test_every_module_is_served_and_reached_from_app_js() -> None:
    static = Path(str(resources.files("tickmesh.web").joinpath("static")))
    reached: set[str] = set()
    todo = ["app.js"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += _deps(packaged(f"static/{name}").decode())

    assert sorted(path.name for path in static.glob("*.js")) == sorted(MODULES)
    assert reached == set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_modules_stay_small(name: str) -> None:
    lines = packaged(f"static/{name}").decode().count("\n")

    assert lines < MAX_MODULE_LINES, f"{name} has {lines} lines: split it by responsibility"


def test_changing_a_module_renames_the_modules_that_import_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = dashboard._assets()
    real = dashboard._read

    def edited(path: str) -> bytes:
        body = real(path)
        return body + b"\n// edited\n" if path == "static/format.js" else body

    monkeypatch.setattr(dashboard, "_read", edited)
    after = dashboard._assets()

    changed = {name for name in MODULES if after[name].version != before[name].version}
    assert {"format.js", "app.js"} <= changed
    assert "api.js" not in changed  # it imports nothing that changed
    assert f"format.js?v={after['format.js'].version}".encode() in after["chart.js"].body


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b'import { x } from "./nowhere.js";\n', "imports ./nowhere.js, which is not served"),
        (b'import { Session } from "./app.js";\n', "import cycle"),
    ],
)
def test_a_module_importing_what_is_not_served_or_in_a_cycle_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, source: bytes, message: str
) -> None:
    real = dashboard._read
    monkeypatch.setattr(
        dashboard, "_read", lambda path: source if path == "static/api.js" else real(path)
    )

    with pytest.raises(ValueError, match=message):
        dashboard._assets()


async def test_page_shows_the_chart_library_attribution(client: httpx.AsyncClient) -> None:
    footer = (await client.get("/")).text.split("<footer", 1)[1]

    assert "TradingView Lightweight Charts™" in footer
    assert "Copyright (c) 2026 TradingView, Inc." in footer
    assert 'href="https://www.tradingview.com/"' in footer


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        *[(module, JAVASCRIPT) for module in MODULES],
        ("app.css", "text/css; charset=utf-8"),
        (LIBRARY, JAVASCRIPT),
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
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]


def test_csp_allows_same_origin_modules_and_the_event_stream_only() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))

    assert directives["script-src"] == "'self'"  # module scripts and modulepreload
    assert directives["connect-src"] == "'self'"  # fetch and EventSource
    assert directives["default-src"] == "'none'"


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
