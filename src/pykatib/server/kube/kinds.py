"""The kinds ``pykatib server`` serves, with what discovery, OpenAPI and tables say about each.

Katib's kinds (Experiment, Trial, Suggestion) take their names, categories, printer columns and subresources
from Katib's own CustomResourceDefinitions in ``crds/`` (read once, at import), so ``kubectl get`` prints
what it prints against Katib on a cluster. The core kinds are the few kubectl needs around them: namespaces
(``kubectl apply`` reads the namespace), configmaps, read-only pods (``kubectl logs``) and an always-empty
events list (``kubectl describe``).

A column's ``json_path`` is a CRD printer-column JSONPath, or, for the columns Kubernetes computes in Go
(a pod's Ready and Status, a configmap's Data), a name starting with ``@`` (``COMPUTED_PREFIX``) that
``table.py`` computes: ``@configmap.data`` (number of keys of ``data`` plus ``binaryData``), ``@pod.ready``
("ready/total" containers), ``@pod.status`` (the phase or the reason kubectl shows) and ``@pod.restarts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

COMPUTED_PREFIX = "@"

KATIB_GROUP = "kubeflow.org"
KATIB_PREFERRED_VERSION = "v1beta1"
KATIB_VERSIONS = ("v1beta1", "v1alpha3")  # preferred first, as discovery lists them

# Every group version served, core first; kubeflow.org's preferred version before its older one.
GROUP_VERSIONS: tuple[str, ...] = ("v1", *(f"{KATIB_GROUP}/{version}" for version in KATIB_VERSIONS))

# Verbs of a kind that can be written. deletecollection is not served.
WRITABLE_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
READ_ONLY_VERBS = ("get", "list", "watch")
LIST_ONLY_VERBS = ("list", "watch")

# The verbs of each subresource, as Kubernetes lists them.
SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {"status": ("get", "patch", "update"), "log": ("get",)}

_CRD_DIR = Path(__file__).parent / "crds"
_CRD_FILES = ("experiment.yaml", "trial.yaml", "suggestion.yaml")


@dataclass(frozen=True)
class Column:
    """A printer column: what ``kubectl get`` prints after NAME. ``json_path`` as described above."""

    name: str
    type: str
    json_path: str
    format: str = ""
    description: str = ""
    priority: int = 0

    @property
    def computed(self) -> bool:
        return self.json_path.startswith(COMPUTED_PREFIX)


@dataclass(frozen=True)
class KindInfo:
    """One served resource. ``subresources`` are bare names ("status", "log"); discovery lists them as
    "plural/name"."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    columns: tuple[Column, ...]
    subresources: tuple[str, ...]

    @property
    def group_version(self) -> str:
        """The group version: "v1" for the core group, else "group/version"."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of an object of this kind (the same as ``group_version``)."""
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def allows(self, verb: str) -> bool:
        return verb in self.verbs


def _crd_description(path: str) -> str:
    # What the API server says of a CRD column without a description of its own.
    return f"Custom resource definition column (in JSONPath format): {path}"


def _crd_kinds(document: dict[str, Any]) -> list[KindInfo]:
    spec = document["spec"]
    names = spec["names"]
    kinds = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        columns = tuple(
            Column(
                name=str(column["name"]),
                type=str(column["type"]),
                json_path=str(column["jsonPath"]),
                format=str(column.get("format", "")),
                description=str(column.get("description") or _crd_description(str(column["jsonPath"]))),
                priority=int(column.get("priority", 0)),
            )
            for column in version.get("additionalPrinterColumns", ())
        )
        kinds.append(
            KindInfo(
                group=str(spec["group"]),
                version=str(version["name"]),
                kind=str(names["kind"]),
                plural=str(names["plural"]),
                singular=str(names.get("singular") or str(names["kind"]).lower()),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                verbs=WRITABLE_VERBS,
                short_names=tuple(str(name) for name in names.get("shortNames", ())),
                categories=tuple(str(name) for name in names.get("categories", ())),
                columns=columns,
                subresources=tuple(sorted(version.get("subresources") or {})),
            )
        )
    return kinds


