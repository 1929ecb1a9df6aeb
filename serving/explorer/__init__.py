"""The cell explorer: a static web page served next to the REST API (`GET /explorer`).

The page (static/: index.html, explorer.js, explorer.css; plain JS, no build step, no CDN) calls
only TF Serving's documented REST API (`POST /v1/models/NAME:predict` with the `metadata`, `sample`,
`interpolate` and `reconstruct` signatures, columnar "inputs"), so it works against this project's
server and against a real TF Serving.

    from starlette.applications import Starlette
    app = Starlette(routes=[*rest_routes, *routes()])                      # same-origin API
    app = Starlette(routes=routes(api_base="http://tfserving:8501"))        # API served elsewhere

With `api_base`, the page talks to `/explorer/api/v1/models/...`, which this module forwards to
`api_base` server-side: TF Serving sends no CORS headers, so a browser could not read its replies
across origins. Only GET/POST under `/v1/models/` are forwarded (no open proxy). The page also
accepts `?api=URL` (direct calls; that server must then allow the page's origin) and `?model=NAME`.
"""

from __future__ import annotations

import html
import json
import os
import urllib.error
import urllib.request

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PAGE = "/explorer"
PROXY_PREFIX = "/explorer/api"
_FORWARD_TIMEOUT_S = 600.0  # reconstruct requests run L-BFGS and can take minutes on a CPU


def _page_html(api: str, model: str) -> str:
    with open(os.path.join(STATIC_DIR, "index.html"), encoding="utf-8") as f:
        text = f.read()
    return text.replace("{{API_BASE}}", html.escape(api, quote=True)).replace(
        "{{MODEL_NAME}}", html.escape(model, quote=True)
    )


def _forward(url: str, method: str, body: bytes | None, content_type: str) -> tuple[int, bytes, str]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", content_type or "application/json")
    try:
        with urllib.request.urlopen(req, timeout=_FORWARD_TIMEOUT_S) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "application/json")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "application/json")
    except (OSError, ValueError) as e:
        msg = {"error": f"explorer could not reach the REST API at {url.split('/v1/')[0]}: {e}"}
        return 502, json.dumps(msg).encode(), "application/json"


def routes(api_base: str = "", model_name: str = "cells") -> list:
    """Starlette routes for the explorer page, its assets and (with `api_base`) the API forwarder.

    Args:
        api_base: base URL of a TF Serving REST endpoint (e.g. `http://host:8501`); "" means the
            REST API is served by the same app as the page.
        model_name: the model the page opens first (the page's `?model=` overrides it).

    Returns:
        A list of `starlette.routing.Route`/`Mount` for `GET /explorer`, `/explorer/static/*` and,
        with `api_base`, `GET|POST /explorer/api/v1/models/*`.
    """
    base = api_base.rstrip("/")
    if base and not base.startswith(("http://", "https://")):
        raise ValueError(f"--explorer_api {api_base!r}: expected an http:// or https:// URL")
    page_api = PROXY_PREFIX if base else ""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(_page_html(page_api, model_name), headers={"Cache-Control": "no-cache"})

    result = [
        Route(PAGE, page, methods=["GET"]),
        Route(PAGE + "/", page, methods=["GET"]),
        # follow_symlink: under Bazel the package's files are symlinks into the source tree, which
        # StaticFiles would otherwise answer with 404 (it refuses paths that resolve outside it).
        Mount(PAGE + "/static", app=StaticFiles(directory=STATIC_DIR, follow_symlink=True)),
    ]
    if base:

        async def forward(request: Request) -> Response:
            path = request.path_params["path"]
            if ".." in path.split("/") or path.startswith("/"):  # stay under /v1/models/
                return Response("not found", status_code=404, media_type="text/plain")
            url = f"{base}/v1/models/{path}"
            body = await request.body() if request.method == "POST" else None
            status, data, ctype = await run_in_threadpool(
                _forward, url, request.method, body, request.headers.get("content-type", "")
            )
            return Response(data, status_code=status, media_type=ctype)

        result.append(Route(PROXY_PREFIX + "/v1/models/{path:path}", forward, methods=["GET", "POST"]))
    return result
