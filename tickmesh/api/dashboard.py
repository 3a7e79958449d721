"""The web dashboard: one page and its assets, served by the API app beside the REST routes.

:func:`install` adds ``GET /`` (the page), ``GET /static/<name>`` (its ES modules and style
sheet, the vendored chart library and its licence) and an empty ``/favicon.ico``. The files are
package data under ``tickmesh/web``, read once through :mod:`importlib.resources` when the app is
built, so a missing file stops the start, not a page view. Only the files listed in
:data:`ASSETS` are served; any other path is a 404.

Caching: the page is revalidated on every view (``no-cache`` with an ETag). It names each asset
with ``?v=<content hash>``, and an asset fetched under its current hash may be kept for a year;
fetched without it, it is revalidated too. The modules in :data:`MODULES` import each other as
``./name.js``; those imports are pinned the same way when the app is built, and a module's hash
covers the pinned names of what it imports, so changing one module renames every module that
depends on it and no browser mixes old and new code. An import of a file that is not served, or
an import cycle, stops the start. Assets go out gzipped to clients that accept it.

Every answer carries a strict Content-Security-Policy: scripts, styles, images and API calls
from this origin only, no inline script or style, no framing. Module scripts (and the
``modulepreload`` links for them) fall under ``script-src 'self'``, the live stream's
``EventSource`` under ``connect-src 'self'``. The page needs nothing else: no CDN, no fonts, no
internet.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status

PACKAGE = "tickmesh.web"
PAGE = "static/index.html"
JAVASCRIPT = "text/javascript; charset=utf-8"
MODULES = (
    "app.js",
    "account.js",
    "api.js",
    "backtests.js",
    "board.js",
    "chart.js",
    "format.js",
    "panels.js",
    "strategies.js",
    "stream.js",
)
"""The page's ES modules (under ``static/``), whose relative imports are pinned to versions."""
ASSETS: dict[str, tuple[str, str]] = {
    **{name: (f"static/{name}", JAVASCRIPT) for name in MODULES},
    "app.css": ("static/app.css", "text/css; charset=utf-8"),
    "vendor/lightweight-charts.standalone.production.js": (
        "vendor/lightweight-charts.standalone.production.js",
        JAVASCRIPT,
    ),
    "vendor/LICENSE-lightweight-charts.txt": (
        "vendor/LICENSE-lightweight-charts.txt",
        "text/plain; charset=utf-8",
    ),
}
"""URL name under ``/static/`` -> (resource under ``tickmesh/web``, media type)."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
REVALIDATE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
GZIP_MIN_BYTES = 1024
_ASSET_REF = re.compile(r'(?P<attr>src|href)="/static/(?P<name>[^"?#]+)"')
_IMPORT = re.compile(
    r"""(?P<head>\b(?:from|import)\s*)(?P<q>["'])(?P<spec>\.{1,2}/[^"'?#]+)(?P=q)"""
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as served: its bytes, gzipped bytes when worth it, and its validator."""

    body: bytes
    media_type: str
    version: str
    gzipped: bytes | None = None

    @classmethod
    def of(cls, body: bytes, media_type: str) -> Asset:
        version = hashlib.sha256(body).hexdigest()[:16]
        packed = gzip.compress(body, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
        return cls(body, media_type, version, packed)


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: ``/``, ``/static/<name>`` and ``/favicon.ico``."""
    assets = _assets()
    page = Asset.of(_versioned(_read(PAGE).decode("utf-8"), assets), "text/html; charset=utf-8")
    router = APIRouter(include_in_schema=False)

    @router.api_route("/", methods=["GET", "HEAD"])
    async def dashboard(request: Request) -> Response:
        return _answer(request, page, REVALIDATE)

    @router.api_route("/static/{name:path}", methods=["GET", "HEAD"])
    async def static(request: Request, name: str) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no static file {name!r}")
        current = request.query_params.get("v") == asset.version
        return _answer(request, asset, IMMUTABLE if current else REVALIDATE)

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=SECURITY_HEADERS)

    app.include_router(router)


def _read(path: str) -> bytes:
    return resources.files(PACKAGE).joinpath(path).read_bytes()


def _assets() -> dict[str, Asset]:
    """Every asset as served: modules with their imports pinned, dependencies first."""
    built: dict[str, Asset] = {}

    def build(name: str, trail: tuple[str, ...]) -> Asset:
        if name in built:
            return built[name]
        if name in trail:
            raise ValueError(
                f"import cycle among the dashboard modules: {' -> '.join((*trail, name))}"
            )
        path, media_type = ASSETS[name]
        body = _read(path)
        if name in MODULES:
            body = _pinned_imports(name, body, lambda dep: build(dep, (*trail, name)).version)
        built[name] = Asset.of(body, media_type)
        return built[name]

    for name in ASSETS:
        build(name, ())
    return built


def _pinned_imports(name: str, body: bytes, version: Callable[[str], str]) -> bytes:
    """Module ``name`` with each relative import pinned to ``?v=<its version>``."""

    def pin(match: re.Match[str]) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), match["spec"]))
        if target not in MODULES:
            raise ValueError(f"static/{name} imports {match['spec']}, which is not served")
        return f"{match['head']}{match['q']}{match['spec']}?v={version(target)}{match['q']}"

    return _IMPORT.sub(pin, body.decode("utf-8")).encode("utf-8")


def _versioned(html: str, assets: dict[str, Asset]) -> bytes:
    """The page with every ``/static/<name>`` reference pinned to the asset's content hash."""

    def pin(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in assets:
            raise ValueError(f"{PAGE} refers to /static/{name}, which is not served")
        return f'{match["attr"]}="/static/{name}?v={assets[name].version}"'

    return _ASSET_REF.sub(pin, html).encode("utf-8")


def _answer(request: Request, asset: Asset, cache_control: str) -> Response:
    zipped = asset.gzipped is not None and _accepts_gzip(request.headers.get("accept-encoding"))
    etag = f'"{asset.version}-gz"' if zipped else f'"{asset.version}"'
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": etag}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    matches = _etags(request.headers.get("if-none-match"))
    if etag in matches or "*" in matches:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
    body = asset.gzipped if zipped and asset.gzipped is not None else asset.body
    return Response(body, media_type=asset.media_type, headers=headers)


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in {"gzip", "*"}:
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def _etags(header: str | None) -> set[str]:
    tags = {tag.strip().removeprefix("W/") for tag in (header or "").split(",")}
    return tags - {""}
