"""The read and delete verbs against a `pykatib server`: ``get``, ``describe``, ``logs``, ``delete experiment``
and ``kubeconfig``. Each returns its exit status and prints as kubectl does, so that scripts written for
Katib on Kubernetes read the same lines; errors are one line on stderr (see ``connection.ClientError``).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml

from pykatib.client.connection import (
    EXIT_OK,
    EXIT_USAGE,
    TABLE_ACCEPT,
    ClientError,
    Connection,
    KubeApiError,
    ServerOptions,
    connect,
    guarded,
)
from pykatib.client.render import describe_lines, kubeconfig, table_lines, trials_summary
from pykatib.client.resources import (
    DEFAULT_NAMESPACE,
    EXPERIMENTS,
    PODS,
    TRIALS,
    Resource,
    echo_object,
    resource_named,
)
from pykatib.server.home import write_atomically
from pykatib.server.names import EXPERIMENT_LABEL, PRIMARY_LABEL, TRIAL_LABEL

PAGE_SIZE = 500
JSON = "application/json"


def get(
    options: ServerOptions,
    kind: str,
    name: str | None = None,
    *,
    namespace: str | None = None,
    all_namespaces: bool = False,
    output: str | None = None,
    selector: str | None = None,
    experiment: str | None = None,
) -> int:
    return guarded(lambda: _get(options, kind, name, namespace, all_namespaces, output, selector, experiment))


def _get(options: ServerOptions, kind: str, name: str | None, namespace: str | None, all_namespaces: bool,
         output: str | None, selector: str | None, experiment: str | None) -> int:  # fmt: skip
    resource = resource_named(kind)
    if experiment is not None:
        if resource is not TRIALS:
            raise ClientError("--experiment selects trials only: pykatib get trials --experiment EXP", EXIT_USAGE)
        selector = ",".join(s for s in (selector, f"{EXPERIMENT_LABEL}={experiment}") if s)
    if name is not None and all_namespaces:
        raise ClientError("a resource cannot be retrieved by name across all namespaces", EXIT_USAGE)
    if name is not None and selector:
        raise ClientError("name cannot be provided when a selector is specified", EXIT_USAGE)
    ns = None if all_namespaces else namespace or DEFAULT_NAMESPACE
    params = {"labelSelector": selector} if selector else {}
    with connect(options) as connection:
        if output in ("json", "yaml", "name"):
            if name is not None:
                objects = [connection.get(resource.path(ns, name))]
            else:
                objects = [item for page in _pages(connection, resource.path(ns), params) for item in page["items"]]
            for obj in objects:
                if isinstance(obj, dict):
                    obj.setdefault("apiVersion", resource.api_version)
                    obj.setdefault("kind", resource.kind)
            if output == "name":
                for obj in objects:
                    click.echo(f"{resource.qualified}/{obj.get('metadata', {}).get('name', '')}")
            elif name is not None:
                echo_object(objects[0], output)
            else:
                echo_object({"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {"resourceVersion": ""}},
                            output)  # fmt: skip
            return EXIT_OK
        table = _table(connection, resource, ns, name, params)
    lines = table_lines(table, wide=output == "wide", all_namespaces=all_namespaces)
    if not lines:
        click.echo("No resources found" if ns is None else f"No resources found in {ns} namespace.", err=True)
    for line in lines:
        click.echo(line)
    return EXIT_OK


def _pages(connection: Connection, path: str, params: dict[str, str], accept: str = JSON) -> Iterator[Any]:
    """A list, page by page (``limit``/``continue``), each page checked to be a list."""
    token: str | None = None
    while True:
        query: dict[str, str | int] = {**params, "limit": PAGE_SIZE}
        if token:
            query["continue"] = token
        page = connection.get(path, params=query, accept=accept)
        if not isinstance(page, dict) or not (page.get("kind") == "Table" or "items" in page):
            raise ClientError(f"the server's answer to GET {path} is not a list")
        page["items" if "items" in page else "rows"] = page.get("items", page.get("rows")) or []  # null: none
        yield page
        following = (page.get("metadata") or {}).get("continue")
        if not following or following == token:
            return
        token = following


def _table(connection: Connection, resource: Resource, ns: str | None, name: str | None,
           params: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """The server's Table for a list or one object. A server that answers with plain objects gets a Table
    of NAME and AGE built here."""
    if name is not None:
        answer = connection.get(resource.path(ns, name), accept=TABLE_ACCEPT)  # 404 for no such object
        if isinstance(answer, dict) and answer.get("kind") == "Table":
            return answer
        # A server that gives Tables for lists only: the list of this one name.
        query = {**params, "fieldSelector": f"metadata.name={name}"}
        listed = connection.get(resource.path(ns), params=query, accept=TABLE_ACCEPT)
        if isinstance(listed, dict) and listed.get("kind") == "Table" and listed.get("rows"):
            return listed
        pages = [{"items": [answer]}]
    else:
        pages = list(_pages(connection, resource.path(ns), params, accept=TABLE_ACCEPT))
    if all(page.get("kind") == "Table" for page in pages):
        rows = [row for page in pages for row in page.get("rows") or []]
        return {**pages[0], "rows": rows}
    objects = [item for page in pages for item in page.get("items") or [] if isinstance(item, dict)]
    return {
        "columnDefinitions": [{"name": "Name", "type": "string", "format": "name"}, {"name": "Age", "type": "date"}],
        "rows": [
            {"cells": [o.get("metadata", {}).get("name"), o.get("metadata", {}).get("creationTimestamp")], "object": o}
            for o in objects
        ],
    }


def describe(options: ServerOptions, kind: str, name: str, namespace: str | None = None) -> int:
    def run() -> int:
        resource = resource_named(kind)
        with connect(options) as connection:
            obj = connection.get(resource.path(namespace or DEFAULT_NAMESPACE, name))
        if not isinstance(obj, dict):
            raise ClientError(f"the server's answer for {resource.plural}/{name} is not an object")
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
        lines = describe_lines(obj)
        if resource is EXPERIMENTS:
            lines.extend(trials_summary(obj))
        click.echo("\n".join(lines))
        return EXIT_OK

    return guarded(run)


def logs(options: ServerOptions, trial: str, *, namespace: str | None = None, follow: bool = False,
         container: str | None = None, tail: int | None = None) -> int:  # fmt: skip
    """The primary pod's log of a trial, written as it arrives (and, with ``follow``, until the trial ends)."""

    def run() -> int:
        ns = namespace or DEFAULT_NAMESPACE
        with connect(options) as connection:
            pod = _trial_pod(connection, ns, trial)
            pod_name = str(pod.get("metadata", {}).get("name"))
            params: dict[str, str | int] = {}
            chosen = container or _default_container(pod)
            if chosen:
                params["container"] = chosen
            if follow:
                params["follow"] = "true"
            if tail is not None and tail >= 0:
                params["tailLines"] = tail
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            with connection.stream(PODS.path(ns, pod_name) + "/log", params, follow=follow) as chunks:
                for chunk in chunks:
                    if text := decoder.decode(chunk):
                        click.echo(text, nl=False)
            if text := decoder.decode(b"", final=True):
                click.echo(text, nl=False)
        return EXIT_OK

    return guarded(run)


