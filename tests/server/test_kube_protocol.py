"""The Kubernetes API's protocol pieces of ``pykatib server``: discovery, OpenAPI, tables, selectors, patches,
checked against what kubectl and the Kubernetes clients rely on."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pykatib.server.kube import discovery, kinds, openapi, patch, selectors, table
from pykatib.server.kube.errors import KubeError
from pykatib.server.kube.kinds import find_kind, kind_for, kinds_of

CRDS = Path(kinds.__file__).parent / "crds"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _kind(group: str, version: str, plural: str) -> kinds.KindInfo:
    found = find_kind(group, version, plural)
    assert found is not None, (group, version, plural)
    return found


def _ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raises(code: int, call: Any, *args: Any, **kwargs: Any) -> KubeError:
    with pytest.raises(KubeError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    assert caught.value.status()["code"] == code
    return caught.value


# Kinds -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["experiment", "trial", "suggestion"])
def test_katib_kinds_come_from_their_crds(name: str) -> None:
    crd = yaml.safe_load((CRDS / f"{name}.yaml").read_text())
    version = crd["spec"]["versions"][0]
    kind = _kind("kubeflow.org", version["name"], crd["spec"]["names"]["plural"])
    assert kind.kind == crd["spec"]["names"]["kind"]
    assert kind.singular == name
    assert kind.namespaced
    assert kind.categories == ("all", "kubeflow", "katib")
    assert kind.short_names == ()
    assert kind.subresources == ("status",)
    assert [(c.name, c.type, c.json_path) for c in kind.columns] == [
        (c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]
    ]
    assert set(kind.verbs) == {"create", "delete", "get", "list", "patch", "update", "watch"}
    assert kind.group_version == kind.api_version == "kubeflow.org/v1beta1"
    assert kind_for("kubeflow.org/v1beta1", kind.kind) is kind


def test_v1alpha3_experiments_print_like_v1beta1() -> None:
    old = _kind("kubeflow.org", "v1alpha3", "experiments")
    new = _kind("kubeflow.org", "v1beta1", "experiments")
    assert old.columns == new.columns
    assert old.api_version == "kubeflow.org/v1alpha3"
    assert [kind.plural for kind in kinds_of("kubeflow.org/v1alpha3")] == ["experiments"]
    assert find_kind("kubeflow.org", "v1alpha3", "trials") is None


def test_core_kinds() -> None:
    namespaces = _kind("", "v1", "namespaces")
    assert not namespaces.namespaced
    assert namespaces.group_version == namespaces.api_version == "v1"
    pods = _kind("", "v1", "pods")
    assert pods.verbs == ("get", "list", "watch")
    assert pods.subresources == ("log",)
    assert _kind("", "v1", "events").verbs == ("list", "watch")
    assert [column.name for column in _kind("", "v1", "configmaps").columns] == ["Data", "Age"]
    assert {kind.plural for kind in kinds_of("v1")} == {"namespaces", "configmaps", "pods", "events"}
    assert find_kind("", "v1", "secrets") is None
    assert kinds_of("apps/v1") == []
    assert kinds.GROUP_VERSIONS == ("v1", "kubeflow.org/v1beta1", "kubeflow.org/v1alpha3")


# Discovery ---------------------------------------------------------------------------------------------------


def test_version_keeps_kubectl_from_warning_about_skew() -> None:
    info = discovery.version_info()
    assert info["major"] == "1"
    assert info["minor"] == "32"
    # Kubernetes' semantic version parser (k8s.io/apimachinery/pkg/util/version) must accept it.
    assert re.fullmatch(r"v1\.32\.0-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*", info["gitVersion"]), info["gitVersion"]
    assert info["gitVersion"].startswith("v1.32.0-pykatib-")
    fields = {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler"}
    assert fields | {"platform"} == set(info)
    assert all(isinstance(value, str) for value in info.values())  # the Python client rejects a missing one


def test_api_versions_and_groups() -> None:
    assert discovery.api_versions() == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }
    group = {
        "name": "kubeflow.org",
        "versions": [
            {"groupVersion": "kubeflow.org/v1beta1", "version": "v1beta1"},
            {"groupVersion": "kubeflow.org/v1alpha3", "version": "v1alpha3"},
        ],
        "preferredVersion": {"groupVersion": "kubeflow.org/v1beta1", "version": "v1beta1"},
    }
    assert discovery.api_group_list() == {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}
    assert discovery.api_group("kubeflow.org") == {"kind": "APIGroup", "apiVersion": "v1", **group}
    assert discovery.api_group("apps") is None


def _resources(group_version: str) -> dict[str, dict[str, Any]]:
    listing = discovery.api_resource_list(group_version)
    assert listing is not None
    assert listing["kind"] == "APIResourceList"
    assert listing["apiVersion"] == "v1"
    assert listing["groupVersion"] == group_version
    return {entry["name"]: entry for entry in listing["resources"]}


def test_core_resource_list_has_what_kubectl_asks_for() -> None:
    resources = _resources("v1")
    assert set(resources) == {"namespaces", "configmaps", "pods", "pods/log", "events"}
    assert resources["pods"] == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["po"],
        "categories": ["all"],
    }
    assert resources["pods/log"] == {
        "name": "pods/log",
        "singularName": "",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get"],
    }
    assert resources["namespaces"]["namespaced"] is False
    assert resources["namespaces"]["shortNames"] == ["ns"]
    assert resources["configmaps"]["shortNames"] == ["cm"]
    assert resources["events"]["verbs"] == ["list", "watch"]


def test_katib_resource_list() -> None:
    resources = _resources("kubeflow.org/v1beta1")
    assert set(resources) == {
        "experiments",
        "experiments/status",
        "trials",
        "trials/status",
        "suggestions",
        "suggestions/status",
    }
    experiments = resources["experiments"]
    assert experiments["singularName"] == "experiment"
    assert experiments["kind"] == "Experiment"
    assert experiments["namespaced"] is True
    assert experiments["categories"] == ["all", "kubeflow", "katib"]
    assert "shortNames" not in experiments  # none in Katib's CRDs; empty lists are left out
    assert set(experiments["verbs"]) == {"create", "delete", "get", "list", "patch", "update", "watch"}
    assert resources["experiments/status"]["verbs"] == ["get", "patch", "update"]
    assert resources["experiments/status"]["kind"] == "Experiment"
    assert set(_resources("kubeflow.org/v1alpha3")) == {"experiments", "experiments/status"}
    assert discovery.api_resource_list("apps/v1") is None
    assert discovery.api_resource_list("kubeflow.org/v1") is None


# OpenAPI -----------------------------------------------------------------------------------------------------


def _supports_query_param(document: dict[str, Any], gvk: dict[str, str], param: str) -> bool:
    """``supportsQueryParamV3`` of k8s.io/cli-runtime: the first PATCH operation of the kind decides."""
    for item in document["paths"].values():
        operation = item.get("patch")
        if operation is None or operation.get("x-kubernetes-group-version-kind") != gvk:
            continue
        return any(p["name"] == param and p["in"] == "query" for p in operation["parameters"])
    raise AssertionError(f"no PATCH operation for {gvk}")


def test_openapi_index_points_at_each_group_version() -> None:
    index = openapi.openapi_v3_index()
    assert set(index["paths"]) == {"api/v1", "apis/kubeflow.org/v1beta1", "apis/kubeflow.org/v1alpha3"}
    for key, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        path, _, query = url.partition("?hash=")
        assert path == f"/openapi/v3/{key}"
        document = openapi.openapi_v3_document(key)
        assert document is not None
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        assert query == hashlib.sha512(text.encode()).hexdigest().upper() == openapi.openapi_v3_hash(key)
    assert openapi.openapi_v3_index() == index  # stable


@pytest.mark.parametrize(
    ("key", "kind", "path"),
    [
        ("apis/kubeflow.org/v1beta1", "Experiment", "namespaces/{namespace}/experiments/{name}"),
        ("apis/kubeflow.org/v1beta1", "Trial", "namespaces/{namespace}/trials/{name}"),
        ("apis/kubeflow.org/v1beta1", "Suggestion", "namespaces/{namespace}/suggestions/{name}"),
        ("apis/kubeflow.org/v1alpha3", "Experiment", "namespaces/{namespace}/experiments/{name}"),
        ("api/v1", "ConfigMap", "namespaces/{namespace}/configmaps/{name}"),
        ("api/v1", "Namespace", "namespaces/{name}"),
    ],
)
def test_openapi_document_lets_kubectl_apply_validate_on_the_server(key: str, kind: str, path: str) -> None:
    path = f"/{key}/{path}"
    document = openapi.openapi_v3_document(key)
    assert document is not None
    assert document["openapi"].startswith("3.")
    group, _, version = key.removeprefix("apis/").removeprefix("api/").rpartition("/")
    gvk = {"group": group, "version": version, "kind": kind}
    operation = document["paths"][path]["patch"]
    assert operation["x-kubernetes-group-version-kind"] == gvk
    query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"fieldValidation", "fieldManager", "dryRun"} <= query
    assert {"application/merge-patch+json", "application/json-patch+json"} <= set(operation["requestBody"]["content"])
    for param in ("fieldValidation", "fieldManager", "dryRun"):
        assert _supports_query_param(document, gvk, param)
    assert {"get", "put", "delete"} <= set(document["paths"][path])
    collection = path.rsplit("/", 1)[0]
    assert {"get", "post"} <= set(document["paths"][collection])
    assert document["paths"][collection]["post"]["x-kubernetes-group-version-kind"] == gvk
    # The kind's schema: permissive, its GVK a list.
    schemas = [
        schema
        for schema in document["components"]["schemas"].values()
        if gvk in schema.get("x-kubernetes-group-version-kind", [])
    ]
    assert len(schemas) == 1
    assert schemas[0]["type"] == "object"
    assert schemas[0]["x-kubernetes-preserve-unknown-fields"] is True
    # Every $ref resolves.
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)):
        assert ref in document["components"]["schemas"]


def test_openapi_core_document() -> None:
    document = openapi.openapi_v3_document("api/v1")
    assert document is not None
    paths = document["paths"]
    # Pods are read-only: no PATCH, so kubectl apply refuses them; their log is a GET.
    assert set(paths["/api/v1/namespaces/{namespace}/pods/{name}"]) == {"parameters", "get"}
    log = paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]
    assert {p["name"] for p in log["parameters"]} >= {"container", "follow", "tailLines"}
    assert "/api/v1/namespaces/{namespace}/events" in paths
    # kubectl builds its strategic patches of core kinds from its own types when the document does not offer
    # strategic merge patch (the schemas here name no fields).
    for item in paths.values():
        if "patch" in item:
            assert "application/strategic-merge-patch+json" not in item["patch"]["requestBody"]["content"]


def test_openapi_document_spellings_and_copies() -> None:
    document = openapi.openapi_v3_document("apis/kubeflow.org/v1beta1")
    assert document is not None
    assert openapi.openapi_v3_document("kubeflow.org/v1beta1") == document
    assert openapi.openapi_v3_document("/apis/kubeflow.org/v1beta1") == document
    assert openapi.openapi_v3_document("v1") == openapi.openapi_v3_document("api/v1")
    document["paths"].clear()
    assert openapi.openapi_v3_document("apis/kubeflow.org/v1beta1") != document
    assert openapi.openapi_v3_document("apis/apps/v1") is None
    assert openapi.openapi_v3_hash("apis/apps/v1") is None
    error = openapi.openapi_v2_unavailable()
    assert error.code == 404
    assert error.status()["reason"] == "NotFound"


# Tables ------------------------------------------------------------------------------------------------------


def _experiment(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "random", "namespace": "default", "creationTimestamp": _ago(minutes=5, seconds=3)},
        "spec": {"maxTrialCount": 3},
        "status": status,
    }


def test_experiment_table_shows_the_last_condition() -> None:
    experiment = _experiment(
        conditions=[
            {"type": "Created", "status": "True", "reason": "ExperimentCreated"},
            {"type": "Running", "status": "False"},
            {"type": "Succeeded", "status": "True", "reason": "ExperimentMaxTrialsReached"},
        ]
    )
    result = table.table(_kind("kubeflow.org", "v1beta1", "experiments"), [experiment], now=NOW)
    assert result["kind"] == "Table"
    assert result["apiVersion"] == "meta.k8s.io/v1"
    assert [(c["name"], c["type"], c["format"]) for c in result["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Type", "string", ""),
        ("Status", "string", ""),
        ("Age", "date", ""),
    ]
    assert all(c["description"] and c["priority"] == 0 for c in result["columnDefinitions"])
    assert result["rows"] == [
        {
            "cells": ["random", "Succeeded", "True", "5m3s"],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": experiment["metadata"],
            },
        }
    ]


@pytest.mark.parametrize("status", [{}, {"conditions": []}, {"conditions": None}, {"conditions": "odd"}])
def test_missing_values_are_null_cells(status: dict[str, Any]) -> None:
    experiment = _experiment(**status)
    del experiment["metadata"]["creationTimestamp"]
    row = table.table_row(_kind("kubeflow.org", "v1beta1", "experiments"), experiment, now=NOW)
    assert row["cells"] == ["random", None, None, None]


def test_suggestion_numbers_print_as_text() -> None:
    suggestion = {
        "metadata": {"name": "s", "creationTimestamp": _ago(hours=50)},
        "spec": {"requests": 3},
        "status": {"suggestionCount": 2, "conditions": [{"type": "Running", "status": "True"}]},
    }
    row = table.table_row(_kind("kubeflow.org", "v1beta1", "suggestions"), suggestion, "None", now=NOW)
    assert row == {"cells": ["s", "Running", "True", "3", "2", "2d2h"]}


def test_include_object_modes_and_list_metadata() -> None:
    kind = _kind("kubeflow.org", "v1beta1", "trials")
    trial = {"metadata": {"name": "t", "labels": {"a": "b"}}, "spec": {}, "status": {}}
    whole = table.table(kind, [trial], include_object="Object", resource_version="42", continue_token="c",
                        remaining=7, now=NOW)  # fmt: skip
    assert whole["rows"][0]["object"] == trial
    assert whole["metadata"] == {"resourceVersion": "42", "continue": "c", "remainingItemCount": 7}
    assert "object" not in table.table(kind, [trial], include_object="None", now=NOW)["rows"][0]
    assert table.table(kind, [trial])["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table.table(kind, [], now=NOW)["rows"] == []
    assert table.table(kind, [trial], no_headers=True, now=NOW)["columnDefinitions"] == []
    assert table.parse_include_object(None) == "Metadata"
    assert table.parse_include_object("") == "Metadata"
    assert table.parse_include_object("Object") == "Object"
    assert table.parse_include_object("None") == "None"
    _raises(400, table.parse_include_object, "everything")


def test_accept_header_asking_for_a_table() -> None:
    kubectl = (
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
        "application/json"
    )
    assert table.wants_table(kubectl)
    assert table.wants_table("application/json; as=Table; g=meta.k8s.io; v=v1")
    assert not table.wants_table("application/json")
    assert not table.wants_table(None)
    assert not table.wants_table("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")


def test_core_tables() -> None:
    configmap = {"metadata": {"name": "cm", "creationTimestamp": _ago(seconds=30)}, "data": {"a": "1", "b": "2"},
                 "binaryData": {"c": "AA=="}}  # fmt: skip
    assert table.table_row(_kind("", "v1", "configmaps"), configmap, now=NOW)["cells"] == ["cm", 3, "30s"]
    assert table.table_row(_kind("", "v1", "configmaps"), {"metadata": {"name": "e"}}, now=NOW)["cells"] == [
        "e",
        0,
        None,
    ]
    namespace = {"metadata": {"name": "default", "creationTimestamp": _ago(days=3)}, "status": {"phase": "Active"}}
    assert table.table_row(_kind("", "v1", "namespaces"), namespace, now=NOW)["cells"] == ["default", "Active", "3d"]
    definitions = table.column_definitions(_kind("", "v1", "pods"))
    assert [c["name"] for c in definitions] == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"]
    assert [c["priority"] for c in definitions[-2:]] == [1, 1]


def _pod(phase: str, *statuses: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": _ago(hours=1, minutes=1), **metadata},
        "spec": {"containers": [{"name": f"c{i}"} for i in range(len(statuses) or 1)]},
        "status": {"phase": phase, "containerStatuses": list(statuses)},
    }


@pytest.mark.parametrize(
    ("pod", "cells"),
    [
        (_pod("Pending"), ["0/1", "Pending", "0"]),
        (_pod("Running", {"ready": True, "restartCount": 2, "state": {"running": {}}}), ["1/1", "Running", "2"]),
        (_pod("Running", {"ready": False, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}),
         ["0/1", "CrashLoopBackOff", "4"]),
        (_pod("Succeeded", {"ready": False, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}),
         ["0/1", "Completed", "0"]),
        (_pod("Failed", {"ready": False, "state": {"terminated": {"exitCode": 3}}}), ["0/1", "ExitCode:3", "0"]),
        (_pod("Failed", {"ready": False, "state": {"terminated": {"signal": 9, "exitCode": 137}}}),
         ["0/1", "Signal:9", "0"]),
        (_pod("Running", {"ready": True, "state": {"running": {}}}, deletionTimestamp=_ago(seconds=1)),
         ["1/1", "Terminating", "0"]),
    ],
)  # fmt: skip
def test_pod_cells(pod: dict[str, Any], cells: list[Any]) -> None:
    row = table.table_row(_kind("", "v1", "pods"), pod, now=NOW)
    assert row["cells"] == ["p", *cells, "61m", None, None]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (-1, "0s"), (0, "0s"), (119, "119s"), (120, "2m"), (303, "5m3s"), (600, "10m"),
     (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 120, "3h2m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
     (48 * 3600, "2d"), (50 * 3600, "2d2h"), (8 * 86400, "8d"), (729 * 86400, "729d"), (730 * 86400, "2y"),
     (760 * 86400, "2y30d"), (9 * 365 * 86400, "9y")],
)  # fmt: skip
def test_human_duration_matches_kubernetes(seconds: int, text: str) -> None:
    assert table.human_duration(seconds) == text


def test_date_cells() -> None:
    assert table.human_age("", NOW) == "<unknown>"
    assert table.human_age("yesterday", NOW) == "<invalid>"
    assert table.human_age("2025-01-02T03:04:00.5+00:00", NOW) == "4s"
    assert table.human_age(_ago(seconds=10), NOW.replace(tzinfo=None)) == "10s"


def test_jsonpath() -> None:
    data = {
        "status": {"conditions": [{"type": "A"}, {"type": "B"}, {"type": "C"}]},
        "metadata": {"labels": {"app.kubernetes.io/name": "x"}},
        "spec": {"null": None},
    }
    assert table.evaluate(".status.conditions[-1:].type", data) == ["C"]
    assert table.evaluate(".status.conditions[0].type", data) == ["A"]
    assert table.evaluate(".status.conditions[-1].type", data) == ["C"]
    assert table.evaluate(".status.conditions[1:].type", data) == ["B", "C"]
    assert table.evaluate(".status.conditions[0:3:2].type", data) == ["A", "C"]
    assert table.evaluate(".status.conditions[*].type", data) == ["A", "B", "C"]
    assert table.evaluate("{.status.conditions[0]['type']}", data) == ["A"]
    assert table.evaluate(".metadata.labels.app\\.kubernetes\\.io/name", data) == ["x"]
    assert table.evaluate(".metadata.labels['app.kubernetes.io/name']", data) == ["x"]
    assert table.evaluate(".status.missing.deeper", data) == []
    assert table.evaluate(".spec.null", data) == []
    assert table.evaluate(".status.conditions.type", data) == []  # a field of a list: nothing, as in client-go
    assert table.evaluate(".status.conditions[3:3]", data) == []
    for path in (".status.conditions[5]", ".status.conditions[-4:]", ".status[0]", ".status..type", ".a[x]", "a.b"):
        with pytest.raises(table.JsonPathError):
            table.evaluate(path, data)


def test_values_print_as_go_prints_them() -> None:
    assert table.go_text("x") == "x"
    assert table.go_text(True) == "true"
    assert table.go_text(7) == "7"
    assert table.go_text({"b": [1, 2], "a": "x"}) == '{"a":"x","b":[1,2]}'
    assert [table.go_float(x) for x in (0.5, 3.0, 123456.0, 1e6, 1e-5, 0.0001, -2.25, 1234567.0)] == [
        "0.5",
        "3",
        "123456",
        "1e+06",
        "1e-05",
        "0.0001",
        "-2.25",
        "1.234567e+06",
    ]


# Selectors ---------------------------------------------------------------------------------------------------


LABELS = {"app": "katib", "tier": "web", "replicas": "3"}


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("", True),
        ("app=katib", True),
        ("app==katib", True),
        ("app=other", False),
        ("app!=other", True),
        ("app!=katib", False),
        ("missing!=x", True),
        ("tier in (web, db)", True),
        ("tier in (db)", False),
        ("missing in (x)", False),
        ("tier notin (db)", True),
        ("tier notin (web,db)", False),
        ("missing notin (x)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("replicas>2", True),
        ("replicas<2", False),
        ("app>2", False),
        ("  app = katib ,  tier  in(web) , !missing ", True),
        ("app=katib,tier=db", False),
        ("example.com/part=", False),
    ],
)
def test_label_selector(text: str, selected: bool) -> None:
    selector = selectors.LabelSelector.parse(text)
    assert selector.matches(LABELS) is selected
    assert selector.matches_object({"metadata": {"labels": LABELS}}) is selected


def test_label_selector_parse_result() -> None:
    selector = selectors.LabelSelector.parse("a==b,c notin (x,y),!d")
    assert selector.requirements == (
        selectors.LabelRequirement("a", "=", ("b",)),
        selectors.LabelRequirement("c", "notin", ("x", "y")),
        selectors.LabelRequirement("d", "!"),
    )
    assert selectors.LabelSelector.parse(None).empty()
    assert selectors.LabelSelector.parse("example.com/x=").matches({"example.com/x": ""})
    assert selectors.LabelSelector.parse("a").matches(None) is False


@pytest.mark.parametrize(
    "text",
    ["a in ()", "a in (x", "a in x", "a b", "a,", ",a", "a=b=c", "=b", "!", "!a=b", "a>x", "-a=b", "a=-b", "a=b c",
     "Example.com/x=y", "/x=y", "a" * 64, "(a)"],
)  # fmt: skip
def test_label_selector_syntax_errors_are_400(text: str) -> None:
    error = _raises(400, selectors.LabelSelector.parse, text)
    assert error.reason == "BadRequest"
    assert text in error.message


POD = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Running"}, "spec": {"ready": True}}


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("", True),
        ("metadata.name=p", True),
        ("metadata.name==p", True),
        ("metadata.name=q", False),
        ("metadata.name!=q", True),
        ("metadata.name=p,metadata.namespace=ns", True),
        ("metadata.name=p,metadata.namespace!=ns", False),
        ("status.phase!=Running", False),
        ("spec.nodeName=", True),
        ("spec.nodeName!=", False),
        ("spec.ready=true", True),
        ("metadata=x", False),
    ],
)
def test_field_selector(text: str, selected: bool) -> None:
    assert selectors.FieldSelector.parse(text).matches(POD) is selected


def test_field_selector_pins_a_name() -> None:
    selector = selectors.FieldSelector.parse("metadata.name=exp-1,metadata.namespace!=x")
    assert selector.equals("metadata.name") == "exp-1"
    assert selector.equals("metadata.namespace") is None
    assert selector.fields() == {"metadata.name", "metadata.namespace"}
    assert selectors.FieldSelector.parse("metadata.name==a\\,b\\=c").equals("metadata.name") == "a,b=c"
    assert selectors.FieldSelector.parse("").equals("metadata.name") is None
    # kubectl describe's query for events.
    events = "involvedObject.name=exp,involvedObject.namespace=default,involvedObject.uid=123"
    assert selectors.FieldSelector.parse(events).equals("involvedObject.uid") == "123"


@pytest.mark.parametrize("text", ["metadata.name", "a=b\\q", "a=b=c", "a=b\\"])
def test_field_selector_syntax_errors_are_400(text: str) -> None:
    _raises(400, selectors.FieldSelector.parse, text)


# Patches -----------------------------------------------------------------------------------------------------


OBJECT = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cm", "labels": {"a": "1", "b": "2"}},
    "data": {"x": "1", "y": "2"},
    "list": [1, 2, 3],
}


def _patch(content_type: str, body: Any, *, strategic_ok: bool = True) -> dict[str, Any]:
    before = copy.deepcopy(OBJECT)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result = patch.apply_patch(OBJECT, content_type, raw, strategic_ok=strategic_ok)
    assert before == OBJECT  # the object patched is left as it was
    return result


def test_merge_patch() -> None:
    result = _patch(
        "application/merge-patch+json",
        {"metadata": {"labels": {"a": None, "c": "3"}}, "data": None, "list": [9], "new": {"k": None, "v": 1}},
    )
    assert result == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"b": "2", "c": "3"}},
        "list": [9],
        "new": {"v": 1},
    }
    assert _patch("Application/Merge-Patch+JSON; charset=utf-8", {"data": {"x": "9"}})["data"] == {"x": "9", "y": "2"}


def test_json_patch() -> None:
    operations = [
        {"op": "test", "path": "/data/x", "value": "1"},
        {"op": "replace", "path": "/data/x", "value": "10"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "add", "path": "/list/-", "value": 4},
        {"op": "add", "path": "/metadata/labels/k8s.io~1role", "value": "r"},
    ]
    result = _patch("application/json-patch+json", operations)
    assert result["data"] == {"x": "10", "y": "2"}
    assert result["metadata"]["labels"] == {"b": "2", "k8s.io/role": "r"}
    assert result["list"] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/data/x", "value": "2"}],
        [{"op": "remove", "path": "/nope"}],
        [{"op": "add", "path": "/nope/deeper", "value": 1}],
        [{"op": "replace", "path": "", "value": [1]}],
    ],
)
def test_json_patch_that_fails_is_422(operations: list[dict[str, Any]]) -> None:
    error = _raises(422, _patch, "application/json-patch+json", operations)
    assert error.reason == "Invalid"
    if operations[0]["op"] == "test":
        assert error.message == "testing value /data/x failed: test failed"  # Kubernetes' words
    elif operations[0]["path"]:
        assert f"{operations[0]['op']} {operations[0]['path']}" in error.message
    else:
        assert "not an object" in error.message


@pytest.mark.parametrize(
    "body",
    [{"op": "add"}, [{"op": "bogus", "path": "/a"}], [{"path": "/a"}], ["text"], b"[{", b"\xff\xfe"],
)
def test_bad_json_patch_is_400(body: Any) -> None:
    _raises(400, _patch, "application/json-patch+json", body)


def test_strategic_merge_patch_of_a_core_kind() -> None:
    result = _patch(
        "application/strategic-merge-patch+json",
        {
            "metadata": {"labels": {"a": None, "c": "3"}, "$setElementOrder/finalizers": ["x"]},
            "data": {"x": "9"},
            "$deleteFromPrimitiveList/list": [2],
        },
    )
    assert result["metadata"] == {"name": "cm", "labels": {"b": "2", "c": "3"}}
    assert result["data"] == {"x": "9", "y": "2"}
    assert result["list"] == [1, 3]
    replaced = _patch("application/strategic-merge-patch+json", {"data": {"$patch": "replace", "z": "1"}})
    assert replaced["data"] == {"z": "1"}
    deleted = _patch("application/strategic-merge-patch+json", {"data": {"$patch": "delete"}})
    assert "data" not in deleted
    retained = _patch("application/strategic-merge-patch+json", {"data": {"$retainKeys": ["y", "w"], "w": "1"}})
    assert retained["data"] == {"y": "2", "w": "1"}


def test_strategic_merge_patch_of_a_custom_resource_is_415() -> None:
    error = _raises(415, _patch, "application/strategic-merge-patch+json", {"data": {}}, strategic_ok=False)
    assert error.message == "strategic merge patch format is not supported"
    assert error.reason == "UnsupportedMediaType"


def test_apply_patch_merges_the_configuration() -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {c: '3'}\ndata:\n  y: '20'\n"
    result = _patch("application/apply-patch+yaml", body, strategic_ok=False)
    assert result["metadata"]["labels"] == {"a": "1", "b": "2", "c": "3"}
    assert result["data"] == {"x": "1", "y": "20"}
    _raises(400, _patch, "application/apply-patch+yaml", b"data: [unclosed\n")
    _raises(400, _patch, "application/apply-patch+yaml", b"- a list\n")
    _raises(400, _patch, "application/apply-patch+yaml", b"a: &x [*x]\n")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", "application/yaml"])
def test_other_content_types_are_415(content_type: str) -> None:
    error = _raises(415, _patch, content_type, {"data": {}})
    assert error.reason == "UnsupportedMediaType"


@pytest.mark.parametrize("content_type", ["application/merge-patch+json", "application/strategic-merge-patch+json"])
@pytest.mark.parametrize("body", [b"{", b"[]", b'"text"', b"null", b'{"a": NaN}'])
def test_bad_merge_patch_bodies_are_400(content_type: str, body: bytes) -> None:
    error = _raises(400, _patch, content_type, body)
    assert error.reason == "BadRequest"
