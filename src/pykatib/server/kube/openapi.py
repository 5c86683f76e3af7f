"""OpenAPI v3 documents for ``/openapi/v3``: what ``kubectl apply`` (and ``create``/``replace``/``edit``) needs.

Before sending an object kubectl asks whether the server validates fields itself: it looks, in the group
version's v3 document, for a PATCH operation whose ``x-kubernetes-group-version-kind`` is the kind (an object)
and whose query parameters include ``fieldValidation`` (``supportsQueryParamV3`` in k8s.io/cli-runtime). When
it finds one it sends ``fieldValidation=Strict`` and never needs a schema of its own. So each document holds,
per kind, the operations of its paths (PATCH with ``fieldValidation``, ``fieldManager``, ``dryRun``, ``force``)
and a permissive schema (``x-kubernetes-preserve-unknown-fields``) whose ``x-kubernetes-group-version-kind``
is a list, as Kubernetes writes them.

The core kinds' PATCH operations do not list ``application/strategic-merge-patch+json`` although the server
accepts it: when they do, ``kubectl apply`` computes its strategic patch from the document's schemas, which
are permissive here and name no fields; without it kubectl computes the patch from the types built into it,
which is exact. (Katib's kinds are custom resources: kubectl sends them JSON merge patches.)

The documents are built once, at import; ``serverRelativeURL`` carries a hash of each one's JSON, which
kubectl uses as a cache key.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from pykatib.server.kube.discovery import KUBERNETES_MAJOR, KUBERNETES_MINOR
from pykatib.server.kube.errors import KubeError
from pykatib.server.kube.kinds import GROUP_VERSIONS, KindInfo, kinds_of

_GVK = "x-kubernetes-group-version-kind"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_STATUS_REF = f"#/components/schemas/{_META}.Status"
_PATCH_REF = f"#/components/schemas/{_META}.Patch"
_DELETE_OPTIONS_REF = f"#/components/schemas/{_META}.DeleteOptions"


def _path_key(group_version: str) -> str:
    """The index's key (and URL path) of a group version: "api/v1", "apis/kubeflow.org/v1beta1"."""
    return f"apis/{group_version}" if "/" in group_version else f"api/{group_version}"


def _schema_name(kind: KindInfo, kind_name: str) -> str:
    if not kind.group:
        return f"io.k8s.api.core.{kind.version}.{kind_name}"
    reversed_group = ".".join(reversed(kind.group.split(".")))
    return f"{reversed_group}.{kind.version}.{kind_name}"


def _ref(kind: KindInfo, kind_name: str) -> str:
    return f"#/components/schemas/{_schema_name(kind, kind_name)}"


def _operation_name(kind: KindInfo) -> str:
    """The CamelCase group version of an operationId: CoreV1, KubeflowOrgV1beta1."""
    group = "".join(part.capitalize() for part in kind.group.split(".")) if kind.group else "Core"
    return f"{group}{kind.version.capitalize()}"


def _query(name: str, description: str, schema_type: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": schema_type, "uniqueItems": True},
    }


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be persisted. Valid value: All.")
_FIELD_MANAGER = _query("fieldManager", "A name associated with the actor or entity that is making these changes.")
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "How the server treats unknown or duplicate fields in the request: Ignore, Warn or Strict.",
)
_FORCE = _query("force", 'Force is going to "force" Apply requests.', "boolean")
_WRITE_PARAMS = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
_LIST_PARAMS = [
    _query("allowWatchBookmarks", "Requests watch events with type BOOKMARK.", "boolean"),
    _query("continue", "The continue token of the previous page of a list."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "The maximum number of responses to return for a list call.", "integer"),
    _query("resourceVersion", "Constrains the resource versions a request may be served from."),
    _query("resourceVersionMatch", "How resourceVersion is applied to list calls."),
    _query("sendInitialEvents", "Whether a watch starts with the current state as synthetic events.", "boolean"),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources.", "boolean"),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query("propagationPolicy", "Whether and how garbage collection will be performed."),
]
_LOG_PARAMS = [
    _query("container", "The container for which to stream logs."),
    _query("follow", "Follow the log stream of the pod.", "boolean"),
    _query("limitBytes", "The number of bytes to read from the server before terminating the log output.", "integer"),
    _query("previous", "Return previous terminated container logs.", "boolean"),
    _query("sinceSeconds", "A relative time in seconds before the current time from which to show logs.", "integer"),
    _query("tailLines", "The number of lines from the end of the logs to show.", "integer"),
    _query("timestamps", "Add an RFC3339 timestamp at the beginning of every line of log output.", "boolean"),
]


