"""The UI's routes on the server's app, under ``/ui``: pages, their static files (ECharts vendored in
``static/vendor/``), data as compact JSON (``/ui/api``), and ``/ui/kube/...``, the server's own Kubernetes API for the
pages' actions (create, stop, delete, edit the budget, logs), reached with the UI's cookie.

Data handlers are plain functions (FastAPI runs them in its thread pool), as the API's are.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pykatib.spec.limits import MAX_FILE_BYTES
from pykatib.store import ExperimentRecord, Store
from pykatib.ui import data, examples, importance, marks, pages
from pykatib.ui.auth import CSRF_HEADER, LOGIN_PATH, PREFIX, cookie_header, login_page

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
LONG_CACHE = "public, max-age=31536000, immutable"
KUBE_PREFIX = f"{PREFIX}/kube"
SINCE_AHEAD_SECONDS = 86_400  # the furthest ahead a `since` may be


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def not_found(message: str) -> JSON:
    return JSON({"kind": "Status", "status": "Failure", "reason": "NotFound", "message": message, "code": 404}, 404)


class Forwarded(Response):
    """The server's own API answering a ``/ui/kube/...`` request: the same request, its path without the prefix,
    handed to the app again (the Guard let it in with the UI's cookie)."""

    def __init__(self, app: Any, scope: MutableMapping[str, Any]) -> None:
        super().__init__()
        self.app = app
        keep = ("type", "asgi", "http_version", "method", "scheme", "query_string", "headers", "client", "server",
                "state", "extensions")  # fmt: skip
        self.inner = {key: scope[key] for key in keep if key in scope}
        self.inner["path"] = scope["path"][len(KUBE_PREFIX) :]
        raw = scope.get("raw_path") or scope["path"].encode()
        self.inner["raw_path"] = raw[len(KUBE_PREFIX) :] if raw.startswith(KUBE_PREFIX.encode()) else raw
        self.inner["root_path"] = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(self.inner, receive, send)


class Vendored:
    """A library the pages load from ``static/vendor/`` (ECharts): its URL carries a digest of its content, so
    browsers keep it for a year; sent gzipped (1.1 MB -> 0.36 MB) to a browser that takes it, compressed once."""

    def __init__(self, name: str) -> None:
        self.raw = (STATIC_DIR / "vendor" / name).read_bytes()
        self.url = f"{PREFIX}/static/vendor/{name}?v={hashlib.sha256(self.raw).hexdigest()[:12]}"
        self._lock = threading.Lock()
        self._packed: bytes | None = None

    def bodies(self) -> tuple[bytes, bytes]:
        """The file, and gzipped (on the first request, not at start-up)."""
        with self._lock:
            if self._packed is None:
                self._packed = gzip.compress(self.raw, compresslevel=6)
            return self.raw, self._packed


def mount(app: FastAPI, store: Store) -> None:
    """Add the UI's routes to the server's ``app``; the pages read ``store``."""
    charts = Vendored("echarts.min.js")
    weights = importance.ImportanceCache()
    answers = data.ExperimentAnswers(store)
    static = {path.name: path for path in STATIC_DIR.iterdir() if path.suffix in STATIC_TYPES}
    importance.preload()

    def experiment(namespace: str, name: str) -> ExperimentRecord | None:
        return store.get_experiment(name, namespace)

    def page(request: Request, html: str) -> Response:
        """A page; one reached with ``?token=`` keeps the token in the cookie and goes on without it."""
        token = request.query_params.get("token")
        if token is None:
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
        response.headers["Set-Cookie"] = cookie_header(request.scope, token)
        return response

    # --- pages ----------------------------------------------------------------------------------------

    @app.get(PREFIX, include_in_schema=False)
    def ui_root() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    @app.get(f"{PREFIX}/", include_in_schema=False)
    def experiments_page(request: Request) -> Response:
        return page(request, pages.experiments_page())

    @app.get(f"{PREFIX}/new", include_in_schema=False)
    def new_page(request: Request) -> Response:
        return page(request, pages.new_page())

    @app.get(f"{PREFIX}/experiments/{{namespace}}/{{name}}", include_in_schema=False)
    def experiment_page(request: Request, namespace: str, name: str) -> Response:
        return page(request, pages.experiment_page(namespace, name, charts.url))

    @app.get(f"{PREFIX}/experiments/{{namespace}}/{{name}}/trials/{{trial}}", include_in_schema=False)
    def trial_page(request: Request, namespace: str, name: str, trial: str) -> Response:
        return page(request, pages.trial_page(namespace, name, trial, charts.url))

    @app.get(LOGIN_PATH, include_in_schema=False)
    def login_form(request: Request) -> Response:
        return HTMLResponse(login_page(request.query_params.get("next") or f"{PREFIX}/"))

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        """Keep the posted token in the cookie (checked by the next request, like any cookie) and go on."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        target = (form.get("next") or [f"{PREFIX}/"])[0]
        if not target.startswith(f"{PREFIX}/") or target.startswith(LOGIN_PATH):
            target = f"{PREFIX}/"
        response = RedirectResponse(target, status_code=303)
        response.headers["Set-Cookie"] = cookie_header(request.scope, token)
        return response

    # --- static files ---------------------------------------------------------------------------------

    @app.get(f"{PREFIX}/static/vendor/echarts.min.js", include_in_schema=False)
    def charts_js(request: Request) -> Response:
        raw, packed = charts.bodies()
        headers = {"Cache-Control": LONG_CACHE, "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(packed, media_type=STATIC_TYPES[".js"], headers=headers)
        return Response(raw, media_type=STATIC_TYPES[".js"], headers=headers)

    @app.get(f"{PREFIX}/static/{{file}}", include_in_schema=False)
    def static_file(request: Request, file: str) -> Response:
        path = static.get(file)
        if path is None:
            return not_found(f"no static file {file}")
        body = path.read_bytes()
        etag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'
        headers = {"Cache-Control": "no-cache", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=STATIC_TYPES[path.suffix], headers=headers)

    # --- data -----------------------------------------------------------------------------------------

    @app.get(f"{PREFIX}/api/experiments", include_in_schema=False)
    def experiments_data() -> Response:
        return JSON({"items": [data.experiment_row(r) for r in store.list_experiments()]})

    @app.get(f"{PREFIX}/api/experiments/{{namespace}}/{{name}}", include_in_schema=False)
    def experiment_data(namespace: str, name: str, since: int = 0) -> Response:
        record = experiment(namespace, name)
        if record is None:
            return not_found(f"experiment {namespace}/{name} not found")
        # A time in microseconds; one far beyond now (a client's mistake) is held to a day ahead rather than
        # a 500 for an impossible date (a little ahead is fine: the page asks from its last answer).
        since = min(max(since, 0), int((time.time() + SINCE_AHEAD_SECONDS) * 1e6))
        return Response(answers.answer(record, since or None), media_type="application/json")

    @app.get(f"{PREFIX}/api/experiments/{{namespace}}/{{name}}/importance", include_in_schema=False)
    def importance_data(namespace: str, name: str) -> Response:
        record = experiment(namespace, name)
        if record is None:
            return not_found(f"experiment {namespace}/{name} not found")
        return JSON(weights.get(record, lambda: store.list_trials(record.id)))

    @app.get(f"{PREFIX}/api/experiments/{{namespace}}/{{name}}/trials/{{trial}}", include_in_schema=False)
    def trial_data(namespace: str, name: str, trial: str) -> Response:
        record = experiment(namespace, name)
        found = store.get_trial(trial) if record is not None else None
        if record is None or found is None or found.experiment_id != record.id:
            return not_found(f"trial {trial} of experiment {namespace}/{name} not found")
        return JSON(data.trial_data(store, record, found))

    @app.get(f"{PREFIX}/api/examples", include_in_schema=False)
    def example_list() -> Response:
        return JSON({"items": examples.example_names()})

    @app.get(f"{PREFIX}/api/examples/{{name:path}}", include_in_schema=False)
    def example(name: str) -> Response:
        text = examples.example_text(name)
        if text is None:
            return not_found(f"no example {name}")
        return Response(text, media_type="text/plain; charset=utf-8")

    @app.post(f"{PREFIX}/api/marks", include_in_schema=False)
    async def yaml_marks(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_FILE_BYTES:
            return JSON({"message": "the text is larger than an experiment file may be"}, 413)
        return JSON(marks.marks(body.decode("utf-8", "replace")))

    # --- the server's API, for the pages' actions -----------------------------------------------------

    @app.api_route(f"{KUBE_PREFIX}/{{path:path}}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)  # fmt: skip
    def kube(request: Request, path: str) -> Response:
        if not path.startswith(("api/", "apis/")):
            return not_found(f"{KUBE_PREFIX} serves only the Kubernetes API (/api/..., /apis/...)")
        if request.method != "GET" and request.headers.get(CSRF_HEADER) != "1":
            body = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                    "message": f"a change through {KUBE_PREFIX} needs the header {CSRF_HEADER}: 1"}  # fmt: skip
            return JSON(body, 403)
        return Forwarded(request.app, request.scope)
