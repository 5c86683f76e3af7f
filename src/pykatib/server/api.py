"""The Kubernetes-style HTTP API: discovery, OpenAPI, and get/list/watch/create/update/patch/delete for every
kind in ``resources``, with what every kind shares: selectors, ``limit``/``continue`` paging, ``Table``
responses (how ``kubectl get`` prints Katib's columns), patches, watch streams and ``Status`` errors.

Handlers that touch the store are plain functions (FastAPI runs them in its thread pool); watches and log
streams are async generators that poll. Authentication and the body limit are ASGI middleware (``guard``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pykatib.server.kind import Kind, ListQuery
from pykatib.server.kube import discovery, openapi
from pykatib.server.kube.errors import KubeError, bad_request, method_not_allowed, unsupported_media_type
from pykatib.server.kube.kinds import KindInfo, find_kind
from pykatib.server.kube.patch import apply_patch
from pykatib.server.kube.selectors import FieldSelector, LabelSelector
from pykatib.server.kube.table import parse_include_object, table, wants_table
from pykatib.server.objects import EXPERIMENT_LABEL, TRIAL_LABEL
from pykatib.server.resources import Resources, store_error
from pykatib.spec import safe_yaml
from pykatib.ui import mount as mount_ui

log = logging.getLogger(__name__)
WATCH_POLL_SECONDS = 0.25
TABLE_PAGE = 5000
WATCH_DEFAULT_SECONDS = 1800
LOG_BLOCK_BYTES = 1 << 20  # how much of a log is read and sent at once
LOG_POLL_SECONDS = 0.2
# A change committed just after a list may carry a time a little before the list's resourceVersion: a
# watch from that version also sends what changed this long before it (an extra event is harmless).
WATCH_SLACK_MICROS = 2_000_000


class KubeJSON(JSONResponse):
    """A JSON response encoded by orjson: a page of 100 trials with their run specs took 2.5 ms in json."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def create_app(resources: Resources, *, closing: asyncio.Event | None = None) -> FastAPI:
    app = FastAPI(title="pykatib", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.resources = resources
    stopping = closing or asyncio.Event()

    @app.exception_handler(KubeError)
    async def _kube_error(request: Request, exc: KubeError) -> KubeJSON:
        return KubeJSON(exc.status(), status_code=exc.code)

    @app.exception_handler(DBAPIError)
    async def _store_error(request: Request, exc: DBAPIError) -> KubeJSON:
        error = store_error(exc)
        return KubeJSON(error.status(), status_code=error.code)

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> KubeJSON:
        error = bad_request("the request body is nested too deeply")
        return KubeJSON(error.status(), status_code=400)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> KubeJSON:
        # A bug, not the user's mistake: logged with its traceback; the client gets a Status, as from Kubernetes.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        error = KubeError(500, "InternalError", f"an internal error occurred: {type(exc).__name__}: {exc}")
        return KubeJSON(error.status(), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> KubeJSON:
        # Unknown paths (/openapi/v2 among them: kubectl then uses v3) and methods, as Status objects.
        reason = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
        message = "the server could not find the requested resource" if exc.status_code == 404 else str(exc.detail)
        error = KubeError(exc.status_code, reason, message)
        return KubeJSON(error.status(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> KubeJSON:
        errors = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        error = bad_request(errors or "bad request")
        return KubeJSON(error.status(), status_code=400)

    # --- discovery ------------------------------------------------------------------------------------

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/version")
    def version() -> dict[str, Any]:
        return discovery.version_info()

    @app.get("/api")
    def api() -> dict[str, Any]:
        return discovery.api_versions()

    @app.get("/apis")
    def apis() -> dict[str, Any]:
        return discovery.api_group_list()

    @app.get("/api/v1")
    def core_resources() -> dict[str, Any]:
        found = discovery.api_resource_list("v1")
        assert found is not None
        return found

    @app.get("/apis/{group}")
    def group(group: str) -> dict[str, Any]:
        found = discovery.api_group(group)
        if found is None:
            raise KubeError(404, "NotFound", f"the server could not find the requested resource (group {group})")
        return found

    @app.get("/apis/{group}/{version}")
    def group_resources(group: str, version: str) -> dict[str, Any]:
        found = discovery.api_resource_list(f"{group}/{version}")
        if found is None:
            raise KubeError(404, "NotFound", f"the server could not find the requested resource ({group}/{version})")
        return found

    @app.get("/openapi/v3")
    def openapi_index() -> dict[str, Any]:
        return openapi.openapi_v3_index()

    @app.get("/openapi/v3/{path:path}")
    def openapi_document(path: str) -> dict[str, Any]:
        group_version = path.removeprefix("apis/").removeprefix("api/")
        found = openapi.openapi_v3_document(group_version)
        if found is None:
            raise KubeError(404, "NotFound", f"no OpenAPI document for {path}")
        return found

    # --- objects --------------------------------------------------------------------------------------

    def resolve(group_version: str, plural: str) -> tuple[KindInfo, Kind]:
        group_, _, version_ = group_version.rpartition("/")
        info = find_kind(group_, version_, plural)
        kind = resources.kinds.get((group_version, plural))
        if info is None or kind is None:
            raise KubeError(404, "NotFound", f"the server could not find the requested resource ({plural})")
        return info, kind

    async def collection(request: Request, group_version: str, plural: str, namespace: str | None) -> Response:
        info, kind = resolve(group_version, plural)
        if request.method == "POST":
            if kind.create is None:
                raise method_not_allowed(f"{plural} are created by pykatib's controller, not through the API")
            body = await _body(request)
            create = kind.create
            if _dry_run(request):
                if kind.dry_run is None:
                    raise bad_request(f"dryRun is not supported when creating {plural}")
                create = kind.dry_run
            created = await asyncio.to_thread(create, _scope(info, namespace), body)
            return KubeJSON(created, status_code=201)
        params = request.query_params
        if _flag(params.get("watch")):
            return _watch(request, info, kind, namespace, stopping)
        return await asyncio.to_thread(_list, request, info, kind, namespace)

    async def item(request: Request, group_version: str, plural: str, namespace: str | None, name: str) -> Response:
        info, kind = resolve(group_version, plural)
        scope = _scope(info, namespace)
        if request.method == "GET":
            obj = await asyncio.to_thread(kind.get, scope, name)
            if _wants_table(request):  # `kubectl get KIND NAME` prints the kind's columns too
                include = _include(request)
                return KubeJSON(table(info, [obj], include_object=include, resource_version=str(_rv(obj))))
            return KubeJSON(obj)
        if _dry_run(request):  # never a change made when only its checks were asked for
            raise bad_request("dryRun is supported only when creating experiments (POST)")
        if request.method == "DELETE":
            if kind.delete is None:
                raise method_not_allowed(f"{plural} are deleted with their experiment")
            return KubeJSON(await asyncio.to_thread(kind.delete, scope, name))
        if kind.replace is None:
            raise method_not_allowed(f"{plural} are written by pykatib's controller, not through the API")
        replace = kind.replace
        if request.method == "PUT":
            body = await _body(request)
            return KubeJSON(await asyncio.to_thread(replace, scope, name, body))
        # PATCH
        content_type = request.headers.get("content-type", "")
        raw = await request.body()

        def patch() -> tuple[dict[str, Any], int]:
            with resources.write_lock:
                return patch_locked()

        def patch_locked() -> tuple[dict[str, Any], int]:
            try:
                current = kind.get(scope, name)
            except KubeError as exc:
                if exc.code == 404 and content_type.startswith("application/apply-patch") and kind.create:
                    return kind.create(scope, _yaml_body(raw)), 201  # server-side apply creates
                raise
            # A patch conflicts only when it carries a resourceVersion itself (as in Kubernetes): the object's
            # own one changes with every status write of its controller.
            current.get("metadata", {}).pop("resourceVersion", None)
            patched = apply_patch(current, content_type, raw, strategic_ok=info.group == "")
            return replace(scope, name, patched), 200

        updated, code = await asyncio.to_thread(patch)
        return KubeJSON(updated, status_code=code)

    async def status_item(
        request: Request, group_version: str, plural: str, namespace: str | None, name: str
    ) -> Response:
        info, kind = resolve(group_version, plural)
        if request.method != "GET":
            raise method_not_allowed(f"the status of {plural} is written by pykatib's controller")
        return KubeJSON(await asyncio.to_thread(kind.get, _scope(info, namespace), name))

    methods = ["GET", "POST"]
    item_methods = ["GET", "PUT", "PATCH", "DELETE"]

    @app.api_route("/apis/{group}/{version}/namespaces/{namespace}/{plural}", methods=methods)
    async def namespaced_collection(
        request: Request, group: str, version: str, namespace: str, plural: str
    ) -> Response:
        return await collection(request, f"{group}/{version}", plural, namespace)

    @app.api_route("/apis/{group}/{version}/{plural}", methods=["GET"])
    async def all_namespaces(request: Request, group: str, version: str, plural: str) -> Response:
        return await collection(request, f"{group}/{version}", plural, None)

    @app.api_route("/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}", methods=item_methods)
    async def namespaced_item(
        request: Request, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Response:
        return await item(request, f"{group}/{version}", plural, namespace, name)

    @app.api_route("/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}/status", methods=item_methods)
    async def namespaced_status(
        request: Request, group: str, version: str, namespace: str, plural: str, name: str
    ) -> Response:
        return await status_item(request, f"{group}/{version}", plural, namespace, name)

    @app.api_route("/api/v1/namespaces/{namespace}/pods/{name}/log", methods=["GET"])
    async def pod_log(request: Request, namespace: str, name: str) -> Response:
        return await _pod_log(request, resources, namespace, name, stopping)

    @app.api_route("/api/v1/namespaces/{namespace}/{plural}", methods=methods)
    async def core_collection(request: Request, namespace: str, plural: str) -> Response:
        return await collection(request, "v1", plural, namespace)

    @app.api_route("/api/v1/namespaces/{namespace}/{plural}/{name}", methods=item_methods)
    async def core_item(request: Request, namespace: str, plural: str, name: str) -> Response:
        return await item(request, "v1", plural, namespace, name)

    @app.api_route("/api/v1/namespaces/{name}", methods=item_methods)
    async def namespace_item(request: Request, name: str) -> Response:
        return await item(request, "v1", "namespaces", None, name)

    @app.api_route("/api/v1/{plural}", methods=methods)
    async def core_all(request: Request, plural: str) -> Response:
        return await collection(request, "v1", plural, None)

    mount_ui(app, resources.store)  # the web UI, under /ui/
    return app


def _scope(info: KindInfo, namespace: str | None) -> str | None:
    return namespace if info.namespaced else None


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type in ("application/yaml", "application/apply-patch+yaml"):
        return _yaml_body(raw)
    if content_type not in ("application/json", ""):
        raise unsupported_media_type(content_type)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"the request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _yaml_body(raw: bytes) -> dict[str, Any]:
    try:
        body = safe_yaml.load(raw.decode())
    except Exception as exc:  # syntax errors and the alias/size bounds alike
        raise bad_request(f"the request body is not valid YAML: {exc}") from exc
    if not isinstance(body, dict):
        raise bad_request("the request body must be an object")
    return body


def _dry_run(request: Request) -> bool:
    """Kubernetes' ``dryRun``: absent, or ``All`` (every check, nothing stored); any other value is 400."""
    values = request.query_params.getlist("dryRun")
    if any(value != "All" for value in values):
        raise bad_request(f"invalid dryRun value {next(v for v in values if v != 'All')!r}: only All is supported")
    return bool(values)


def _wants_table(request: Request) -> bool:
    return wants_table(request.headers.get("accept"))


def _include(request: Request) -> str:
    return parse_include_object(request.query_params.get("includeObject"))


def _query(request: Request) -> tuple[LabelSelector, FieldSelector, ListQuery]:
    params = request.query_params
    labels = LabelSelector.parse(params.get("labelSelector", ""))
    fields = FieldSelector.parse(params.get("fieldSelector", ""))
    name = fields.equals("metadata.name")
    experiment = _pinned(params.get("labelSelector", ""), EXPERIMENT_LABEL)
    trial = _pinned(params.get("labelSelector", ""), TRIAL_LABEL)
    return labels, fields, ListQuery(name=name, experiment=experiment, trial=trial, full=not _wants_table(request))


def _pushed_down(labels: LabelSelector, fields: FieldSelector) -> bool:
    """Whether the store's paging alone selects what the selectors do: no selector, or only the experiment's
    label pinned (``_query`` turns that into ``ListQuery.experiment``)."""
    requirements = labels.requirements
    pinned = all(r.key == EXPERIMENT_LABEL and r.operator == "=" for r in requirements) and len(requirements) <= 1
    return pinned and fields.empty()


def _pinned(selector: str, key: str) -> str | None:
    """The value a label selector requires for ``key`` with = or ==, when it does."""
    for part in selector.split(","):
        left, sep, right = part.partition("==") if "==" in part else part.partition("=")
        if sep and not left.endswith("!") and left.strip() == key:
            return right.strip()
    return None


def _selected(request: Request, kind: Kind, namespace: str | None) -> tuple[list[dict[str, Any]], ListQuery]:
    labels, fields, query = _query(request)
    objects = kind.listing(namespace, query)
    chosen = [o for o in objects if labels.matches((o.get("metadata") or {}).get("labels") or {}) and fields.matches(o)]
    return chosen, query


def _list(request: Request, info: KindInfo, kind: Kind, namespace: str | None) -> Response:
    params = request.query_params
    offset = _offset(params.get("continue", ""))
    limit = _int(params.get("limit"), "limit")
    labels, fields, query = _query(request)
    if limit and _wants_table(request):
        # kubectl pages a `get` by 500 and its client-side rate limit (5 requests a second after a burst of 10)
        # made 10,000 trials wait 2 s between pages; the API conventions let a server ignore ``limit``, so a
        # Table page holds at least TABLE_PAGE rows (kubectl follows the continue token all the same).
        limit = max(limit, TABLE_PAGE)
    if kind.page is not None and query.name is None and _pushed_down(labels, fields):
        # Paged in the store: a page of 100 of 10,000 trials reads 100 rows, not 10,000.
        page, total = kind.page(namespace, query, offset, limit or None)
    else:
        objects, _ = _selected(request, kind, namespace)
        page = objects[offset : offset + limit] if limit else objects[offset:]
        total = len(objects)
        if kind.complete is not None and not _wants_table(request):
            page = kind.complete(page)
    next_offset = offset + len(page)
    remaining = total - next_offset
    token = _token(next_offset) if limit and remaining > 0 else ""
    version = _list_version()
    if _wants_table(request):
        include = _include(request)
        if include == "Object" and kind.complete is not None:
            page = kind.complete(page)
        body = table(info, page, include_object=include, resource_version=version, continue_token=token,
                     remaining=remaining if token else None)  # fmt: skip
        return KubeJSON(body)
    metadata: dict[str, Any] = {"resourceVersion": version}
    if token:
        metadata["continue"] = token
        metadata["remainingItemCount"] = remaining
    return KubeJSON({"apiVersion": info.api_version, "kind": f"{info.kind}List", "metadata": metadata,
                         "items": page})  # fmt: skip


def _list_version() -> str:
    """The list's resourceVersion: now, in the objects' clock (microseconds), so a watch from it sends
    whatever changes after the list."""
    return str(int(datetime.now(UTC).timestamp() * 1_000_000))


def _flag(value: str | None) -> bool:
    """A boolean query parameter as Kubernetes reads one: absent, "0" or "false" in any case is false, any
    other value true (the Kubernetes Python client before 34 sends ``watch=True``, ``follow=True``)."""
    return value is not None and value != "0" and value.lower() != "false"


def _int(value: str | None, name: str) -> int:
    if value in (None, ""):
        return 0
    try:
        number = int(value)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer, got {value!r}") from exc
    if number < 0:
        raise bad_request(f"{name} must not be negative")
    return number


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise KubeError(410, "Expired", "the continue token is not valid: list again from the start") from exc
    if not isinstance(offset, int) or offset < 0:
        raise KubeError(410, "Expired", "the continue token is not valid: list again from the start")
    return offset


# --- watch ------------------------------------------------------------------------------------------


def _rv(obj: dict[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _watch(request: Request, info: KindInfo, kind: Kind, namespace: str | None, stopping: asyncio.Event) -> Response:
    """A stream of ``{"type": ADDED|MODIFIED|DELETED, "object": ...}`` lines, found by polling the store:
    from resourceVersion "" or "0" every object is first sent as ADDED, as Kubernetes does."""
    params = request.query_params
    since = params.get("resourceVersion", "")
    timeout = _int(params.get("timeoutSeconds"), "timeoutSeconds") or WATCH_DEFAULT_SECONDS
    as_table = _wants_table(request)
    include = _include(request)
    # Checked before the stream starts, so a bad selector is a 400 and not a broken stream.
    _query(request)

    def render(event: str, obj: dict[str, Any]) -> bytes:
        shown = obj
        if as_table:
            shown = table(info, [obj], include_object=include, resource_version=str(_rv(obj)))
        return orjson.dumps({"type": event, "object": shown}) + b"\n"

    def snapshot() -> dict[str, dict[str, Any]]:
        objects, _ = _selected(request, kind, namespace)
        if kind.complete is not None and not as_table:
            objects = kind.complete(objects)
        return {_key(o): o for o in objects}

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = await asyncio.to_thread(snapshot)
        start = int(since) - WATCH_SLACK_MICROS if since.isdigit() and since != "0" else None
        for obj in seen.values():
            if start is None or _created(obj) > start:
                yield render("ADDED", obj)
            elif _rv(obj) > start:
                yield render("MODIFIED", obj)
        while loop.time() < deadline and not stopping.is_set():
            if await request.is_disconnected():
                return
            await asyncio.sleep(WATCH_POLL_SECONDS)
            current = await asyncio.to_thread(snapshot)
            for key, obj in current.items():
                old = seen.get(key)
                if old is None:
                    yield render("ADDED", obj)
                elif _rv(old) != _rv(obj) or old != obj:
                    yield render("MODIFIED", obj)
            for key, obj in seen.items():
                if key not in current:
                    yield render("DELETED", obj)
            seen = current

    return StreamingResponse(events(), media_type="application/json")


def _created(obj: dict[str, Any]) -> int:
    """The object's creation in microseconds, rounded up to its timestamp's second (an object created in the
    second of a list is sent as ADDED: a client upserts either way)."""
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        created = datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return 0
    return int(created.timestamp() + 1) * 1_000_000


def _key(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


# --- logs -------------------------------------------------------------------------------------------


async def _pod_log(request: Request, resources: Resources, namespace: str, name: str,
                   stopping: asyncio.Event) -> Response:  # fmt: skip
    """The replica's log, read only from inside its trial's directory; ``follow`` streams it until the trial
    ends (from its start, for a trial still pending); ``tailLines`` starts from the last lines."""
    params = request.query_params
    path, running = await asyncio.to_thread(resources.pod_log, namespace, name, params.get("container"))
    follow = _flag(params.get("follow"))
    tail = _int(params.get("tailLines"), "tailLines") if params.get("tailLines") else None

    async def stream() -> AsyncIterator[bytes]:
        position = 0
        if path is not None and path.exists():
            size = (await asyncio.to_thread(path.stat)).st_size
            # From the start in blocks, or from where the last ``tailLines`` lines begin: never the whole file
            # in memory (a trial's log may be gigabytes).
            position = 0 if tail is None else await asyncio.to_thread(_tail_start, path, size, tail)
            while position < size:
                chunk = await asyncio.to_thread(_read_from, path, position, min(LOG_BLOCK_BYTES, size - position))
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        if not follow:
            return
        still: Callable[[], tuple[Any, bool]] = lambda: resources.pod_log(namespace, name)  # noqa: E731
        alive, latest = running, path
        while alive and not stopping.is_set():
            if await request.is_disconnected():
                return
            await asyncio.sleep(LOG_POLL_SECONDS)
            try:
                current, alive = await asyncio.to_thread(still)
            except KubeError:
                return  # deleted meanwhile
            latest = current or latest
            if current is not None and current.exists():
                chunk = await asyncio.to_thread(_read_from, current, position)
                if chunk:
                    position += len(chunk)
                    yield chunk
        if latest is not None and latest.exists():
            chunk = await asyncio.to_thread(_read_from, latest, position)
            if chunk:
                yield chunk

    return StreamingResponse(stream(), media_type="text/plain")


def _read_from(path: Any, position: int, size: int = -1) -> bytes:
    with open(path, "rb") as stream:
        stream.seek(position)
        return stream.read(size)


def _tail_start(path: Any, size: int, lines: int) -> int:
    """Where the file's last ``lines`` lines begin (a last line without its newline counts), read backwards."""
    if lines <= 0:
        return size
    position, found = size, 0
    with open(path, "rb") as stream:
        stream.seek(max(size - 1, 0))
        wanted = lines + 1 if size and stream.read(1) == b"\n" else lines  # the file's own final newline
        while position > 0:
            start = max(0, position - LOG_BLOCK_BYTES)
            stream.seek(start)
            block = stream.read(position - start)
            for index in range(len(block) - 1, -1, -1):
                if block[index] == 10:
                    found += 1
                    if found == wanted:
                        return start + index + 1
            position = start
    return 0


__all__ = ["create_app"]
