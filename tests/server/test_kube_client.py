"""``pykatib server`` driven by the official ``kubernetes`` Python client (what the Katib SDK is built on):
CustomObjectsApi on experiments, trials and suggestions, selectors and paging, CoreV1Api pods and their
logs, the error statuses as ApiException, and watches.

One server (with a bearer token, which the client sends from the kubeconfig) serves the whole module;
each test deletes its experiments when it ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch

from server_support import EXPERIMENT_LABEL, TRIAL_LABEL, Server, running_server, tiny_experiment

GROUP, VERSION = "kubeflow.org", "v1beta1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("kube-client") / "home", "--token", "client-token") as started:
        yield started


@pytest.fixture(autouse=True)
def _clean(server: Server) -> Iterator[None]:
    yield
    server.delete_all()


@pytest.fixture
def api_client(server: Server) -> Iterator[client.ApiClient]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def _create(custom: client.CustomObjectsApi, doc: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    created: dict[str, Any] = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "experiments", doc)
    return created


def _names(listing: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in listing["items"]]


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as caught:
        call(*args, **kwargs)
    body: dict[str, Any] = json.loads(caught.value.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == caught.value.status, body
    return caught.value.status, body


def test_experiments_create_get_list_patch_delete(server: Server, custom: client.CustomObjectsApi) -> None:
    doc = tiny_experiment("crud", trials=2, parallel=1, pause=1.0)
    doc["metadata"]["labels"] = {"team": "blue"}
    created = _create(custom, doc)
    assert created["apiVersion"] == "kubeflow.org/v1beta1" and created["kind"] == "Experiment"
    assert created["metadata"]["name"] == "crud" and created["metadata"]["namespace"] == "default"
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    _create(custom, tiny_experiment("other", trials=1, parallel=1))

    got = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "experiments", "crud")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert got["spec"]["maxTrialCount"] == 2 and got["metadata"]["labels"] == {"team": "blue"}

    listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", "experiments")
    assert listed["kind"] == "ExperimentList" and sorted(_names(listed)) == ["crud", "other"]
    assert _names(custom.list_namespaced_custom_object(GROUP, VERSION, "default", "experiments",
                                                       label_selector="team=blue")) == ["crud"]  # fmt: skip
    assert _names(custom.list_namespaced_custom_object(GROUP, VERSION, "default", "experiments",
                                                       label_selector="team!=blue")) == ["other"]  # fmt: skip
    assert _names(custom.list_namespaced_custom_object(GROUP, VERSION, "default", "experiments",
                                                       label_selector="team=red")) == []  # fmt: skip
    assert _names(custom.list_namespaced_custom_object(GROUP, VERSION, "default", "experiments",
                                                       field_selector="metadata.name=other")) == ["other"]  # fmt: skip
    assert sorted(_names(custom.list_cluster_custom_object(GROUP, VERSION, "experiments"))) == ["crud", "other"]
    assert _names(custom.list_namespaced_custom_object(GROUP, VERSION, "elsewhere", "experiments")) == []

    patched = custom.patch_namespaced_custom_object(GROUP, VERSION, "default", "experiments", "crud",
                                                    {"spec": {"maxTrialCount": 3}})  # fmt: skip
    assert patched["spec"]["maxTrialCount"] == 3
    got = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "experiments", "crud")
    assert got["spec"]["maxTrialCount"] == 3
    wider = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "2.0"}}]
    code, body = _error(custom.patch_namespaced_custom_object, GROUP, VERSION, "default", "experiments", "crud",
                        {"spec": {"parameters": wider}})  # fmt: skip
    assert code == 422 and [c["field"] for c in body["details"]["causes"]] == ["spec.parameters"], body
    assert body["details"]["causes"][0]["message"].startswith("Forbidden: only spec.parallelTrialCount"), body

    status = server.wait_for("crud")["status"]
    assert status["trials"] == status["trialsSucceeded"] == 3, status

    deleted = custom.delete_namespaced_custom_object(GROUP, VERSION, "default", "experiments", "crud")
    assert deleted["metadata"]["name"] == "crud"
    code, _ = _error(custom.get_namespaced_custom_object, GROUP, VERSION, "default", "experiments", "crud")
    assert code == 404
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", "trials",
                                                  label_selector=f"{EXPERIMENT_LABEL}=crud")  # fmt: skip
    assert listed["items"] == []


def test_errors_are_kubernetes_statuses(custom: client.CustomObjectsApi) -> None:
    code, body = _error(custom.get_namespaced_custom_object, GROUP, VERSION, "default", "experiments", "missing")
    assert code == 404 and body["reason"] == "NotFound", body
    assert body["message"] == 'experiments.kubeflow.org "missing" not found'
    assert body["details"] == {"name": "missing", "group": "kubeflow.org", "kind": "experiments"}

    doc = tiny_experiment("twice", trials=1, parallel=1)
    _create(custom, doc)
    code, body = _error(_create, custom, doc)
    assert code == 409 and body["reason"] == "AlreadyExists", body
    assert body["message"] == 'experiments.kubeflow.org "twice" already exists'

    bad = tiny_experiment("bad", trials=2, parallel=1, maxFailedTrialCount=5)
    bad["spec"]["algorithm"]["algorithmName"] = "nope"
    code, body = _error(_create, custom, bad)
    assert code == 422 and body["reason"] == "Invalid", body
    causes = {c["field"]: c for c in body["details"]["causes"]}
    assert set(causes) == {"spec.maxFailedTrialCount", "spec.algorithm.algorithmName"}, body
    assert causes["spec.algorithm.algorithmName"]["message"].startswith('unknown algorithm "nope"')
    assert all(c["reason"] == "FieldValueInvalid" for c in causes.values())
    assert body["details"]["name"] == "bad" and body["details"]["kind"] == "Experiment"
    code, _ = _error(custom.get_namespaced_custom_object, GROUP, VERSION, "default", "experiments", "bad")
    assert code == 404

    code, body = _error(custom.delete_namespaced_custom_object, GROUP, VERSION, "default", "experiments", "missing")
    assert code == 404, body
    code, body = _error(custom.get_namespaced_custom_object, GROUP, VERSION, "default", "trials", "missing")
    assert code == 404, body


def test_trials_paged_suggestion_and_pod_logs(
    server: Server, custom: client.CustomObjectsApi, core: client.CoreV1Api
) -> None:
    _create(custom, tiny_experiment("paged", trials=5, parallel=3))
    server.wait_for("paged")
    everything = custom.list_namespaced_custom_object(GROUP, VERSION, "default", "trials",
                                                      label_selector=f"{EXPERIMENT_LABEL}=paged")  # fmt: skip
    all_names = _names(everything)
    assert len(all_names) == len(set(all_names)) == 5

    pages: list[list[str]] = []
    remaining: list[int | None] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"label_selector": f"{EXPERIMENT_LABEL}=paged", "limit": 2}
        if token:
            kwargs["_continue"] = token
        page = custom.list_namespaced_custom_object(GROUP, VERSION, "default", "trials", **kwargs)
        pages.append(_names(page))
        remaining.append(page["metadata"].get("remainingItemCount"))
        token = page["metadata"].get("continue")
        if not token:
            break
        assert len(pages) < 10, pages
    assert [len(p) for p in pages] == [2, 2, 1], pages
    assert remaining == [3, 1, None]
    assert [name for page in pages for name in page] == all_names

    for trial in everything["items"]:
        assert trial["metadata"]["labels"][EXPERIMENT_LABEL] == "paged"
        assert trial["metadata"]["ownerReferences"][0]["name"] == "paged"
        assert [c["type"] for c in trial["status"]["conditions"]][-1] == "Succeeded"
        x = next(a["value"] for a in trial["spec"]["parameterAssignments"] if a["name"] == "x")
        metrics = trial["status"]["observation"]["metrics"]
        assert [(m["name"], float(m["latest"])) for m in metrics] == [("accuracy", float(x))], trial["status"]
    one = custom.list_namespaced_custom_object(GROUP, VERSION, "default", "trials",
                                               field_selector=f"metadata.name={all_names[3]}")  # fmt: skip
    assert _names(one) == [all_names[3]]
    got = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "trials", all_names[0])
    assert got["metadata"]["name"] == all_names[0] and got["status"]["observation"]["metrics"]

    suggestion = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "suggestions", "paged")
    assert suggestion["kind"] == "Suggestion" and suggestion["spec"]["algorithm"]["algorithmName"] == "random"
    assert suggestion["status"]["suggestionCount"] == 5
    assert sorted(s["name"] for s in suggestion["status"]["suggestions"]) == sorted(all_names)
    assert suggestion["metadata"]["ownerReferences"][0]["name"] == "paged"

    # The pods, as raw JSON (typed deserialization is test_pods_deserialize_as_kubernetes_models).
    raw = core.list_namespaced_pod("default", label_selector=f"{TRIAL_LABEL}={all_names[0]}", _preload_content=False)
    pods = json.loads(raw.data)["items"]
    assert [p["metadata"]["name"] for p in pods] == [f"{all_names[0]}-job-0"], pods
    assert pods[0]["status"]["phase"] == "Succeeded"
    log = core.read_namespaced_pod_log(pods[0]["metadata"]["name"], "default")
    x = next(a["value"] for a in got["spec"]["parameterAssignments"] if a["name"] == "x")
    assert log.splitlines() == ["training", f"accuracy={x}"], log
    assert core.read_namespaced_pod_log(pods[0]["metadata"]["name"], "default", tail_lines=1).strip() == (
        f"accuracy={x}"
    )
    code, body = _error(core.read_namespaced_pod_log, f"{all_names[0]}-job-7", "default")
    assert code == 404, body


def test_pods_deserialize_as_kubernetes_models(server: Server, custom: client.CustomObjectsApi,
                                               core: client.CoreV1Api) -> None:  # fmt: skip
    """The client turns pods into V1Pod models, whose V1ContainerStatus requires image and imageID (as every
    kubelet sets them): list_namespaced_pod and read_namespaced_pod must not fail on a pykatib pod."""
    _create(custom, tiny_experiment("typed", trials=1, parallel=1))
    server.wait_for("typed")
    pods = core.list_namespaced_pod("default", label_selector=f"{EXPERIMENT_LABEL}=typed")
    assert len(pods.items) == 1
    pod = core.read_namespaced_pod(pods.items[0].metadata.name, "default")
    assert pod.status.phase == "Succeeded"
    assert pod.metadata.labels[EXPERIMENT_LABEL] == "typed"


def test_a_watch_sees_the_experiment_succeed(custom: client.CustomObjectsApi) -> None:
    _create(custom, tiny_experiment("watched", trials=3, parallel=2, pause=0.5))
    seen: list[tuple[str, list[str]]] = []
    stream = watch.Watch()
    for event in stream.stream(custom.list_namespaced_custom_object, GROUP, VERSION, "default", "experiments",
                               field_selector="metadata.name=watched", timeout_seconds=60):  # fmt: skip
        obj = event["object"]
        assert obj["metadata"]["name"] == "watched", obj["metadata"]
        true = [c["type"] for c in obj.get("status", {}).get("conditions", []) if c["status"] == "True"]
        seen.append((event["type"], true))
        if "Succeeded" in true:
            stream.stop()
            assert obj["status"]["trialsSucceeded"] == 3, obj["status"]
    assert seen and "Succeeded" in seen[-1][1], f"the watch ran to its timeout: {seen}"
    assert seen and seen[0][0] == "ADDED", seen
    # Katib keeps Created True beside the end condition (Running turns False).
    assert seen[-1] == ("MODIFIED", ["Created", "Succeeded"]) or seen == [("ADDED", ["Created", "Succeeded"])], seen
    assert all(kind in ("ADDED", "MODIFIED") for kind, _ in seen), seen


def test_a_watch_of_trials_sees_each_one_added(server: Server, custom: client.CustomObjectsApi) -> None:
    """A watch from a list's resourceVersion sends each object created after that list as ADDED (as
    Kubernetes does; informers and the Katib SDK rely on it), then its changes as MODIFIED. The trials are
    created before the watch starts, so the first events come from the server's first look."""
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", "trials")
    assert listed["items"] == []
    _create(custom, tiny_experiment("trialwatch", trials=3, parallel=3, pause=1.0))
    deadline = time.monotonic() + 30
    while len(server.trials("trialwatch")) < 3:
        assert time.monotonic() < deadline, "the trials were never created"
        time.sleep(0.05)
    added: set[str] = set()
    succeeded: set[str] = set()
    stream = watch.Watch()
    for event in stream.stream(custom.list_namespaced_custom_object, GROUP, VERSION, "default", "trials",
                               resource_version=listed["metadata"]["resourceVersion"],
                               label_selector=f"{EXPERIMENT_LABEL}=trialwatch", timeout_seconds=60):  # fmt: skip
        name = event["object"]["metadata"]["name"]
        if event["type"] == "ADDED":
            added.add(name)
        conditions = event["object"].get("status", {}).get("conditions", [])
        if conditions and conditions[-1]["type"] == "Succeeded":
            succeeded.add(name)
        if len(succeeded) == 3:
            stream.stop()
    assert len(succeeded) == 3, (added, succeeded)
    assert added == succeeded, (added, succeeded)