def _trial_pod(connection: Connection, namespace: str, trial: str) -> dict[str, Any]:
    pods = [
        pod
        for page in _pages(connection, PODS.path(namespace), {"labelSelector": f"{TRIAL_LABEL}={trial}"})
        for pod in page["items"]
        if isinstance(pod, dict)
    ]
    if not pods:
        connection.get(TRIALS.path(namespace, trial))  # NotFound for a trial that does not exist
        raise ClientError(f"trial {trial} has no pod yet: its process has not started")
    primary = [p for p in pods if (p.get("metadata", {}).get("labels") or {}).get(PRIMARY_LABEL) == "true"]
    return (primary or sorted(pods, key=lambda p: str(p.get("metadata", {}).get("name"))))[0]


def _default_container(pod: dict[str, Any]) -> str | None:
    """The only container, or the one named by kubectl's ``kubectl.kubernetes.io/default-container``."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    if isinstance(annotations.get("kubectl.kubernetes.io/default-container"), str):
        return str(annotations["kubectl.kubernetes.io/default-container"])
    containers = (pod.get("spec") or {}).get("containers") or []
    return str(containers[0].get("name")) if len(containers) == 1 and isinstance(containers[0], dict) else None


def delete(options: ServerOptions, kind: str, names: list[str], namespace: str | None = None) -> int:
    """``delete experiment NAME...``: each one in turn; exit 1 when any was not found."""

    def run() -> int:
        resource = resource_named(kind, (EXPERIMENTS,))
        status = EXIT_OK
        with connect(options) as connection:
            for name in names:
                try:
                    connection.request("DELETE", resource.path(namespace or DEFAULT_NAMESPACE, name))
                except KubeApiError as exc:
                    click.echo(exc.line(), err=True)
                    status = max(status, exc.exit_code)
                    continue
                click.echo(f'{resource.qualified} "{name}" deleted')
        return status

    return guarded(run)


def write_kubeconfig(options: ServerOptions, output: str | None = None, namespace: str = DEFAULT_NAMESPACE) -> int:
    """The kubeconfig of the server on stdout, or in ``output`` (mode 0600: it holds the token)."""

    def run() -> int:
        with connect(options) as connection:
            ca_pem = _read_ca(connection.ca)
            text = yaml.safe_dump(kubeconfig(connection.url, connection.token, namespace, ca_pem), sort_keys=False)
        if output is None:
            click.echo(text, nl=False)
            return EXIT_OK
        target = Path(output).expanduser()
        try:
            write_atomically(target, text.encode())  # mode 0600: it holds the token
        except OSError as exc:
            raise ClientError(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE) from exc
        click.echo(f"wrote {target}: KUBECONFIG={target} kubectl get experiments")
        return EXIT_OK

    return guarded(run)


def _read_ca(ca: str | None) -> bytes | None:
    if ca is None:
        return None
    try:
        return Path(ca).read_bytes()
    except OSError as exc:
        raise ClientError(f"cannot read the server's certificate {ca}: {exc.strerror or exc}") from exc