_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _json_content(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": ref}}}


def _operation(
    kind: KindInfo,
    action: str,
    verb: str,
    target: str,
    *,
    parameters: list[dict[str, Any]],
    response_ref: str | None,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation; ``response_ref`` None for a plain-text answer (a pod's log)."""
    gvk = {"group": kind.group, "version": kind.version, "kind": kind.kind}
    operation: dict[str, Any] = {
        "tags": [_operation_name(kind)],
        "description": f"{action} {target}",
        "operationId": f"{verb}{_operation_name(kind)}{target}",
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": _json_content(response_ref) if response_ref else _TEXT},
            "401": {"description": "Unauthorized"},
        },
        "x-kubernetes-action": action,
        _GVK: gvk,
    }
    if request is not None:
        operation["requestBody"] = request
    return operation


def _body(ref: str) -> dict[str, Any]:
    return {"content": {"*/*": {"schema": {"$ref": ref}}}, "required": True}


# No strategic-merge-patch+json: see the module's docstring.
_PATCH_CONTENT_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")
_PATCH_BODY = {
    "content": {content: {"schema": {"$ref": _PATCH_REF}} for content in _PATCH_CONTENT_TYPES},
    "required": True,
}


def _object_operations(kind: KindInfo, target: str, object_ref: str, *, full: bool) -> dict[str, Any]:
    """get/put/patch (and delete when ``full``) of one object or of its status subresource."""
    item: dict[str, Any] = {}
    if kind.allows("get"):
        item["get"] = _operation(kind, "get", "read", target, parameters=[], response_ref=object_ref)
    if kind.allows("update"):
        item["put"] = _operation(
            kind,
            "put",
            "replace",
            target,
            parameters=list(_WRITE_PARAMS),
            response_ref=object_ref,
            request=_body(object_ref),
        )
    if kind.allows("patch"):
        item["patch"] = _operation(
            kind,
            "patch",
            "patch",
            target,
            parameters=[*_WRITE_PARAMS, _FORCE],
            response_ref=object_ref,
            request=_PATCH_BODY,
        )
    if full and kind.allows("delete"):
        item["delete"] = _operation(
            kind,
            "delete",
            "delete",
            target,
            parameters=list(_DELETE_PARAMS),
            response_ref=_STATUS_REF,
            request={"content": _json_content(_DELETE_OPTIONS_REF)},
        )
    return item


def _paths(kind: KindInfo) -> dict[str, dict[str, Any]]:
    prefix = f"/apis/{kind.group_version}" if kind.group else f"/api/{kind.version}"
    scope = "Namespaced" if kind.namespaced else ""
    object_ref = _ref(kind, kind.kind)
    list_ref = _ref(kind, kind.list_kind)
    name_params = [_path_param("name", f"name of the {kind.kind}")]
    if kind.namespaced:
        name_params.append(_path_param("namespace", "object name and auth scope, such as for teams and projects"))
        collection = f"{prefix}/namespaces/{{namespace}}/{kind.plural}"
        collection_params = [name_params[1], _PRETTY]
    else:
        collection = f"{prefix}/{kind.plural}"
        collection_params = [_PRETTY]
    paths: dict[str, dict[str, Any]] = {}

    item: dict[str, Any] = {"parameters": collection_params}
    if kind.allows("list"):
        item["get"] = _operation(
            kind, "list", "list", f"{scope}{kind.kind}", parameters=list(_LIST_PARAMS), response_ref=list_ref
        )
    if kind.allows("create"):
        item["post"] = _operation(
            kind,
            "post",
            "create",
            f"{scope}{kind.kind}",
            parameters=list(_WRITE_PARAMS),
            response_ref=object_ref,
            request=_body(object_ref),
        )
    paths[collection] = item

    named = {"parameters": [*name_params, _PRETTY]}
    operations = _object_operations(kind, f"{scope}{kind.kind}", object_ref, full=True)
    if operations:
        paths[f"{collection}/{{name}}"] = {**named, **operations}
    if "status" in kind.subresources:
        status = _object_operations(kind, f"{scope}{kind.kind}Status", object_ref, full=False)
        paths[f"{collection}/{{name}}/status"] = {**named, **status}
    if "log" in kind.subresources:
        log = _operation(kind, "get", "read", f"{scope}{kind.kind}Log", parameters=list(_LOG_PARAMS), response_ref=None)
        paths[f"{collection}/{{name}}/log"] = {**named, "get": log}
    if kind.namespaced and kind.allows("list"):
        paths[f"{prefix}/{kind.plural}"] = {
            "parameters": [_PRETTY],
            "get": _operation(
                kind,
                "list",
                "list",
                f"{kind.kind}ForAllNamespaces",
                parameters=list(_LIST_PARAMS),
                response_ref=list_ref,
            ),
        }
    return paths


def _schemas(kind: KindInfo) -> dict[str, dict[str, Any]]:
    gvk = {"group": kind.group, "version": kind.version}
    preserve = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    kind_schema: dict[str, Any] = {
        "description": f"{kind.kind} ({kind.api_version}). Fields are validated by the server.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource."},
            "metadata": {**preserve, "description": "Standard object's metadata."},
        },
        "x-kubernetes-preserve-unknown-fields": True,
        _GVK: [{**gvk, "kind": kind.kind}],
    }
    list_schema: dict[str, Any] = {
        "description": f"{kind.list_kind} is a list of {kind.kind}.",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": _ref(kind, kind.kind)}},
            "kind": {"type": "string"},
            "metadata": {**preserve, "description": "Standard list metadata."},
        },
        _GVK: [{**gvk, "kind": kind.list_kind}],
    }
    return {_schema_name(kind, kind.kind): kind_schema, _schema_name(kind, kind.list_kind): list_schema}


