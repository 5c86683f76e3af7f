"""Core kinds the server keeps whole in the store (``kube_objects``): ConfigMaps (a trial template may come
from one, as in Katib) and namespaces (each exists as soon as it is named; ``kubectl create namespace`` too)."""

from __future__ import annotations

import json
from typing import Any

from pykatib.server.kind import Kind, ListQuery, create_named, generate_prefix, generated_name, metadata_of
from pykatib.server.kube.errors import already_exists, bad_request, conflict, invalid, not_found
from pykatib.server.objects import resource_version, rfc3339, uid
from pykatib.spec.loader import ConfigMaps
from pykatib.spec.validation import name_problem, namespace_problem
from pykatib.store import KubeObjectExistsError, Store

DEFAULT_NAMESPACES = ("default",)


def stored_kind(store: Store, plural: str, kind: str, *, namespaced: bool) -> Kind:
    """A core kind kept whole in the store (kube_objects): ConfigMaps, namespaces."""

    def scope(namespace: str | None) -> str:
        return (namespace or "default") if namespaced else ""

    def served(record: Any) -> dict[str, Any]:
        body = json.loads(json.dumps(record.body))
        metadata = body.setdefault("metadata", {})
        metadata.update(
            name=record.name,
            uid=_uid(kind, record),
            resourceVersion=resource_version(record.updated_at),
            creationTimestamp=rfc3339(record.created_at),
        )
        if namespaced:
            metadata["namespace"] = record.namespace
        body.update(apiVersion="v1", kind=kind)
        if kind == "Namespace":
            body["status"] = {"phase": "Active"}
        return body

    def implicit_namespaces() -> list[dict[str, Any]]:
        stored = {r.name for r in store.list_objects("namespaces")}
        names = [*DEFAULT_NAMESPACES, *sorted({r.namespace for r in store.list_experiments()})]
        out, seen = [], set(stored)
        for name in names:
            if name not in seen:
                seen.add(name)
                out.append(_namespace(name))
        return out

    def list_(namespace: str | None, query: ListQuery) -> list[dict[str, Any]]:
        records = store.list_objects(plural, scope(namespace) if namespaced and namespace else None)
        objects = [served(r) for r in records]
        if kind == "Namespace":
            objects += implicit_namespaces()
        if query.name is not None:
            objects = [o for o in objects if o["metadata"]["name"] == query.name]
        return objects

    def get(namespace: str | None, name: str) -> dict[str, Any]:
        record = store.get_object(plural, scope(namespace), name)
        if record is not None:
            return served(record)
        if kind == "Namespace" and namespace_problem(name) is None:
            return _namespace(name)  # every namespace exists here: Katib's examples name their own
        raise not_found(plural, "", name)

    def create(namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        metadata = metadata_of(body)
        prefix = generate_prefix(metadata)
        name = generated_name(prefix) if prefix is not None else str(metadata.get("name") or "")
        if namespaced and metadata.get("namespace") not in (None, scope(namespace)):
            raise bad_request(
                f"the namespace of the provided object ({metadata.get('namespace')}) does not match the "
                f"namespace sent on the request ({scope(namespace)})"
            )
        problem = name_problem(name) if name else "Required value: name is required"
        if problem:
            raise invalid(kind, "", name, [("metadata.name", problem)])
        _check_body(kind, body)
        record = create_named(
            lambda n: store.create_object(plural, scope(namespace), n, _kept(_named(body, n))),
            name, prefix, KubeObjectExistsError, lambda n: already_exists(plural, "", n),
        )  # fmt: skip
        return served(record)

    def replace(namespace: str | None, name: str, body: dict[str, Any]) -> dict[str, Any]:
        record = store.get_object(plural, scope(namespace), name)
        if record is None:
            if kind == "Namespace":
                return create(namespace, {**body, "metadata": {**metadata_of(body), "name": name}})
            raise not_found(plural, "", name)
        sent_rv = metadata_of(body).get("resourceVersion")
        if sent_rv and str(sent_rv) != resource_version(record.updated_at):
            raise conflict(plural, "", name, "the object has been modified; please apply your changes to the "
                           "latest version and try again")  # fmt: skip
        _check_body(kind, body)
        store.replace_object(record.id, _kept({**body, "metadata": {**metadata_of(body),
                                                                          "name": name}}))  # fmt: skip
        updated = store.get_object(plural, scope(namespace), name)
        assert updated is not None
        return served(updated)

    def delete(namespace: str | None, name: str) -> dict[str, Any]:
        record = store.get_object(plural, scope(namespace), name)
        if record is None:
            raise not_found(plural, "", name)
        if kind == "Namespace" and store.list_experiments(name):
            raise conflict(plural, "", name, "it holds experiments: delete them first")
        body = served(record)
        store.delete_object(record.id)
        return body

    return Kind(listing=list_, get=get, create=create, replace=replace, delete=delete)


def stored_config_maps(store: Store) -> ConfigMaps:
    """The ConfigMaps applied to the server, as the loader reads a trial template from them."""
    return {(r.namespace, r.name): dict(r.body.get("data") or {}) for r in store.list_objects("configmaps")}


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "resourceVersion": "1"},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}  # fmt: skip


def _uid(kind: str, record: Any) -> str:
    return uid(kind, f"{record.namespace}/{record.name}", record.created_at)


def _named(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {**body, "metadata": {**metadata_of(body), "name": name}}


def _kept(body: dict[str, Any]) -> dict[str, Any]:
    """What is stored of a core object: all but the server's own metadata."""
    metadata = {k: v for k, v in metadata_of(body).items()
                if k not in ("uid", "resourceVersion", "creationTimestamp", "managedFields")}  # fmt: skip
    return {**{k: v for k, v in body.items() if k != "status"}, "metadata": metadata}


def _check_body(kind: str, body: dict[str, Any]) -> None:
    if kind == "ConfigMap":
        data = body.get("data")
        if data is not None and (not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values())):
            raise invalid(kind, "", str(metadata_of(body).get("name")),
                          [("data", "Invalid value: must be a map of strings")])  # fmt: skip
