"""The server when requests and controllers overlap: a delete or a budget edit right after the create,
patches racing the controller's status writes, a v1beta1 edit of an experiment created as v1alpha3, two
servers on one home, a restart right after SIGTERM, and malformed bodies (a Status, never a 500)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from server_support import GROUP_VERSION, Server, running_server, server_command, start_server, tiny_experiment

MERGE = {"Content-Type": "application/merge-patch+json"}
SEED = Path(__file__).resolve().parents[2] / "examples" / "seed-experiment.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    with running_server(tmp_path_factory.mktemp("races") / "home") as running:
        yield running


def test_a_delete_right_after_the_create_stays_deleted(server: Server) -> None:
    """The controller may still be starting when the delete comes: it must not run (or create) it again."""
    with server.client() as http:
        for i in range(8):
            doc = tiny_experiment(f"gone-{i}", trials=3, parallel=2, pause=0.2)
            assert http.post(f"/apis/{GROUP_VERSION}/namespaces/default/experiments", json=doc).status_code == 201
            response = http.delete(server.experiment_path(f"gone-{i}"))
            assert response.status_code == 200, response.text
        time.sleep(2)  # what a controller started meanwhile would have done by now
        for i in range(8):
            response = http.get(server.experiment_path(f"gone-{i}"))
            assert response.status_code == 404, f"gone-{i} came back: {response.text[:300]}"
    assert "Traceback" not in server.log_tail(200)


def test_a_budget_edit_right_after_the_create_is_kept_and_honoured(server: Server) -> None:
    with server.client() as http:
        for i in range(4):
            name = f"edited-{i}"
            doc = tiny_experiment(name, trials=3, parallel=1, pause=0.1)
            assert http.post(f"/apis/{GROUP_VERSION}/namespaces/default/experiments", json=doc).status_code == 201
            patch = {"spec": {"maxTrialCount": 1, "parallelTrialCount": 1}}
            response = http.patch(server.experiment_path(name), content=json.dumps(patch), headers=MERGE)
            assert response.status_code == 200, response.text
            assert response.json()["spec"]["maxTrialCount"] == 1
    for i in range(4):
        done = server.wait_for(f"edited-{i}")
        assert done["spec"]["maxTrialCount"] == 1, done["spec"]  # the stored document was not overwritten
        assert done["status"]["trials"] == 1, done["status"]


def test_patches_without_a_resource_version_never_conflict(server: Server) -> None:
    """The controller rewrites the status (and so the resourceVersion) every 0.25 s while it runs: a patch
    that names no resourceVersion must not get 409 for it."""
    server.create(tiny_experiment("busy", trials=6, parallel=2, pause=0.3))

    def patch(i: int) -> int:
        body = {"metadata": {"labels": {f"round-{i}": "yes"}}}
        with server.client() as http:
            return http.patch(server.experiment_path("busy"), content=json.dumps(body), headers=MERGE).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(patch, range(24)))
    assert codes == [200] * 24
    labels = server.experiment("busy")["metadata"].get("labels", {})
    assert {f"round-{i}" for i in range(24)} <= set(labels), labels  # no patch wrote back an older object
    stale = server.experiment("busy")
    stale["metadata"]["resourceVersion"] = "1"  # a patch that names an old version does conflict
    body = {"metadata": {"resourceVersion": "1", "labels": {"round": "old"}}}
    with server.client() as http:
        response = http.patch(server.experiment_path("busy"), content=json.dumps(body), headers=MERGE)
    assert response.status_code == 409, response.text
    server.wait_for("busy")


def test_a_v1beta1_budget_edit_shows_in_the_v1alpha3_form(server: Server) -> None:
    seed = yaml.safe_load(SEED.read_text())
    seed["metadata"].update(name="alpha", namespace="default")
    seed["spec"].update(maxTrialCount=2, parallelTrialCount=2, maxFailedTrialCount=2)
    with server.client() as http:
        created = http.post("/apis/kubeflow.org/v1alpha3/namespaces/default/experiments", json=seed)
        assert created.status_code == 201, created.text
        patch = {"spec": {"parallelTrialCount": 1}}
        edited = http.patch(server.experiment_path("alpha"), content=json.dumps(patch), headers=MERGE)
        assert edited.status_code == 200, edited.text
        alpha = http.get("/apis/kubeflow.org/v1alpha3/namespaces/default/experiments/alpha").json()
    assert alpha["apiVersion"] == "kubeflow.org/v1alpha3"
    assert alpha["spec"]["parallelTrialCount"] == 1
    assert "goTemplate" in alpha["spec"]["trialTemplate"]  # still the form it was created in
    server.wait_for("alpha")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/apis/kubeflow.org/v1beta1/namespaces/default/experiments/busy", b'{"metadata": "x"}'),
        ("PUT", "/api/v1/namespaces/default/configmaps/cm", b'{"metadata": "x"}'),
        ("POST", "/apis/kubeflow.org/v1beta1/namespaces/default/experiments", b'{"metadata": ["x"]}'),
        ("POST", "/apis/kubeflow.org/v1beta1/namespaces/default/experiments", b"[" * 50_000 + b"]" * 50_000),
        ("PATCH", "/apis/kubeflow.org/v1beta1/namespaces/default/experiments/busy", b'{"metadata": "x"}'),
    ],
    ids=["put-experiment", "put-configmap", "post-list-metadata", "post-deep", "patch"],
)
def test_malformed_bodies_get_a_status_not_a_500(server: Server, method: str, path: str, body: bytes) -> None:
    headers = MERGE if method == "PATCH" else {"Content-Type": "application/json"}
    with server.client() as http:
        response = http.request(method, path, content=body, headers=headers)
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert response.json()["kind"] == "Status"


def test_one_server_per_home(server: Server) -> None:
    import subprocess

    second = subprocess.run(server_command(server.home), capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 2, second.stderr
    assert "another pykatib server" in second.stderr and str(server.home) in second.stderr
    assert json.loads((server.home / "server.json").read_text())["pid"] == server.proc.pid  # untouched


def test_a_server_started_right_after_sigterm_runs_what_the_old_one_left(tmp_path: Path) -> None:
    """The old server stops its trials (they take a while to go) before it lets the home go; the new one
    finds the experiment unfinished and its lease free, and finishes it."""
    home = tmp_path / "home"
    first = start_server(home)
    try:
        first.create(tiny_experiment("left", trials=4, parallel=2, pause=1.5))
        deadline = time.monotonic() + 30
        while not any(t.get("status", {}).get("startTime") for t in first.trials("left")):
            assert time.monotonic() < deadline, first.log_tail()
            time.sleep(0.1)
    finally:
        first.stop()
    second = start_server(home)
    try:
        done = second.wait_for("left", timeout=60)
        assert done["status"]["trialsSucceeded"] == 4, done["status"]
    finally:
        second.stop()
