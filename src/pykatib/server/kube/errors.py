"""Errors as Kubernetes ``Status`` objects: kubectl and the Kubernetes clients print their message, reason
and (for an invalid object) each cause with its field path; any other body is shown as an InternalError."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class KubeError(Exception):
    """An API error: HTTP ``code``, Kubernetes ``reason`` (NotFound, AlreadyExists, Invalid, ...), message."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        name: str | None = None,
        group: str | None = None,
        kind: str | None = None,
        causes: Sequence[dict[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.name = name
        self.group = group
        self.kind = kind
        self.causes = list(causes)

    def status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return body


def _resource(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> KubeError:
    return KubeError(404, "NotFound", f'{_resource(plural, group)} "{name}" not found', name=name, group=group,
                     kind=plural)  # fmt: skip


def already_exists(plural: str, group: str, name: str) -> KubeError:
    message = f'{_resource(plural, group)} "{name}" already exists'
    return KubeError(409, "AlreadyExists", message, name=name, group=group, kind=plural)


def conflict(plural: str, group: str, name: str, why: str) -> KubeError:
    message = f'Operation cannot be fulfilled on {_resource(plural, group)} "{name}": {why}'
    return KubeError(409, "Conflict", message, name=name, group=group, kind=plural)


def invalid(kind: str, group: str, name: str, causes: Sequence[tuple[str, str]]) -> KubeError:
    """422 Invalid: ``causes`` are (field path, problem) pairs, printed by kubectl one per line."""
    listed = ", ".join(f"{field}: {problem}" if field else problem for field, problem in causes)
    message = f'{kind}.{group} "{name}" is invalid: {listed}' if group else f'{kind} "{name}" is invalid: {listed}'
    return KubeError(
        422, "Invalid", message, name=name, group=group, kind=kind,
        causes=[{"reason": "FieldValueInvalid", "message": problem, "field": field} for field, problem in causes],
    )  # fmt: skip


def bad_request(message: str) -> KubeError:
    return KubeError(400, "BadRequest", message)


def forbidden(message: str) -> KubeError:
    return KubeError(403, "Forbidden", message)


def unauthorized() -> KubeError:
    return KubeError(401, "Unauthorized", "Unauthorized")


def method_not_allowed(message: str) -> KubeError:
    return KubeError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> KubeError:
    return KubeError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}")


def too_large(limit: int) -> KubeError:
    return KubeError(413, "RequestEntityTooLarge", f"the request body is larger than the limit of {limit} bytes")