def _load_katib_kinds() -> list[KindInfo]:
    kinds: list[KindInfo] = []
    for name in _CRD_FILES:
        document = yaml.safe_load((_CRD_DIR / name).read_text(encoding="utf-8"))
        kinds.extend(_crd_kinds(document))
    # Katib's v1alpha3 Experiment: the same resource under the older version, for manifests that still name it.
    experiment = next(kind for kind in kinds if kind.kind == "Experiment" and kind.version == KATIB_PREFERRED_VERSION)
    kinds.append(
        KindInfo(
            group=experiment.group,
            version="v1alpha3",
            kind=experiment.kind,
            plural=experiment.plural,
            singular=experiment.singular,
            namespaced=experiment.namespaced,
            verbs=experiment.verbs,
            short_names=experiment.short_names,
            categories=experiment.categories,
            columns=experiment.columns,
            subresources=experiment.subresources,
        )
    )
    return kinds


_AGE = Column(
    "Age",
    "date",
    ".metadata.creationTimestamp",
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def _core_kinds() -> list[KindInfo]:
    """The core v1 kinds, with the short names and printer columns of a real API server."""
    return [
        KindInfo(
            group="",
            version="v1",
            kind="Namespace",
            plural="namespaces",
            singular="namespace",
            namespaced=False,
            verbs=WRITABLE_VERBS,
            short_names=("ns",),
            categories=(),
            columns=(
                Column("Status", "string", ".status.phase", description="The status of the namespace"),
                _AGE,
            ),
            subresources=(),
        ),
        KindInfo(
            group="",
            version="v1",
            kind="ConfigMap",
            plural="configmaps",
            singular="configmap",
            namespaced=True,
            verbs=WRITABLE_VERBS,
            short_names=("cm",),
            categories=(),
            columns=(
                Column(
                    "Data",
                    "string",
                    "@configmap.data",
                    description="Data contains the configuration data (the number of keys of data and binaryData).",
                ),
                _AGE,
            ),
            subresources=(),
        ),
        KindInfo(
            group="",
            version="v1",
            kind="Pod",
            plural="pods",
            singular="pod",
            namespaced=True,
            verbs=READ_ONLY_VERBS,
            short_names=("po",),
            categories=("all",),
            columns=(
                Column(
                    "Ready",
                    "string",
                    "@pod.ready",
                    description="The aggregate readiness state of this pod for accepting traffic.",
                ),
                Column(
                    "Status", "string", "@pod.status", description="The aggregate status of the containers in this pod."
                ),
                Column(
                    "Restarts",
                    "string",
                    "@pod.restarts",
                    description="The number of times the containers in this pod have been restarted.",
                ),
                _AGE,
                Column("IP", "string", ".status.podIP", description="IP address allocated to the pod.", priority=1),
                Column("Node", "string", ".spec.nodeName", description="The node the pod runs on.", priority=1),
            ),
            subresources=("log",),
        ),
        KindInfo(
            group="",
            version="v1",
            kind="Event",
            plural="events",
            singular="event",
            namespaced=True,
            verbs=LIST_ONLY_VERBS,
            short_names=("ev",),
            categories=(),
            columns=(
                Column("Last Seen", "date", ".lastTimestamp", description="The time of the last occurrence."),
                Column("Type", "string", ".type", description="Type of this event (Normal, Warning)."),
                Column("Reason", "string", ".reason", description="Why the event was emitted."),
                Column("Object", "string", ".involvedObject.name", description="The object the event is about."),
                Column("Message", "string", ".message", description="A human-readable description of the event."),
            ),
            subresources=(),
        ),
    ]


KINDS: tuple[KindInfo, ...] = (*_core_kinds(), *_load_katib_kinds())

_BY_RESOURCE: dict[tuple[str, str, str], KindInfo] = {(kind.group, kind.version, kind.plural): kind for kind in KINDS}
_BY_KIND: dict[tuple[str, str], KindInfo] = {(kind.api_version, kind.kind): kind for kind in KINDS}


def find_kind(group: str, version: str, plural: str) -> KindInfo | None:
    """The kind served at ``/apis/group/version/plural`` (``group`` "" for ``/api/v1``), or None."""
    return _BY_RESOURCE.get((group, version, plural))


def kind_for(api_version: str, kind: str) -> KindInfo | None:
    """The kind an object's ``apiVersion`` and ``kind`` name ("kubeflow.org/v1beta1", "Experiment"), or None."""
    return _BY_KIND.get((api_version, kind))


def kinds_of(group_version: str) -> list[KindInfo]:
    """The kinds of a group version ("v1", "kubeflow.org/v1beta1"), in a stable order; [] for an unknown one."""
    return [kind for kind in KINDS if kind.group_version == group_version]


def split_group_version(group_version: str) -> tuple[str, str]:
    """("group", "version") of "group/version"; ("", "v1") of "v1"."""
    group, _, version = group_version.rpartition("/")
    return group, version
