"""Discovery documents: ``/version``, ``/api``, ``/apis``, ``/apis/GROUP`` and each group version's resource list.

kubectl and the Kubernetes clients read these before anything else, to map a name the user typed (``exp``,
``experiments.kubeflow.org``, ``pod``) to a URL, and refuse a resource type they do not list. The shapes are
those of a real API server (``APIVersions``, ``APIGroupList``, ``APIGroup``, ``APIResourceList``); the version
is reported as Kubernetes 1.32, the version of the kubectl pykatib is tested with, so kubectl sees no skew.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata
from typing import Any

from pykatib.server.kube.kinds import (
    GROUP_VERSIONS,
    KATIB_GROUP,
    KATIB_PREFERRED_VERSION,
    KATIB_VERSIONS,
    SUBRESOURCE_VERBS,
    KindInfo,
    kinds_of,
)

KUBERNETES_MAJOR = "1"
KUBERNETES_MINOR = "32"

_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _pykatib_version() -> str:
    try:
        return metadata.version("pykatib")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _semver_identifiers(text: str) -> str:
    """``text`` as dot-separated semver pre-release identifiers, which Kubernetes' version parser accepts."""
    parts = [part for part in re.split(r"[^0-9A-Za-z-]+", text) if part]
    return ".".join((part.lstrip("0") or "0") if part.isdigit() else part for part in parts) or "0"


def _platform() -> str:
    machine = platform.machine().lower()
    return f"{sys.platform}/{_ARCHITECTURES.get(machine, machine or 'unknown')}"


_VERSION_INFO: dict[str, str] = {
    "major": KUBERNETES_MAJOR,
    "minor": KUBERNETES_MINOR,
    # A pre-release of 1.32.0 by semver, as managed clusters spell theirs (v1.32.0-eks-..., v1.32.0-gke...).
    "gitVersion": f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0-pykatib-{_semver_identifiers(_pykatib_version())}",
    "gitCommit": "",
    "gitTreeState": "",
    "buildDate": "",
    "goVersion": f"python{platform.python_version()}",
    "compiler": platform.python_implementation().lower(),
    "platform": _platform(),
}


def version_info() -> dict[str, Any]:
    """``GET /version``: every field of ``version.Info`` (the Python client requires each one)."""
    return dict(_VERSION_INFO)


def api_versions() -> dict[str, Any]:
    """``GET /api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }


def _group(name: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{name}/{version}", "version": version} for version in KATIB_VERSIONS]
    preferred = {"groupVersion": f"{name}/{KATIB_PREFERRED_VERSION}", "version": KATIB_PREFERRED_VERSION}
    return {"name": name, "versions": versions, "preferredVersion": preferred}


def api_group_list() -> dict[str, Any]:
    """``GET /apis``: the named groups (kubeflow.org only), each version preferred first."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(KATIB_GROUP)]}


def api_group(group: str) -> dict[str, Any] | None:
    """``GET /apis/GROUP``, or None for a group not served."""
    if group != KATIB_GROUP:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group)}


def _resource(kind: KindInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(kind.verbs),
    }
    # Empty lists are left out, as a real API server leaves them out.
    if kind.short_names:
        entry["shortNames"] = list(kind.short_names)
    if kind.categories:
        entry["categories"] = list(kind.categories)
    return entry


def _subresource(kind: KindInfo, name: str) -> dict[str, Any]:
    return {
        "name": f"{kind.plural}/{name}",
        "singularName": "",
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(SUBRESOURCE_VERBS.get(name, ("get",))),
    }


def api_resource_list(group_version: str) -> dict[str, Any] | None:
    """``GET /api/v1`` (``group_version`` "v1") or ``GET /apis/GROUP/VERSION`` ("kubeflow.org/v1beta1"):
    each resource, then each of its subresources as its own entry ("experiments/status", "pods/log");
    None for a group version not served."""
    if group_version not in GROUP_VERSIONS:
        return None
    resources: list[dict[str, Any]] = []
    for kind in kinds_of(group_version):
        resources.append(_resource(kind))
        resources.extend(_subresource(kind, name) for name in kind.subresources)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