def _meta_schemas() -> dict[str, dict[str, Any]]:
    return {
        f"{_META}.Status": {
            "description": "Status is a return value for calls that don't return other objects.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            _GVK: [{"group": "", "version": "v1", "kind": "Status"}],
        },
        f"{_META}.Patch": {
            "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
            "type": "object",
        },
        f"{_META}.DeleteOptions": {
            "description": "DeleteOptions may be provided when deleting an API object.",
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        },
    }


def _document(group_version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = _meta_schemas()
    for kind in kinds_of(group_version):
        paths.update(_paths(kind))
        schemas.update(_schemas(kind))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _hash(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha512(text.encode("utf-8")).hexdigest().upper()


_DOCUMENTS: dict[str, dict[str, Any]] = {_path_key(gv): _document(gv) for gv in GROUP_VERSIONS}
_HASHES: dict[str, str] = {key: _hash(document) for key, document in _DOCUMENTS.items()}


def _key(group_version: str) -> str:
    """Either spelling of a group version ("kubeflow.org/v1beta1" or "apis/kubeflow.org/v1beta1") as a key."""
    text = group_version.strip("/")
    return text if text.startswith(("api/", "apis/")) else _path_key(text)


def openapi_v3_index() -> dict[str, Any]:
    """``GET /openapi/v3``: each group version's document, by the path kubectl asks for it."""
    return {
        "paths": {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={_HASHES[key]}"} for key in _DOCUMENTS},
    }


def openapi_v3_document(group_version: str) -> dict[str, Any] | None:
    """``GET /openapi/v3/api/v1`` or ``/openapi/v3/apis/GROUP/VERSION``: ``group_version`` is the path after
    ``/openapi/v3/`` ("api/v1", "apis/kubeflow.org/v1beta1"), or the group version itself ("v1",
    "kubeflow.org/v1beta1"). None for one not served. A fresh copy: the caller may change it."""
    document = _DOCUMENTS.get(_key(group_version))
    return copy.deepcopy(document) if document is not None else None


def openapi_v3_hash(group_version: str) -> str | None:
    """The hash in the document's ``serverRelativeURL`` (for an ETag), in either spelling; None if not served."""
    return _HASHES.get(_key(group_version))


def openapi_v2_unavailable() -> KubeError:
    """The answer to ``GET /openapi/v2``: 404. The server does not serve OpenAPI v2: kubectl asks for it in
    protobuf only (a JSON document fails with "proto: cannot parse invalid wire-format data"), and needs it
    only when the v3 documents do not answer, which they do. A 404 there makes kubectl fall back, silently, to
    the types built into it (for the core kinds' strategic merge patches)."""
    return KubeError(404, "NotFound", "the server could not find the requested resource (OpenAPI v2 is not served)")
