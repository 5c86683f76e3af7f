"""PATCH bodies applied to an object, by their Content-Type, with the errors Kubernetes answers.

- ``application/merge-patch+json``: RFC 7386 (``kubectl patch --type merge``, and ``kubectl apply`` of a
  custom resource): maps merge, anything else replaces, null deletes.
- ``application/json-patch+json``: RFC 6902 (``kubectl patch --type json``), by the ``jsonpatch`` library.
  A body that is not a list of operations is a 400; an operation that fails (a ``test``, a missing path) a
  422, as Kubernetes answers.
- ``application/strategic-merge-patch+json``: Kubernetes' own format (``kubectl apply``, ``label``,
  ``annotate``, ``edit`` of a core kind). Custom resources do not take it (415, as for a CRD). For the core
  kinds here it is applied as a merge patch that also honours the patch directives kubectl writes
  (``$patch: replace|delete``, ``$retainKeys``, ``$deleteFromPrimitiveList/KEY``; ``$setElementOrder/KEY``
  is dropped). Lists are replaced whole, which is exact for a configmap's and a namespace's fields (maps and
  plain values); lists Kubernetes merges by key (a pod's containers, ownerReferences) are not merged.
- ``application/apply-patch+yaml``: server-side apply, approximated as a merge patch of the applied
  configuration (parsed with ``pykatib.spec.safe_yaml``). Field ownership is not tracked: a field dropped
  from a manager's configuration is left in place rather than removed, and there are no conflicts between
  managers (so ``--force-conflicts`` changes nothing).

Any other content type is a 415; a ``charset`` (or other) parameter is ignored.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from pykatib.server.kube.errors import KubeError, bad_request, unsupported_media_type
from pykatib.spec import safe_yaml

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# As many JSON patch operations as Kubernetes takes in one request.
MAX_JSON_PATCH_OPERATIONS = 10000


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case, without parameters ("; charset=utf-8")."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def apply_patch(obj: dict[str, Any], content_type: str, body: bytes, *, strategic_ok: bool) -> dict[str, Any]:
    """``obj`` patched by ``body`` (``obj`` itself is left as it was). ``strategic_ok``: whether the kind takes
    strategic merge patches (the core kinds do, custom resources do not). Raises KubeError: 400 for a body
    that does not parse, 415 for a content type the kind does not take, 422 for a JSON patch that fails."""
    kind = media_type(content_type)
    if kind == MERGE_PATCH:
        return _as_object(merge_patch(obj, _object_body(body, "merge patch")))
    if kind == JSON_PATCH:
        return _json_patch(obj, body)
    if kind == STRATEGIC_MERGE_PATCH:
        if not strategic_ok:
            raise KubeError(415, "UnsupportedMediaType", "strategic merge patch format is not supported")
        return _as_object(strategic_merge_patch(obj, _object_body(body, "strategic merge patch")))
    if kind == APPLY_PATCH:
        return _as_object(merge_patch(obj, _apply_body(body)))
    raise unsupported_media_type(content_type or "(none)")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch), without changing either."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A merge patch honouring the map directives of a strategic merge patch (see the module's docstring)."""
    if not isinstance(patch, dict):
        return _without_directives(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _without_directives({key: value for key, value in patch.items() if key != "$patch"})
    if directive is not None:
        raise bad_request(f"Unknown patch type: {directive}")
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [item for item in result[field] if item not in value]
        elif key.startswith("$"):
            continue  # $retainKeys is applied below; $setElementOrder only orders merged lists
        elif value is None:
            result.pop(key, None)
        else:
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        kept = {str(key) for key in retain}
        result = {key: value for key, value in result.items() if key in kept}
    return result


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_directives(item) for key, item in value.items() if not str(key).startswith("$")}
    if isinstance(value, list):
        return [
            _without_directives(item)
            for item in value
            if not (isinstance(item, dict) and item.get("$patch") == "delete")
        ]
    return copy.deepcopy(value)


def _json_body(body: bytes, what: str) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError as error:  # UnicodeDecodeError and json.JSONDecodeError included
        raise bad_request(f"error decoding {what}: {error}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _object_body(body: bytes, what: str) -> dict[str, Any]:
    patch = _json_body(body, what)
    if not isinstance(patch, dict):
        raise bad_request(f"invalid {what}: the patch must be a JSON object, not {_json_type(patch)}")
    return patch


def _apply_body(body: bytes) -> dict[str, Any]:
    try:
        configuration = safe_yaml.load(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise bad_request(f"error decoding YAML: {error}") from None
    except yaml.YAMLError as error:
        raise bad_request(f"error decoding YAML: {error}") from None
    if not isinstance(configuration, dict):
        raise bad_request(f"invalid apply patch: the configuration must be an object, not {_json_type(configuration)}")
    return configuration


def _json_patch(obj: dict[str, Any], body: bytes) -> dict[str, Any]:
    operations = _json_body(body, "JSON patch")
    if not isinstance(operations, list):
        raise bad_request(f"invalid JSON patch: the patch must be a list of operations, not {_json_type(operations)}")
    if len(operations) > MAX_JSON_PATCH_OPERATIONS:
        raise KubeError(
            413,
            "RequestEntityTooLarge",
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(operations)}",
        )
    result: Any = copy.deepcopy(obj)
    for index, operation in enumerate(operations):
        try:
            result = jsonpatch.JsonPatch([operation]).apply(result, in_place=True)
        except jsonpatch.InvalidJsonPatch as error:
            raise bad_request(f"invalid JSON patch: operation {index}: {error}") from None
        except jsonpatch.JsonPatchTestFailed:
            # Kubernetes' words for it (github.com/evanphx/json-patch).
            raise KubeError(422, "Invalid", f"testing value {operation.get('path')} failed: test failed") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as error:
            where = f"{operation.get('op')} {operation.get('path')}"
            raise KubeError(
                422, "Invalid", f"the JSON patch could not be applied: operation {index} ({where}): {error}"
            ) from None
    if not isinstance(result, dict):
        raise KubeError(422, "Invalid", f"the JSON patch made the object {_json_type(result)}, not an object")
    return result


def _as_object(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):  # a $patch: delete at the top
        raise bad_request("the patch deletes the whole object")
    return result


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
