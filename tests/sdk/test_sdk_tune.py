"""Katib's SDK ``KatibClient.tune()`` against ``pykatib server``: a Python function becomes a Job trial
(``bash -c`` writing the function to a file and running it with ``python -u``, after ``pip install`` of
``packages_to_install``). Katib's own e2e scenario (test/e2e/v1beta1/scripts/gh-actions/run-e2e-tune-api.py and
its verify.py checks), and packages installed from a private index into the experiment's environment."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from katib_sdk import KatibSdk
from pykatib.execute.trial_venv import TrialVenv
from pykatib.store import experiment_dir
from server_support import Server, running_server
from wheel_support import build_wheel, simple_index

TIMEOUT = 300

# Katib's get-started example, as its e2e test runs it (without the objective's 5 s sleep), then the checks of
# its verify.py that mean something here, and what the SDK reads back; printed as JSON for the test to judge.
E2E_TUNE = """
import json, sys
import kubeflow.katib as katib
from kubeflow.katib import KatibClient
from kubernetes import client

def objective(parameters):
    result = 4 * int(parameters["a"]) - float(parameters["b"]) ** 2
    print(f"result={result}")

katib_client = KatibClient(config_file=sys.argv[1], namespace="default")
name = "tune-experiment"
katib_client.tune(
    name=name,
    objective=objective,
    parameters={"a": katib.search.int(min=10, max=20), "b": katib.search.double(min=0.1, max=0.2)},
    objective_metric_name="result",
    max_trial_count=4,
    resources_per_trial={"cpu": "2"},
)
experiment = katib_client.wait_for_experiment_condition(name=name, timeout=int(sys.argv[2]))
status = experiment.status
optimal = status.current_optimal_trial
best = [m for m in optimal.observation.metrics if m.name == experiment.spec.objective.objective_metric_name]
suggestion = katib_client.get_suggestion(name)
# Katib's resume policy Never: the suggestion's Deployment and Service are gone once the experiment ends.
gone = []
for read in (client.AppsV1Api().read_namespaced_deployment, client.CoreV1Api().read_namespaced_service):
    try:
        read(f"{name}-{experiment.spec.algorithm.algorithm_name}", "default")
    except client.ApiException as exc:
        gone.append(exc.status)
