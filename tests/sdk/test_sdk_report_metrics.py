"""Trial code written for Katib, unchanged: the official SDK's ``report_metrics`` (default address
``katib-db-manager.kubeflow:6789``, the namespace read as in a pod) inside trials of ``pykatib server`` and
``pykatib run``, with the Push collector, and ``KatibClient.get_trial_metrics`` reading the logs back from the
server's DB manager.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_support import make_experiment, opened_store, run_pykatib, write_experiment
from katib_sdk import KatibSdk
from pykatib.dbmanager.host import TRIAL_SITE_DIR
from sdk_support import results, sdk_env, sdk_script
from server_support import Server, running_server

# The trial: Katib's report_metrics with its defaults; it prints the namespace the SDK sees.
TRIAL = """
import sys
from kubeflow.katib import report_metrics
from kubeflow.katib.utils import utils
print("namespace=" + utils.get_current_k8s_namespace(), flush=True)
x = float(sys.argv[1])
report_metrics({"accuracy": x, "loss": 1 - x})
"""


def _experiment(katib_sdk: KatibSdk, name: str, namespace: str = "default") -> dict[str, Any]:
    doc = make_experiment(
        [str(katib_sdk.python), "-c", TRIAL, "${trialParameters.x}"],
        name=name,
        objective={"type": "maximize", "objectiveMetricName": "accuracy", "additionalMetricNames": ["loss"]},
        metricsCollectorSpec={"collector": {"kind": "Push"}},
        maxTrialCount=2,
        parallelTrialCount=2,
    )
    doc["metadata"]["namespace"] = namespace
    return doc


def _trial_log(workdir: Path, namespace: str, experiment: str, trial: str) -> str:
    return (workdir / "experiments" / namespace / experiment / "trials" / trial / "trial.log").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("sdk-report") / "home") as started:
        yield started


def test_report_metrics_in_a_server_trial_and_get_trial_metrics(server: Server, katib_sdk: KatibSdk) -> None:
    server.create(_experiment(katib_sdk, "sdk-push", "team-a"))
    done = server.wait_for("sdk-push", namespace="team-a")
    assert done["status"]["trialsSucceeded"] == 2, done["status"]
    trials = server.trials("sdk-push", "team-a")
    assert len(trials) == 2
    for trial in trials:
        x = float(next(a["value"] for a in trial["spec"]["parameterAssignments"] if a["name"] == "x"))
        metrics = {m["name"]: float(m["latest"]) for m in trial["status"]["observation"]["metrics"]}
        assert metrics == {"accuracy": x, "loss": 1 - x}, trial["status"]
        log = _trial_log(server.workdir, "team-a", "sdk-push", trial["metadata"]["name"])
        assert log.splitlines()[0] == "namespace=team-a", log

    names = [t["metadata"]["name"] for t in trials]
    body = """
    found = {}
    for name in TRIALS:
        logs = client.get_trial_metrics(name, namespace="team-a", db_manager_address=DB_MANAGER)
        found[name] = [[m.metric.name, m.metric.value, m.time_stamp] for m in logs]
    print("RESULT " + json.dumps({"logs": found}))
    """
    done_sdk = katib_sdk.run(
        sdk_script(body, TRIALS=names, DB_MANAGER=server.db_manager), env=sdk_env(server.kubeconfig)
    )
    logs = results(done_sdk)["logs"]
    for trial in trials:
        x = float(next(a["value"] for a in trial["spec"]["parameterAssignments"] if a["name"] == "x"))
        found = logs[trial["metadata"]["name"]]
        assert sorted((name, float(value)) for name, value, _ in found) == [("accuracy", x), ("loss", 1 - x)]
        assert all(stamp.endswith("Z") and stamp[10] == "T" for _, _, stamp in found), found


def test_report_metrics_in_a_pykatib_run_trial(katib_sdk: KatibSdk, tmp_path: Path) -> None:
    path = write_experiment(tmp_path, _experiment(katib_sdk, "sdk-push-run"))
    workdir = tmp_path / "work"
    code, status, stderr = run_pykatib(path, "--workdir", str(workdir))
    assert code == 0, stderr
    assert status is not None and status["trialsSucceeded"] == 2, json.dumps(status, indent=1)
    with opened_store(workdir) as store:
        record = store.get_experiment("sdk-push-run")
        assert record is not None
        trials = store.list_trials(record.id)
        assert len(trials) == 2
        for trial in trials:
            x = float(trial.parameter_assignments["x"])
            assert trial.objective_value == x
            rows = store.list_observations(trial.id)
            assert sorted((r.metric_name, r.value) for r in rows) == [("accuracy", x), ("loss", 1 - x)]
            log = _trial_log(workdir, "default", "sdk-push-run", trial.name)
            assert log.splitlines()[0] == "namespace=default", log


def test_the_shim_gives_the_trials_namespace_and_chains_to_the_next_sitecustomize(
    katib_sdk: KatibSdk, tmp_path: Path
) -> None:
    """The trial's sitecustomize gives the SDK the trial's namespace, then runs the sitecustomize it hides."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    code = """
    import json, os, sys
    from kubeflow.katib.utils import utils
    print("RESULT " + json.dumps({"namespace": utils.get_current_k8s_namespace(), "chained": os.environ.get("CHAINED"),
                                  "sitecustomize": sys.modules["sitecustomize"].__file__}))
    """
    env = {"PYTHONPATH": f"{TRIAL_SITE_DIR}:{other}", "PYKATIB_TRIAL_NAMESPACE": "team-b"}
    found = results(katib_sdk.run(code, env=env))
    assert found == {"namespace": "team-b", "chained": "yes", "sitecustomize": str(other / "sitecustomize.py")}
