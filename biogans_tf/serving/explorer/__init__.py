"""The cell explorer: a static web page served next to the REST API (`GET /explorer`).

The page (static/: index.html, explorer.js, explorer.css; plain JS, no build step, no CDN) calls
only TF Serving's documented REST API (`POST /v1/models/NAME:predict` with the `metadata`, `sample`,
`interpolate` and `reconstruct` signatures, columnar "inputs"), so it works against this project's
server and against a real TF Serving.

    from starlette.applications import Starlette
    app = Starlette(routes=[*rest_routes, *routes()])                      # same-origin API
    app = Starlette(routes=routes(api_base="http://tfserving:8501"))        # API served elsewhere

With `api_base`, the page talks to `/explorer/api/v1/models/...`, which this module forwards to
`api_base` server-side (`serving/explorer/forwarder.py`: that upstream only, GET/POST under
`/v1/models/`, no redirects, checked paths, bounded size and time, its own threads). The page is sent
with a Content-Security-Policy and `X-Content-Type-Options: nosniff`. The page also
accepts `?api=URL` (direct calls; that server must then allow the page's origin) and `?model=NAME`.
"""

from __future__ import annotations

import html
import os

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from biogans_tf.serving.explorer.forwarder import TIMEOUT_S, Forwarder

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGE = "/explorer"
PROXY_PREFIX = "/explorer/api"
MAX_REQUEST_BYTES = 64 << 20
# The page loads only its own files and draws on canvases; it may call another REST API (`?api=`).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
}


def _page_html(api: str, model: str) -> str:
    with open(os.path.join(STATIC_DIR, "index.html"), encoding="utf-8") as f:
        text = f.read()
    return text.replace("{{API_BASE}}", html.escape(api, quote=True)).replace(
        "{{MODEL_NAME}}", html.escape(model, quote=True)
    )


def routes(
    api_base: str = "",
    model_name: str = "cells",
    max_request_bytes: int = MAX_REQUEST_BYTES,
    timeout_s: float = TIMEOUT_S,
) -> list:
    """Starlette routes for the explorer page, its assets and (with `api_base`) the API forwarder.

    Args:
        api_base: base URL of a TF Serving REST endpoint (e.g. `http://host:8501`); "" means the
            REST API is served by the same app as the page.
        model_name: the model the page opens first (the page's `?model=` overrides it).
        max_request_bytes: the largest request body the forwarder passes on (the server's own).
        timeout_s: the forwarder's longest wait for `api_base`.

    Returns:
        A list of `starlette.routing.Route`/`Mount` for `GET /explorer`, `/explorer/static/*` and,
        with `api_base`, `GET|POST /explorer/api/v1/models/*`.
    """
    route = PROXY_PREFIX + "/v1/models/"
    forwarder = Forwarder(api_base, route, max_request_bytes, timeout_s) if api_base else None
    page_api = PROXY_PREFIX if forwarder else ""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(_page_html(page_api, model_name), headers=PAGE_HEADERS)

    result = [
        Route(PAGE, page, methods=["GET"]),
        Route(PAGE + "/", page, methods=["GET"]),
        # follow_symlink: under Bazel the package's files are symlinks into the source tree, which
        # StaticFiles would otherwise answer with 404 (it refuses paths that resolve outside it).
        Mount(PAGE + "/static", app=StaticFiles(directory=STATIC_DIR, follow_symlink=True)),
    ]
    if forwarder:
        result.append(Route(route + "{path:path}", forwarder.handle, methods=["GET", "POST"]))
    return result
