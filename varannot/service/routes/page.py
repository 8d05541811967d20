"""``GET /``: the browser page (static files from :mod:`varannot.web`, shipped in the wheel).

No build step and nothing fetched from elsewhere, so the page works offline behind a hospital
firewall. A strict Content-Security-Policy (same origin only, no inline or eval'd script) backs
up the page's own rule of putting every input string into the DOM as text. The page is public
(it holds no data); the API calls it makes carry the user's key when the server wants one.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from ..problems import ProblemError

ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

page = APIRouter(include_in_schema=False)


def asset(name: str) -> bytes:
    return files("varannot.web").joinpath(name).read_bytes()


@page.get("/")
async def index() -> Response:
    return Response(asset("index.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@page.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in ASSETS:
        raise ProblemError(404, "Not found", f"no such file: {name}", source="request")
    return Response(asset(name), media_type=ASSETS[name], headers=HEADERS)
