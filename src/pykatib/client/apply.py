"""``pykatib apply -f FILE``: create or update each object of a YAML file on the server, as kubectl apply.

The whole file is read and checked first (its YAML, each document's kind, name and namespace), so a bad file
changes nothing and needs no server. Then ConfigMaps go first (an experiment's ``trialTemplate.configMap``
names them), experiments after: an object the server lacks is created (an experiment with the
``pykatib.kubeflow.org/source-dir`` annotation, so its relative paths resolve from here), an existing one
receives the document as a merge patch; the server allows only budget changes on an experiment.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import click

from pykatib.client.connection import (
    EXIT_OK,
    EXIT_USAGE,
    MERGE_PATCH,
    ClientError,
    Connection,
    KubeApiError,
    ServerOptions,
    find_server,
    guarded,
    start_local_server,
)
from pykatib.client.resources import (
    CONFIGMAPS,
    DEFAULT_NAMESPACE,
    EXPERIMENTS,
    EXPERIMENTS_V1ALPHA3,
    Resource,
    invalid_error,
)
from pykatib.server.kube.patch import merge_patch
from pykatib.server.names import SOURCE_DIR_ANNOTATION
from pykatib.spec.loader import SpecFileError, read_documents

# Set by the server: never part of what a file asks for (a file may be the output of `get -o yaml`).
SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds")  # fmt: skip
KINDS = {
    ("Experiment", EXPERIMENTS.api_version): EXPERIMENTS,
    ("Experiment", EXPERIMENTS_V1ALPHA3.api_version): EXPERIMENTS_V1ALPHA3,
    ("ConfigMap", CONFIGMAPS.api_version): CONFIGMAPS,
}


@dataclass
class Item:
    """One document to apply: its kind's resource, name, namespace and the body to send."""

    resource: Resource
    name: str
    namespace: str
    body: dict[str, Any]


def apply(options: ServerOptions, file: str, namespace: str | None = None) -> int:
    return guarded(lambda: _apply(options, file, namespace))


def _apply(options: ServerOptions, file: str, namespace: str | None) -> int:
    items = plan(file, namespace)
    connection = find_server(options)
    if connection is None:
        home = options.home_dir()
        connection = start_local_server(home)
        click.echo(
            f"no pykatib server was running: started one at {connection.url} (UI {connection.ui}); it keeps "
            f"running, its log is {home / 'server.log'}",
            err=True,
        )
    status = EXIT_OK
    with connection:
        for item in items:
            try:
                click.echo(f"{item.resource.qualified}/{item.name} {apply_one(connection, item)}")
            except KubeApiError as exc:  # this object only: the next ones are still applied, as kubectl does
                error = invalid_error(item.resource.kind, item.name, exc) if exc.code == 422 else exc
                click.echo(error.line(), err=True)
                status = max(status, error.exit_code)
    return status


def plan(file: str, namespace: str | None) -> list[Item]:
    """The file's objects in the order they are applied; a ClientError (exit 2) for any that cannot be."""
    try:
        documents, error = read_documents(file)
    except SpecFileError as exc:
        raise ClientError(str(exc), EXIT_USAGE) from exc
    if error is not None:
        raise ClientError(f"{file}: {error}", EXIT_USAGE)
    present = [(i, d) for i, d in enumerate(documents) if d is not None]
    if not present:
        raise ClientError(f"{file}: no objects passed to apply", EXIT_USAGE)
    items = []
    for index, document in present:
        where = f"{file} (document {index + 1})" if len(documents) > 1 else file
        items.append(_item(where, document, namespace))
    return sorted(items, key=lambda item: item.resource is not CONFIGMAPS)  # stable: ConfigMaps first


def _item(where: str, document: Any, namespace: str | None) -> Item:
    if not isinstance(document, dict):
        raise ClientError(f"{where}: expected an object (a YAML mapping), got {type(document).__name__}", EXIT_USAGE)
    kind, api_version = document.get("kind"), document.get("apiVersion")
    resource = KINDS.get((str(kind), str(api_version)))
    if resource is None:
        raise ClientError(
            f"{where}: {kind or 'no kind'} ({api_version or 'no apiVersion'}) cannot be applied: pykatib apply takes "
            "Experiment (kubeflow.org/v1beta1 or v1alpha3) and ConfigMap (v1) objects",
            EXIT_USAGE,
        )
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise ClientError(f"{where}: metadata.name is missing: every object needs a name", EXIT_USAGE)
    assert isinstance(metadata, dict)
    own = metadata.get("namespace")
    if own is not None and not isinstance(own, str):
        raise ClientError(f"{where}: metadata.namespace must be a string", EXIT_USAGE)
    if own and namespace and own != namespace:
        raise ClientError(
            f'{where}: the namespace from the provided object "{own}" does not match the namespace "{namespace}". '
            f"You must pass '--namespace={own}' to perform this operation.",
            EXIT_USAGE,
        )
    chosen = own or namespace or DEFAULT_NAMESPACE
    body = _without_nulls(copy.deepcopy(document))
    body.pop("status", None)
    body_meta = body.setdefault("metadata", {})
    for key in SERVER_FIELDS:
        body_meta.pop(key, None)
    body_meta["namespace"] = chosen
    return Item(resource, name, chosen, body)


def apply_one(connection: Connection, item: Item) -> str:
    """Create or update one object: ``created``, ``configured`` or ``unchanged``."""
    path = item.resource.path(item.namespace, item.name)
    try:
        current = connection.get(path)
    except KubeApiError as exc:
        if exc.code != 404 or exc.reason != "NotFound":
            raise
        current = None
    if current is None:
        body = copy.deepcopy(item.body)
        if item.resource.kind == "Experiment":
            annotations = body["metadata"].setdefault("annotations", {})
            annotations.setdefault(SOURCE_DIR_ANNOTATION, _current_dir())
        connection.request("POST", item.resource.path(item.namespace), body=body)
        return "created"
    if merge_patch(current, item.body) == current:
        return "unchanged"  # nothing to send
    # Lists are replaced whole by a merge patch, so the server defaults them again: what it kept decides.
    # (Not the resourceVersion: a running experiment's status changes it at any time.)
    updated = connection.request("PATCH", path, body=item.body, content_type=MERGE_PATCH)
    return "unchanged" if _owned(updated) == _owned(current) else "configured"


def _current_dir() -> str:
    try:
        return os.getcwd()
    except OSError as exc:  # removed under this process
        raise ClientError(f"the current directory cannot be read: {exc.strerror or exc}") from exc


def _without_nulls(value: Any) -> Any:
    """A key written without a value (``key:``) means "not set" in a file, not "remove" as in a merge patch."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _owned(obj: Any) -> Any:
    """What a file sets: spec (an experiment's), data (a ConfigMap's), labels and annotations."""
    if not isinstance(obj, dict):
        return obj
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    parts = [obj.get(k) for k in ("spec", "data", "binaryData")]
    return [*parts, metadata.get("labels") or {}, metadata.get("annotations") or {}]
