"""/ui: the analyst dashboard, static files from package data (controlplane/ui).

The page holds no data: it asks for an API token, keeps it in the tab's sessionStorage
and reads everything through /v1/telemetry with it, so the API's role and tenant checks
are the dashboard's. A strict Content-Security-Policy allows nothing but this origin.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from controlplane.api.problems import Problem

router = APIRouter(prefix="/ui", tags=["dashboard"], include_in_schema=False)

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _asset(name: str) -> bytes:
    return resources.files("controlplane.ui").joinpath(name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)


@router.get("")
def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/")
def dashboard() -> Response:
    return _serve("index.html")


@router.get("/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise Problem(404, f"no dashboard file {name!r}")
    return _serve(name)
