"""The web UI's server side over HTTP against a real ``pykatib server``: its data as columns (and as changes),
the YAML marks, static files and their caching, the server's API through /ui/kube, and Kubernetes'
``dryRun=All`` on create (what the editor's Validate uses; kubectl's ``--dry-run=server`` too)."""

from __future__ import annotations

import base64
import gzip
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml

from server_support import GROUP_VERSION, Server, tiny_experiment
from ui_support import gated_experiment, open_gate

COLLECTION = f"/apis/{GROUP_VERSION}/namespaces/default/experiments"


@pytest.fixture(scope="module")
def finished(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An experiment of 4 succeeded trials (3 reports each) on the module's server."""
    gate = tmp_path_factory.mktemp("gate")
    server.create(gated_experiment("api-done", gate, trials=4, parallel=2))
    open_gate(gate)
    return server.wait_for("api-done")


def floats(packed: str) -> list[float]:
    data = base64.b64decode(packed)
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def test_experiment_data_is_columns_of_every_trial(server: Server, finished: dict[str, Any]) -> None:
    trials = {t["metadata"]["name"]: t for t in server.trials("api-done")}
    with server.client() as http:
        answer = http.get("/ui/api/experiments/default/api-done").json()
        listing = http.get("/ui/api/experiments").json()["items"]
    columns = answer["trials"]
    assert answer["full"] is True and sorted(columns["name"]) == sorted(trials)
    assert set(columns) >= {"id", "name", "phase", "created", "start", "end", "objective", "params", "metrics"}
    assert all(len(columns[key]) == 4 for key in ("id", "name", "phase", "start", "end", "objective"))
    assert columns["phase"] == ["Succeeded"] * 4
    for row, name in enumerate(columns["name"]):
        trial = trials[name]
        assignments = {a["name"]: a["value"] for a in trial["spec"]["parameterAssignments"]}
        assert columns["params"]["x"][row] == float(assignments["x"])  # numeric parameters as numbers
        assert columns["params"]["opt"][row] == assignments["opt"]  # categorical ones as strings
        (metric,) = trial["status"]["observation"]["metrics"]
        for part in ("min", "max", "latest"):
            assert columns["metrics"]["accuracy"][part][row] == float(metric[part])
        assert columns["objective"][row] == float(metric["max"])
    # the objective's reports: per trial, in order, as float32 with offsets
    series = answer["series"]
    values = floats(series["values"])
    assert series["metric"] == "accuracy" and series["offset"] == [0, 3, 6, 9, 12] and len(values) == 12
    for index, trial_id in enumerate(series["trial"]):
        row = columns["id"].index(trial_id)
        x = columns["params"]["x"][row]
        mine = values[series["offset"][index] : series["offset"][index + 1]]
        assert mine == pytest.approx([x * 0.5, x * 0.8, x], rel=1e-6)
    # the overview, without Katib's per-trial name lists
    view = answer["experiment"]
    assert view["status"] == "Succeeded" and view["succeeded"] == 4 and view["algorithm"] == "random"
    assert "succeededTrialList" not in view["statusBlock"] and view["statusBlock"]["trialsSucceeded"] == 4
    best = finished["status"]["currentOptimalTrial"]
    assert view["optimal"] == float(best["observation"]["metrics"][0]["max"])
    (line,) = [item for item in listing if item["name"] == "api-done"]
    assert line["optimal"] == view["optimal"] and line["succeeded"] == 4 and line["ended"] is True


def test_experiment_data_changes_since_a_time(server: Server, finished: dict[str, Any], tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    server.create(gated_experiment("api-live", gate, trials=3, parallel=1))
    with server.client() as http:
        first = http.get("/ui/api/experiments/default/api-live").json()
        # nothing finished yet: asked again, only the trial still to run or running comes (its reports may grow)
        again = http.get("/ui/api/experiments/default/api-live", params={"since": first["since"]}).json()
        assert again["full"] is False
        assert all(phase in ("Created", "Running") for phase in again["trials"]["phase"])
        open_gate(gate)
        server.wait_for("api-live")
        later = http.get("/ui/api/experiments/default/api-live", params={"since": first["since"]}).json()
        assert sorted(later["trials"]["phase"]) == ["Succeeded"] * 3  # every trial changed since
        assert later["series"]["offset"][-1] == 9
        # a trial's resourceVersion is its row's last change (µs): just past it (and the slack), none comes again
        last = max(int(t["metadata"]["resourceVersion"]) for t in server.trials("api-live"))
        settled = http.get("/ui/api/experiments/default/api-live", params={"since": last + 2_000_001}).json()
        assert settled["trials"]["id"] == [] and settled["series"]["trial"] == []
        slack = http.get("/ui/api/experiments/default/api-live", params={"since": last + 1_999_999}).json()
        assert len(slack["trials"]["id"]) >= 1  # within the slack: the last change is sent again
        assert http.get("/ui/api/experiments/default/nothing").status_code == 404
        # Found in review: a `since` beyond any date was a 500 (year out of range).
        for since in ("99999999999999999999", "9" * 40):
            far = http.get("/ui/api/experiments/default/api-live", params={"since": since})
            assert far.status_code == 200 and far.json()["trials"]["id"] == []


def test_trial_data_has_every_report(server: Server, finished: dict[str, Any]) -> None:
    (trial, *_) = server.trials("api-done")
    name = trial["metadata"]["name"]
    x = float(trial["spec"]["parameterAssignments"][0]["value"])
    with server.client() as http:
        answer = http.get(f"/ui/api/experiments/default/api-done/trials/{name}").json()
        assert http.get("/ui/api/experiments/default/api-done/trials/nope").status_code == 404
    assert answer["name"] == name and answer["phase"] == "Succeeded" and answer["active"] is False
    assert answer["observations"]["accuracy"]["value"] == pytest.approx([x * 0.5, x * 0.8, x])
    times = answer["observations"]["accuracy"]["time"]
    assert times == sorted(times) and answer["start"] <= times[0] <= answer["end"]


def test_importance_needs_a_few_trials(server: Server, finished: dict[str, Any]) -> None:
    with server.client() as http:
        answer = http.get("/ui/api/experiments/default/api-done/importance").json()
    assert answer == {
        "trials": 4,
        "used": 0,
        "minTrials": 5,
        "evaluator": "PedAnovaImportanceEvaluator",
        "importances": {},
    }


def test_marks_name_each_fields_line(server: Server) -> None:
    text = "apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata:\n  name: m\n  namespace: team\nspec:\n"
    text += "  parameters:\n    - name: x\n      feasibleSpace: {min: '0', max: '1'}\n    - name: y\n"
    with server.client() as http:
        answer = http.post("/ui/api/marks", content=text).json()
        broken = http.post("/ui/api/marks", content="a: [1\nb: 2\n").json()
    assert answer["error"] is None and answer["documents"] == 1
    assert (answer["kind"], answer["name"], answer["namespace"]) == ("Experiment", "m", "team")
    marks = answer["marks"]
    assert marks["spec.parameters[0]"] == 8 and marks["spec.parameters[0].feasibleSpace.max"] == 9
    assert marks["spec.parameters[1].name"] == 10 and marks["metadata.namespace"] == 5
    assert broken["error"]["line"] == 2 and broken["error"]["contextLine"] == 1


def test_static_files_and_their_caching(server: Server) -> None:
    with server.client() as http:
        page = http.get("/ui/experiments/default/x")
        assert page.status_code == 200 and 'src="/ui/static/experiment.js"' in page.text
        charts_url = page.text.split('data-charts="')[1].split('"')[0]
        charts = http.get(charts_url, headers={"Accept-Encoding": "gzip"})
        assert charts.status_code == 200 and charts.headers["content-encoding"] == "gzip"
        assert "max-age=31536000" in charts.headers["cache-control"]
        assert b"Licensed to the Apache Software Foundation" in charts.content[:300]  # httpx has decompressed it
        assert b'version="6.0.0"' in charts.content
        raw = http.get(charts_url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers and raw.content == charts.content
        assert len(gzip.compress(raw.content)) < len(raw.content) / 2
        css = http.get("/ui/static/ui.css")
        assert css.headers["cache-control"] == "no-cache" and css.headers["content-type"].startswith("text/css")
        assert http.get("/ui/static/ui.css", headers={"If-None-Match": css.headers["etag"]}).status_code == 304
        assert http.get("/ui/static/..%2F__init__.py").status_code == 404
        assert http.get("/ui/static/nothing.js").status_code == 404
        assert http.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
        examples = http.get("/ui/api/examples").json()["items"]
        assert "katib/hp-tuning/random.yaml" in examples and "seed-experiment.yaml" in examples
        assert "kind: Experiment" in http.get("/ui/api/examples/katib/hp-tuning/random.yaml").text
        assert "kind: Experiment" in http.get(f"/ui/api/examples/{examples[0]}").text  # the built-in starter
        assert http.get("/ui/api/examples/../pyproject.toml").status_code == 404


def test_kube_api_through_the_ui(server: Server, finished: dict[str, Any]) -> None:
    with server.client() as http:
        got = http.get(f"/ui/kube{COLLECTION}/api-done")
        assert got.status_code == 200 and got.json()["metadata"]["name"] == "api-done"
        patch = {"metadata": {"annotations": {"team": "a"}}}
        headers = {"Content-Type": "application/merge-patch+json"}
        refused = http.patch(f"/ui/kube{COLLECTION}/api-done", json=patch, headers=headers)
        assert refused.status_code == 403  # a change without the UI's header (a form on another site)
        assert "x-pykatib-ui" in refused.json()["message"]
        changed = http.patch(f"/ui/kube{COLLECTION}/api-done", json=patch, headers={**headers, "X-Pykatib-UI": "1"})
        assert changed.status_code == 200 and changed.json()["metadata"]["annotations"]["team"] == "a"
        assert http.get("/ui/kube/healthz").status_code == 404  # only the Kubernetes API


def test_dry_run_create_checks_and_stores_nothing(server: Server) -> None:
    doc = tiny_experiment("dry", trials=2, parallel=1)
    with server.client() as http:
        answer = http.post(COLLECTION, params={"dryRun": "All"}, json=doc)
        assert answer.status_code == 201 and answer.json()["metadata"]["name"] == "dry"
        assert http.get(f"{COLLECTION}/dry").status_code == 404
        bad = {**doc, "spec": {**doc["spec"], "maxTrialCount": -1}}
        invalid = http.post(COLLECTION, params={"dryRun": "All"}, json=bad)
        assert invalid.status_code == 422
        assert [c["field"] for c in invalid.json()["details"]["causes"]][:1] == ["spec.maxTrialCount"]
        assert http.post(COLLECTION, params={"dryRun": "Some"}, json=doc).status_code == 400
        assert http.post(COLLECTION, json=doc).status_code == 201
        assert http.post(COLLECTION, params={"dryRun": "All"}, json=doc).status_code == 409  # taken, as Kubernetes
        patched = http.patch(f"{COLLECTION}/dry", params={"dryRun": "All"}, json={"spec": {"maxTrialCount": 3}},
                             headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
        assert patched.status_code == 400  # refused rather than applied
        assert http.get(f"{COLLECTION}/dry").json()["spec"]["maxTrialCount"] == 2
        http.delete(f"{COLLECTION}/dry")


def test_kubectl_dry_run_server(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "dry.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment("kubectl-dry", trials=2, parallel=1)))
    done = server.kubectl("create", "--dry-run=server", "-f", str(path))
    assert "kubectl-dry created (server dry run)" in done.stdout
    assert server.kubectl("get", "experiment", "kubectl-dry", check=False).returncode != 0
