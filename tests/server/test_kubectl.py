"""``pykatib server`` driven by the real kubectl, as a Katib user would: the seed experiment's workflow
(apply, get, describe, wait, logs, delete), a trial template from a ConfigMap, Katib's invalid example,
patches of the budget, jsonpath output, label selectors and ``--watch``.

One server serves the whole module; each test deletes its experiments when it ends.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from e2e_support import KATIB_EXAMPLES, SEED, trial_dir, write_experiment
from server_support import (
    EXPERIMENT_LABEL,
    TRIAL_LABEL,
    Server,
    clean_env,
    kubectl_binary,
    running_server,
    tiny_experiment,
)

CONFIGMAP = KATIB_EXAMPLES / "trial-template" / "trial-templates-configmap.yaml"
CONFIGMAP_EXPERIMENT = KATIB_EXAMPLES / "trial-template" / "trial-configmap-source.yaml"
INVALID = KATIB_EXAMPLES / "invalid-experiment.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    kubectl_binary()  # skips the module when there is no kubectl
    with running_server(tmp_path_factory.mktemp("kubectl") / "home") as started:
        yield started


@pytest.fixture(autouse=True)
def _clean(server: Server) -> Iterator[None]:
    yield
    server.delete_all()


def _rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.strip()]


def _wait_for_trials(server: Server, experiment: str, namespace: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(server.trials(experiment, namespace)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{experiment} never had {count} trials:\n{server.log_tail()}")


def test_the_seed_experiment_workflow(server: Server) -> None:
    applied = server.kubectl("apply", "-f", str(SEED))
    assert applied.stdout.strip() == "experiment.kubeflow.org/tfjob-example created"

    # Its controller sets its first condition moments after the create (as Katib's does): once a trial exists.
    _wait_for_trials(server, "tfjob-example", "kubeflow", 1)
    listed = _rows(server.kubectl("get", "experiments", "-A").stdout)
    assert listed[0] == ["NAMESPACE", "NAME", "TYPE", "STATUS", "AGE"], listed
    assert [row[:2] for row in listed[1:]] == [["kubeflow", "tfjob-example"]], listed
    assert listed[1][2] in ("Created", "Running") and listed[1][3] == "True", listed

    trials = _rows(server.kubectl("get", "trials", "-n", "kubeflow").stdout)
    assert trials[0] == ["NAME", "TYPE", "STATUS", "AGE"], trials
    assert trials[1:] and all(row[0].startswith("tfjob-example-") for row in trials[1:]), trials

    described = server.kubectl("describe", "experiment", "tfjob-example", "-n", "kubeflow").stdout
    for expected in ("Name:         tfjob-example", "Namespace:    kubeflow", "Kind:         Experiment",
                     "Parallel Trial Count:     3", "Objective Metric Name:  accuracy_1"):  # fmt: skip
        assert expected in described, described

    waited = server.kubectl("wait", "--for=condition=Succeeded", "--timeout=180s", "experiment/tfjob-example",
                            "-n", "kubeflow", timeout=200)  # fmt: skip
    assert waited.stdout.strip() == "experiment.kubeflow.org/tfjob-example condition met"

    experiment = json.loads(server.kubectl("get", "experiment", "tfjob-example", "-n", "kubeflow", "-o", "json").stdout)
    status = experiment["status"]
    assert status["trials"] == status["trialsSucceeded"] == 12, status
    assert len(status["succeededTrialList"]) == 12
    best = status["currentOptimalTrial"]
    assert best["bestTrialName"] in status["succeededTrialList"]
    assert [m["name"] for m in best["observation"]["metrics"]] == ["accuracy_1"]
    assert {a["name"] for a in best["parameterAssignments"]} == {"--learning_rate", "--batch_size"}
    listed = _rows(server.kubectl("get", "experiments", "-A").stdout)
    assert listed[1][:4] == ["kubeflow", "tfjob-example", "Succeeded", "True"], listed

    # The pod of a trial (its one TFJob worker) and its training output, by name and by label.
    trial = best["bestTrialName"]
    pods = server.kubectl("get", "pods", "-n", "kubeflow", "-l", f"{TRIAL_LABEL}={trial}", "-o", "name").stdout.split()
    assert pods == [f"pod/{trial}-worker-0"], pods
    by_name = server.kubectl("logs", "-n", "kubeflow", f"{trial}-worker-0").stdout
    assert "Accuracy at step 0:" in by_name, by_name[-2000:]
    by_label = server.kubectl("logs", "-n", "kubeflow", "-l", f"{TRIAL_LABEL}={trial}", "--tail=-1").stdout
    assert by_label == by_name

    directories = [
        trial_dir(server.workdir, "tfjob-example", name, "kubeflow") for name in status["succeededTrialList"]
    ]
    assert all(d.is_dir() for d in directories)
    deleted = server.kubectl("delete", "experiment", "tfjob-example", "-n", "kubeflow")
    assert deleted.stdout.strip() == 'experiment.kubeflow.org "tfjob-example" deleted'
    after = server.kubectl("get", "experiments", "-A")
    assert after.stdout == "" and after.stderr.strip() == "No resources found", after
    gone = server.kubectl("get", "trials", "-n", "kubeflow")
    assert gone.stderr.strip() == "No resources found in kubeflow namespace.", gone
    assert not any(d.exists() for d in directories)


def _configmap_experiment(tmp_path: Path) -> Path:
    """Katib's example, its parameters matched to the ConfigMap's defaultTrialTemplate (which uses
    learningRate and momentum; Katib's own file declares others, which Katib's webhook rejects too), its
    objective to what the stand-in trainer prints, and a small budget."""
    doc = yaml.safe_load(CONFIGMAP_EXPERIMENT.read_text())
    spec = doc["spec"]
    # The stand-in trainer prints loss=... lines that the StdOut collector reads (its accuracy is in a format
    # only a filter reads, as with Katib's image), so the objective is Katib's random.yaml's.
    spec["objective"] = {"type": "minimize", "objectiveMetricName": "loss"}
    spec["parameters"] = [
        {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.03"}},
        {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0.5", "max": "0.9"}},
    ]
    spec["trialTemplate"]["trialParameters"] = [
        {"name": "learningRate", "reference": "lr"},
        {"name": "momentum", "reference": "momentum"},
    ]
    spec.update(maxTrialCount=2, parallelTrialCount=2, maxFailedTrialCount=1)
    return write_experiment(tmp_path, doc, "trial-configmap-source.yaml")


def test_a_trial_template_from_an_applied_configmap(server: Server, tmp_path: Path) -> None:
    assert server.kubectl("apply", "-f", str(CONFIGMAP)).stdout.strip() == "configmap/trial-templates created"
    stored = json.loads(server.kubectl("get", "configmap", "trial-templates", "-n", "kubeflow", "-o", "json").stdout)
    assert "defaultTrialTemplate.yaml" in stored["data"]

    path = _configmap_experiment(tmp_path)
    assert server.kubectl("apply", "-f", str(path)).stdout.strip() == (
        "experiment.kubeflow.org/trial-configmap-source created"
    )
    status = server.wait_for("trial-configmap-source", namespace="kubeflow")["status"]
    assert status["trials"] == status["trialsSucceeded"] == 2, status

    trials = json.loads(server.kubectl("get", "trials", "-n", "kubeflow", "-o", "json").stdout)["items"]
    assert len(trials) == 2
    for trial in trials:
        assignments = {a["name"]: a["value"] for a in trial["spec"]["parameterAssignments"]}
        container = trial["spec"]["runSpec"]["spec"]["template"]["spec"]["containers"][0]
        assert container["name"] == "training-container"
        assert f"--lr={assignments['lr']}" in container["command"], container
        assert f"--momentum={assignments['momentum']}" in container["command"], container
        metrics = {m["name"] for m in trial["status"]["observation"]["metrics"]}
        assert metrics == {"loss"}, trial["status"]
    server.kubectl("delete", "configmap", "trial-templates", "-n", "kubeflow")


def test_invalid_experiments_name_each_field_and_create_nothing(server: Server, tmp_path: Path) -> None:
    refused = server.kubectl("apply", "-f", str(INVALID), check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'The Experiment "invalid-experiment" is invalid: spec.algorithm.algorithmName: unknown algorithm '
        '"invalid-algorithm"; known algorithms: random, grid, tpe, multivariate-tpe, cmaes, sobol, '
        "bayesianoptimization, hyperband, pbt, enas, darts"
    ), refused.stderr

    doc = yaml.safe_load(INVALID.read_text())
    doc["metadata"]["name"] = "two-errors"
    doc["spec"]["maxFailedTrialCount"] = 20  # more than maxTrialCount (13)
    refused = server.kubectl("apply", "-f", str(write_experiment(tmp_path, doc, "two.yaml")), check=False)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert lines[0].strip() == 'The Experiment "two-errors" is invalid:', refused.stderr
    assert sorted(lines[1:]) == [
        '* spec.algorithm.algorithmName: unknown algorithm "invalid-algorithm"; known algorithms: random, grid, '
        "tpe, multivariate-tpe, cmaes, sobol, bayesianoptimization, hyperband, pbt, enas, darts",
        "* spec.maxFailedTrialCount: should be less than or equal to spec.maxTrialCount (20 > 13)",
    ], refused.stderr

    # Two errors of the document's shape (types and enums) are both named too.
    doc = yaml.safe_load(INVALID.read_text())
    doc["metadata"]["name"] = "two-shape-errors"
    doc["spec"]["algorithm"]["algorithmName"] = "random"
    doc["spec"]["objective"]["type"] = "sideways"
    doc["spec"]["parameters"][0]["parameterType"] = "float"
    refused = server.kubectl("create", "-f", str(write_experiment(tmp_path, doc, "shape.yaml")), check=False)
    assert refused.returncode == 1
    assert "spec.objective.type: Input should be 'minimize' or 'maximize'" in refused.stderr, refused.stderr
    assert "spec.parameters[0].parameterType: Input should be 'double', 'int', 'discrete' or" in refused.stderr

    nothing = server.kubectl("get", "experiments", "-A")
    assert nothing.stderr.strip() == "No resources found", nothing
    for name in ("invalid-experiment", "two-errors", "two-shape-errors"):
        missing = server.kubectl("get", "experiment", name, "-n", "kubeflow", check=False)
        assert missing.returncode == 1
        assert f'experiments.kubeflow.org "{name}" not found' in missing.stderr, missing.stderr
    assert not (server.workdir / "experiments" / "kubeflow").exists()


def test_patching_the_budget_of_a_running_experiment(server: Server, tmp_path: Path) -> None:
    path = write_experiment(tmp_path, tiny_experiment("budget", trials=3, parallel=1, pause=1.0))
    server.kubectl("apply", "-f", str(path))
    _wait_for_trials(server, "budget", "default", 1)

    patched = server.kubectl("patch", "experiment", "budget", "--type", "merge", "-p", '{"spec":{"maxTrialCount":5}}',
                             "-o", "json")  # fmt: skip
    body = json.loads(patched.stdout)
    assert body["spec"]["maxTrialCount"] == 5
    assert "completionTime" not in body["status"], "the experiment ended before the patch: make its trials longer"

    refused = server.kubectl("patch", "experiment", "budget", "--type", "merge",
                             "-p", '{"spec":{"objective":{"type":"minimize"}}}', check=False)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'The Experiment "budget" is invalid: spec.objective: Forbidden: only spec.parallelTrialCount, '
        "spec.maxTrialCount and spec.maxFailedTrialCount are editable"
    ), refused.stderr
    with server.client() as http:
        response = http.patch(server.experiment_path("budget"), content=b'{"spec":{"objective":{"type":"minimize"}}}',
                              headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["details"]["causes"][0]["field"] == "spec.objective"

    server.kubectl("wait", "--for=condition=Succeeded", "--timeout=90s", "experiment/budget", timeout=100)
    jsonpath = "{.spec.maxTrialCount} {.spec.objective.type} {.status.trials} {.status.trialsSucceeded}"
    shown = server.kubectl("get", "experiment", "budget", "-o", f"jsonpath={jsonpath}").stdout
    assert shown == "5 maximize 5 5"
    names = server.kubectl("get", "trials", "-l", f"{EXPERIMENT_LABEL}=budget", "-o", "name").stdout.split()
    assert len(names) == len(set(names)) == 5 and all(n.startswith("trial.kubeflow.org/budget-") for n in names)
    table = _rows(server.kubectl("get", "trials", "-l", f"{EXPERIMENT_LABEL}=budget").stdout)
    assert [row[1:3] for row in table[1:]] == [["Succeeded", "True"]] * 5, table
    assert server.kubectl("get", "trials", "-l", f"{EXPERIMENT_LABEL}=other").stderr.strip() == (
        "No resources found in default namespace."
    )


def test_get_watch_follows_an_experiment_to_its_end(server: Server, tmp_path: Path) -> None:
    path = write_experiment(tmp_path, tiny_experiment("watched", trials=3, parallel=2, pause=0.5))
    server.kubectl("apply", "-f", str(path))
    command = [kubectl_binary(), "--kubeconfig", str(server.kubeconfig), "--cache-dir", str(server.cache_dir),
               "get", "experiment", "watched", "--watch", "--request-timeout=60s"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    timer = threading.Timer(60, proc.kill)
    timer.start()
    rows: list[list[str]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            rows.append(line.split())
            if rows[-1][:2] == ["watched", "Succeeded"]:
                break
    finally:
        timer.cancel()
        proc.kill()
        _, stderr = proc.communicate()
    assert rows and rows[0] == ["NAME", "TYPE", "STATUS", "AGE"], (rows, stderr)
    assert rows[-1][:3] == ["watched", "Succeeded", "True"], (rows, stderr)
    types = [row[1] for row in rows[1:]]
    assert set(types) <= {"Created", "Running", "Succeeded"} and types.count("Succeeded") == 1, rows
