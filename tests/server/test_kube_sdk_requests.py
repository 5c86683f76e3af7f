"""Requests as Katib's SDK (over the Kubernetes Python client before 34) sends them, over plain HTTP:
boolean query parameters spelled ``True`` (``watch=True``, ``follow=True``), ``metadata.generateName``, and a
log asked for by container, ``metrics-logger-and-collector`` (Katib's StdOut collector beside the primary
container) among them.

One server serves the module; each test deletes its experiments when it ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server_support import EXPERIMENT_LABEL, GROUP_VERSION, Server, running_server, tiny_experiment

COLLECTOR = "metrics-logger-and-collector"
EXPERIMENTS = f"/apis/{GROUP_VERSION}/namespaces/default/experiments"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("sdk-requests") / "home") as started:
        yield started


@pytest.fixture(autouse=True)
def _clean(server: Server) -> Iterator[None]:
    yield
    server.delete_all()


def _pods(server: Server, experiment: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(
            "/api/v1/namespaces/default/pods", params={"labelSelector": f"{EXPERIMENT_LABEL}={experiment}"}
        )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _first_pod(server: Server, experiment: str) -> dict[str, Any]:
    """The experiment's first pod, once its first trial is created."""
    deadline = time.monotonic() + 60
    pods = _pods(server, experiment)
    while not pods and time.monotonic() < deadline:
        time.sleep(0.05)
        pods = _pods(server, experiment)
    assert pods, f"no pod of {experiment}\n{server.log_tail()}"
    return pods[0]


@pytest.mark.parametrize("spelling", ["True", "true", "1", "yes"])
def test_watch_spelled_as_go_reads_a_boolean(server: Server, spelling: str) -> None:
    """Kubernetes reads a boolean query parameter as true unless it is "0" or "false" (in any case)."""
    server.create(tiny_experiment("watched", trials=1, parallel=1))
    with server.client() as http:
        response = http.get(EXPERIMENTS, params={"watch": spelling, "timeoutSeconds": "1"})
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events and events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "watched"


@pytest.mark.parametrize("spelling", ["False", "false", "FALSE", "0"])
def test_watch_false_lists(server: Server, spelling: str) -> None:
    server.create(tiny_experiment("listed", trials=1, parallel=1))
    with server.client() as http:
        response = http.get(EXPERIMENTS, params={"watch": spelling})
    assert response.status_code == 200, response.text
    assert response.json()["kind"] == "ExperimentList"


def test_follow_true_streams_until_the_trial_ends(server: Server, tmp_path: Path) -> None:
    """``follow=True``, from its first line while the trial waits, to its last once it is released."""
    gate = (
        "import os, sys, time\nprint('training', flush=True)\n"
        "while not os.path.exists(os.path.join(sys.argv[2], 'release')):\n    time.sleep(0.05)\n"
        "print('accuracy=' + sys.argv[1])"
    )
    doc = tiny_experiment("followed", trials=1, parallel=1)
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python3", "-c", gate, "${trialParameters.x}", str(tmp_path)]  # an existing directory
    server.create(doc)
    name = _first_pod(server, "followed")["metadata"]["name"]
    received = b""
    log = f"/api/v1/namespaces/default/pods/{name}/log"
    with server.client(timeout=120) as http, http.stream("GET", log, params={"follow": "True"}) as stream:
        for chunk in stream.iter_bytes():
            received += chunk
            if received == b"training\n":
                (tmp_path / "release").touch()  # the trial goes on only once its first line came through
    [trial] = server.trials("followed")
    x = next(p["value"] for p in trial["spec"]["parameterAssignments"] if p["name"] == "x")
    assert received.decode() == f"training\naccuracy={x}\n"


def test_generate_name(server: Server) -> None:
    """A name drawn from ``generateName`` as Kubernetes draws it: the prefix and 5 characters; each create
    gets its own. ConfigMaps too."""
    doc = tiny_experiment("unused", trials=1, parallel=1)
    doc["metadata"] = {"generateName": "drawn-"}
    first, second = server.create(doc), server.create(doc)
    names = [first["metadata"]["name"], second["metadata"]["name"]]
    assert all(n.startswith("drawn-") and len(n) == len("drawn-") + 5 for n in names) and names[0] != names[1]
    assert first["metadata"]["generateName"] == "drawn-"
    assert server.experiment(names[0])["metadata"]["name"] == names[0]
    with server.client() as http:
        made = http.post("/api/v1/namespaces/default/configmaps",
                         json={"metadata": {"generateName": "templates-"}, "data": {"a": "b"}})  # fmt: skip
        assert made.status_code == 201, made.text
        made_name = made.json()["metadata"]["name"]
        assert made_name.startswith("templates-") and len(made_name) == len("templates-") + 5
        assert http.get(f"/api/v1/namespaces/default/configmaps/{made_name}").json()["data"] == {"a": "b"}
        nameless = http.post(EXPERIMENTS, json={**doc, "metadata": {}})
        assert nameless.status_code == 422, nameless.text
        assert nameless.json()["details"]["causes"][0]["field"] == "metadata.name"
        http.delete(f"/api/v1/namespaces/default/configmaps/{made_name}")


def test_log_by_container(server: Server) -> None:
    """A StdOut trial's pod carries Katib's collector beside its primary container; the log of either is the
    trial's output; any other container is 400, as Kubernetes answers."""
    server.create(tiny_experiment("containers", trials=1, parallel=1))
    server.wait_for("containers")
    [pod] = _pods(server, "containers")
    name = pod["metadata"]["name"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["main", COLLECTOR]
    assert [s["name"] for s in pod["status"]["containerStatuses"]] == ["main", COLLECTOR]
    assert pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "main"
    [trial] = server.trials("containers")
    x = next(p["value"] for p in trial["spec"]["parameterAssignments"] if p["name"] == "x")
    path = f"/api/v1/namespaces/default/pods/{name}/log"
    with server.client() as http:
        for container in (None, "main", COLLECTOR):
            response = http.get(path, params={"container": container} if container else {})
            assert (response.status_code, response.text) == (200, f"training\naccuracy={x}\n"), container
        wrong = http.get(path, params={"container": "sidecar"})
    assert wrong.status_code == 400
    assert wrong.json()["message"] == f"container sidecar is not valid for pod {name}"


def test_no_collector_container_without_a_pulling_collector(server: Server) -> None:
    """A Push trial (its code reports its metrics itself) has no collector beside it."""
    server.create(tiny_experiment("pushed", trials=1, parallel=1, metricsCollectorSpec={"collector": {"kind": "Push"}}))
    assert [c["name"] for c in _first_pod(server, "pushed")["spec"]["containers"]] == ["main"]


def test_a_logs_last_lines_are_found_without_reading_it_whole(tmp_path: Path) -> None:
    """tailLines reads the log backwards in blocks (a trial's log may be gigabytes)."""
    from pykatib.server import api

    log = tmp_path / "trial.log"
    for text, lines, expected in [
        ("a\nb\nc\n", 2, "b\nc\n"), ("a\nb\nc", 2, "b\nc"), ("a\nb\n", 5, "a\nb\n"), ("a\nb\n", 0, ""), ("", 3, ""),
    ]:  # fmt: skip
        log.write_bytes(text.encode())
        assert log.read_bytes()[api._tail_start(log, len(text), lines) :].decode() == expected, (text, lines)
    big = "".join(f"line {i}\n" for i in range(300_000))  # several blocks
    log.write_text(big)
    start = api._tail_start(log, log.stat().st_size, 3)
    assert log.read_bytes()[start:] == b"line 299997\nline 299998\nline 299999\n"