trials = katib_client.list_trials(name)
print(json.dumps({
    "succeeded": [(c.reason, c.status) for c in status.conditions if c.type == "Succeeded"],
    "max_trial_count": experiment.spec.max_trial_count,
    "resume_policy": experiment.spec.resume_policy,
    "trials_succeeded": status.trials_succeeded,
    "trials_early_stopped": status.trials_early_stopped,
    "optimal": {p.name: p.value for p in optimal.parameter_assignments},
    "best": [{"min": m.min, "max": m.max, "latest": m.latest} for m in best],
    "suggestion": {c.type: c.status for c in suggestion.status.conditions},
    "suggestion_count": suggestion.status.suggestion_count,
    "gone": gone,
    "hyperparameters": katib_client.get_optimal_hyperparameters(name).to_dict(),
    "trials": [
        {"name": t.metadata.name, "phase": [c.type for c in t.status.conditions if c.status == "True"][-1],
         "assignments": {p.name: p.value for p in t.spec.parameter_assignments},
         "container": t.spec.run_spec["spec"]["template"]["spec"]["containers"][0]}
        for t in trials
    ],
}))
"""


def run_sdk_script(katib_sdk: KatibSdk, tmp_path: Path, source: str, *args: str) -> dict[str, Any]:
    """Run ``source`` from a file (tune() reads the objective's source with ``inspect``); its JSON output."""
    script = tmp_path / "sdk_script.py"
    script.write_text(textwrap.dedent(source))
    code = f"import runpy, sys; sys.argv = {[str(script), *args]!r}; runpy.run_path(sys.argv[0], run_name='__main__')"
    done = katib_sdk.run(code, timeout=TIMEOUT + 60)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def experiment_venv(server: Server, name: str) -> TrialVenv:
    return TrialVenv.of_experiment(experiment_dir(server.workdir, "default", name))


def test_katib_e2e_tune_scenario(katib_sdk: KatibSdk, tmp_path: Path) -> None:
    with running_server(tmp_path / "home") as server:
        report = run_sdk_script(katib_sdk, tmp_path, E2E_TUNE, str(server.kubeconfig), str(TIMEOUT))
        assert report["succeeded"] == [["ExperimentMaxTrialsReached", "True"]], server.log_tail()
        assert report["resume_policy"] == "Never"
        # verify.py: max trials reached means every trial completed.
        done = (report["trials_succeeded"] or 0) + (report["trials_early_stopped"] or 0)
        assert done == report["max_trial_count"] == 4
        # verify.py: the optimal trial has the objective's metric; a resume policy Never ends the suggestion.
        (best,) = report["best"]
        assert set(report["optimal"]) == {"a", "b"}
        a, b = int(report["optimal"]["a"]), float(report["optimal"]["b"])
        assert 10 <= a <= 20 and 0.1 <= b <= 0.2
        assert float(best["latest"]) == 4 * a - b**2
        assert report["suggestion"].get("Succeeded") == "True" and report["suggestion"].get("Running") != "True"
        assert report["suggestion_count"] == 4
        assert report["gone"] == [404, 404]
        # What the SDK reads back: the best hyperparameters, and every trial with its job as tune() made it.
        hyper = report["hyperparameters"]
        assert {p["name"]: p["value"] for p in hyper["parameter_assignments"]} == report["optimal"]
        assert [m["name"] for m in hyper["observation"]["metrics"]] == ["result"]
        assert [t["phase"] for t in report["trials"]] == ["Succeeded"] * 4
        for trial in report["trials"]:
            container = trial["container"]
            assert container["name"] == "training-container" and container["command"] == ["bash", "-c"]
            # resources_per_trial is recorded in the trial's job (nothing is scheduled by it here).
            assert container["resources"] == {"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}
        shown = json.loads(server.kubectl("get", "trial", report["trials"][0]["name"], "-o", "json").stdout)
        containers = shown["spec"]["runSpec"]["spec"]["template"]["spec"]["containers"]
        assert containers[0]["resources"]["requests"] == {"cpu": "2"}
        # Its trials ran the experiment's own python.
        venv = experiment_venv(server, "tune-experiment")
        assert venv.ready()


PACKAGES_TUNE = """
import json, sys
import kubeflow.katib as katib
from kubeflow.katib import KatibClient

def objective(parameters):
    import sys
    import katibprobe
    print(f"where={katibprobe.__file__} python={sys.executable}")
    print(f"result={katibprobe.score(float(parameters['lr']))}")

katib_client = KatibClient(config_file=sys.argv[1], namespace="default")
katib_client.tune(
    name="tune-packages",
    objective=objective,
    parameters={"lr": katib.search.double(min=0.01, max=0.05)},
    objective_metric_name="result",
    max_trial_count=2,
    parallel_trial_count=2,
    packages_to_install=["katibprobe==1.0"],
    pip_index_urls=[sys.argv[2]],
)
experiment = katib_client.wait_for_experiment_condition(name="tune-packages", timeout=int(sys.argv[3]))
print(json.dumps({
    "succeeded": [c.status for c in experiment.status.conditions if c.type == "Succeeded"],
    "trials_succeeded": experiment.status.trials_succeeded,
    "trials": [t.metadata.name for t in katib_client.list_trials("tune-packages")],
}))
"""


def test_tune_installs_packages_into_the_experiments_environment(katib_sdk: KatibSdk, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist", "katibprobe", "1.0", "def score(lr):\n    return 100 * lr\n")
    index = simple_index(tmp_path / "index", [wheel])
    with running_server(tmp_path / "home") as server:
        report = run_sdk_script(katib_sdk, tmp_path, PACKAGES_TUNE, str(server.kubeconfig), index, str(TIMEOUT))
        assert report["succeeded"] == ["True"], server.log_tail()
        assert report["trials_succeeded"] == 2  # two trials installed at once, one pip at a time
        venv = experiment_venv(server, "tune-packages")
        installed = venv.site_packages / "katibprobe.py"
        assert installed.is_file()
        for trial in report["trials"]:
            log = (venv.root.parent / "trials" / trial / "trial.log").read_text()
            assert f"where={installed} python={venv.python}" in log.splitlines(), log
        # Never in the Python running pykatib (nor in the SDK's).
        probe = subprocess.run([sys.executable, "-c", "import katibprobe"], capture_output=True, text=True)
        assert probe.returncode != 0
        # Deleting the experiment removes its environment with its other files.
        server.kubectl("delete", "experiment", "tune-packages")
        assert not venv.root.exists()
