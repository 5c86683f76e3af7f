"""The kinds the server verbs name, their API paths, and the printing every verb shares.

The paths are Kubernetes' own (``/apis/kubeflow.org/v1beta1/namespaces/NS/experiments/NAME``,
``/api/v1/namespaces/NS/pods``), so a verb sends what kubectl would send.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import click
import yaml

from pykatib.client.connection import EXIT_USAGE, ClientError, KubeApiError
from pykatib.server.names import GROUP as KATIB_GROUP

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class Resource:
    """One kind of object: where it lives in the API and how kubectl names it in output."""

    plural: str
    singular: str
    kind: str
    group: str
    version: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``experiment.kubeflow.org`` (for ``experiment.kubeflow.org/NAME``), ``configmap``."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    @property
    def qualified_plural(self) -> str:
        """``experiments.kubeflow.org`` (for ``experiments.kubeflow.org "NAME" deleted``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """The collection (all namespaces when ``namespace`` is None) or one object."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"{base}/namespaces/{quote(namespace, safe='')}/{self.plural}" if namespace else f"{base}/{self.plural}"
        return f"{where}/{quote(name, safe='')}" if name else where


EXPERIMENTS = Resource("experiments", "experiment", "Experiment", KATIB_GROUP, "v1beta1")
EXPERIMENTS_V1ALPHA3 = Resource("experiments", "experiment", "Experiment", KATIB_GROUP, "v1alpha3")
TRIALS = Resource("trials", "trial", "Trial", KATIB_GROUP, "v1beta1")
SUGGESTIONS = Resource("suggestions", "suggestion", "Suggestion", KATIB_GROUP, "v1beta1")
CONFIGMAPS = Resource("configmaps", "configmap", "ConfigMap", "", "v1")
PODS = Resource("pods", "pod", "Pod", "", "v1")

# The names a verb accepts for each kind, as kubectl does (singular, plural, short, fully qualified).
KATIB_RESOURCES = {
    **dict.fromkeys(("experiments", "experiment", "exp", "experiments.kubeflow.org"), EXPERIMENTS),
    **dict.fromkeys(("trials", "trial", "trials.kubeflow.org"), TRIALS),
    **dict.fromkeys(("suggestions", "suggestion", "suggestions.kubeflow.org"), SUGGESTIONS),
}
EXPERIMENT_WORDS = frozenset(k for k, v in KATIB_RESOURCES.items() if v is EXPERIMENTS)


def resource_named(word: str, allowed: tuple[Resource, ...] = (EXPERIMENTS, TRIALS, SUGGESTIONS)) -> Resource:
    resource = KATIB_RESOURCES.get(word.lower())
    if resource is None or resource not in allowed:
        kinds = "|".join(sorted({r.plural for r in allowed}))
        raise ClientError(f'the server doesn\'t have a resource type "{word}" here: expected {kinds}', EXIT_USAGE)
    return resource


def invalid_error(kind: str, name: str, exc: KubeApiError) -> ClientError:
    """A 422 as kubectl prints it: ``The Experiment "x" is invalid:`` and one ``* field: message`` per cause."""
    if not exc.causes:
        return ClientError(f'The {kind} "{name}" is invalid: {exc.message}', EXIT_USAGE, prefix="")
    causes = "\n".join(f"* {c['field']}: {c['message']}" if c["field"] else f"* {c['message']}" for c in exc.causes)
    return ClientError(f'The {kind} "{name}" is invalid: \n{causes}', EXIT_USAGE, prefix="")


def echo_object(obj: Any, output: str) -> None:
    """``-o json`` (indented 4 as kubectl) or ``-o yaml``."""
    if output == "json":
        click.echo(json.dumps(obj, indent=4, ensure_ascii=False))
    else:
        click.echo(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, default_flow_style=False), nl=False)


def conditions_of(obj: Any) -> dict[str, dict[str, Any]]:
    """An object's ``status.conditions`` by type."""
    status = obj.get("status") if isinstance(obj, dict) else None
    raw = status.get("conditions") if isinstance(status, dict) else None
    return {str(c.get("type")): c for c in raw or [] if isinstance(c, dict)}


def is_true(condition: dict[str, Any] | None) -> bool:
    return condition is not None and str(condition.get("status")).lower() == "true"
