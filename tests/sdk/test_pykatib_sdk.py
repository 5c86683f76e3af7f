"""``import pykatib as katib``: Katib's SDK calls against a real ``pykatib server``, without Kubernetes.

Katib's e2e tune scenario, an experiment built from the V1beta1 models (budget edited, resumed to the new
count), logs, delete, and the ways it goes wrong (a missing experiment, a failing objective, one that never
prints its metric, a timeout, an unreachable server); ``report_metrics`` and ``get_trial_metrics`` over the
server's DB manager; an experiment created by a process that exits (the server it started runs it on).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pykatib as katib
from pykatib.client.connection import read_server_file
from pykatib.sdk._model import serialize
from sdk_support import assert_no_trial_processes, wait_for_processes
from server_support import PROJECT, Server, clean_env, running_server

TIMEOUT = 120  # seconds an experiment of a few short trials may take (a guard, not a measure)


def objective(parameters):
    result = 4 * int(parameters["a"]) - float(parameters["b"]) ** 2
    print(f"result={result}")


def failing(parameters):
    raise RuntimeError(f"boom at a={parameters['a']}")


def silent(parameters):
    print("trained, but no metric printed", parameters["a"])


def slow(parameters):
    import time

    print("started", parameters["a"], flush=True)
    time.sleep(600)


PARAMETERS = {"a": katib.search.int(min=10, max=20), "b": katib.search.double(min=0.1, max=0.2)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("pykatib-sdk") / "home") as started:
        yield started


@pytest.fixture
def client(server: Server) -> Iterator[Any]:
    found = katib.KatibClient(host=server.local_url, token=server.token)
    yield found
    server.delete_all()
    found.close()


def _metric(trial: Any, name: str) -> float:
    return float(next(m.latest for m in trial.status.observation.metrics if m.name == name))


def _assignments(trial: Any) -> dict[str, str]:
    return {p.name: p.value for p in trial.spec.parameter_assignments}


def test_katib_e2e_tune_scenario(client: Any) -> None:
    name = "tune-experiment"
    client.tune(name=name, objective=objective, parameters=PARAMETERS, objective_metric_name="result",
                max_trial_count=4, resources_per_trial={"cpu": "2"})  # fmt: skip
    experiment = client.wait_for_experiment_condition(name=name, timeout=TIMEOUT, polling_interval=1)

    assert isinstance(experiment, katib.V1beta1Experiment)
    succeeded = [c for c in experiment.status.conditions if c.type == "Succeeded"]
    assert [(c.status, c.reason) for c in succeeded] == [("True", "ExperimentMaxTrialsReached")]
    assert experiment.status.trials_succeeded == 4
    container = experiment.spec.trial_template.trial_spec["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["command"]) == ("training-container", ["bash", "-c"])
    assert (client.is_experiment_created(name), client.is_experiment_succeeded(name)) == (True, True)
    assert (client.is_experiment_running(name), client.is_experiment_failed(name)) == (False, False)
    assert client.is_experiment_restarting(name) is False
    assert name in [e.metadata.name for e in client.list_experiments()]

    trials = client.list_trials(name)
    assert len(trials) == 4 and all(isinstance(t, katib.V1beta1Trial) for t in trials)
    for trial in trials:
        a, b = _assignments(trial)["a"], _assignments(trial)["b"]
        assert 10 <= int(a) <= 20 and 0.1 <= float(b) <= 0.2
        assert _metric(trial, "result") == pytest.approx(4 * int(a) - float(b) ** 2)
    optimal = client.get_optimal_hyperparameters(name)
    assert isinstance(optimal, katib.V1beta1OptimalTrial)
    assert optimal.best_trial_name == max(trials, key=lambda t: _metric(t, "result")).metadata.name
    assert {p.name for p in optimal.parameter_assignments} == {"a", "b"}

    details = client.get_success_trial_details(name)
    assert sorted(d["name"] for d in details) == sorted(t.metadata.name for t in trials)
    assert all(set(d) == {"name", "parameter_assignments", "metrics"} for d in details)
    assert isinstance(details[0]["parameter_assignments"][0], katib.V1beta1ParameterAssignment)
    assert details[0]["metrics"][0].name == "result"

    best = client.get_trial(optimal.best_trial_name)
    line = f"result={best.status.observation.metrics[0].latest}"
    assert line in list(client.get_job_logs(name, best.metadata.name))
    assert line in list(client.get_job_logs(name, best.metadata.name, follow=True))
    suggestion = client.get_suggestion(name)
    assert isinstance(suggestion, katib.V1beta1Suggestion) and suggestion.status.suggestion_count == 4
    assert [s.metadata.name for s in client.list_suggestions()] == [name]


def _experiment(name: str, command: list[str], **spec: Any) -> Any:
    """A V1beta1Experiment built from the models: maximize accuracy over x in [0.1, 0.9], a Job trial."""
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "python:3.12", "command": command}],
                }
            }
        },
    }
    return katib.V1beta1Experiment(
        api_version="kubeflow.org/v1beta1",
        kind="Experiment",
        metadata=katib.V1ObjectMeta(name=name),
        spec=katib.V1beta1ExperimentSpec(
            objective=katib.V1beta1ObjectiveSpec(type="maximize", objective_metric_name="accuracy"),
            algorithm=katib.V1beta1AlgorithmSpec(
                algorithm_name="random",
                algorithm_settings=[katib.V1beta1AlgorithmSetting(name="random_state", value="3")],
            ),
            parameters=[katib.V1beta1ParameterSpec(name="x", parameter_type="double",
                                                   feasible_space=katib.V1beta1FeasibleSpace(min="0.1", max="0.9"))],
            trial_template=katib.V1beta1TrialTemplate(
                primary_container_name="main", trial_spec=job,
                trial_parameters=[katib.V1beta1TrialParameterSpec(name="x", reference="x")],
            ),
            **spec,
        ),
    )  # fmt: skip


PRINT_ACCURACY = ["python3", "-c", "print('training'); print('accuracy=${trialParameters.x}')"]


def test_models_budget_resume_logs_and_delete(client: Any) -> None:
    name = "budget"
    experiment = _experiment(name, PRINT_ACCURACY, max_trial_count=2, parallel_trial_count=2,
                             resume_policy="LongRunning")  # fmt: skip
    assert client.create_experiment(experiment) is None
    with pytest.raises(RuntimeError, match=f"A Katib Experiment with the name default/{name} already exists"):
        client.create_experiment(experiment)
    assert client.wait_for_experiment_condition(name, timeout=TIMEOUT, polling_interval=1).status.trials == 2

    client.edit_experiment_budget(name, max_trial_count=4)
    assert client.get_experiment(name).spec.max_trial_count == 4
    resumed = client.wait_for_experiment_condition(name, timeout=TIMEOUT, polling_interval=1)
    assert (resumed.status.trials, resumed.status.trials_succeeded) == (4, 4)
    assert len(client.list_trials(name)) == 4

    trial = client.list_trials(name)[0]
    x = _assignments(trial)["x"]
    assert list(client.get_job_logs(name, trial.metadata.name)) == ["training", f"accuracy={x}"]
    assert list(client.get_job_logs(name, trial.metadata.name, follow=True)) == ["training", f"accuracy={x}"]

    client.delete_experiment(name)
    with pytest.raises(RuntimeError, match=f"Failed to get Katib Experiment: default/{name}"):
        client.get_experiment(name)
    assert client.list_trials(name) == []
    with pytest.raises(RuntimeError, match=f"Failed to delete Katib Experiment: default/{name}"):
        client.delete_experiment(name)


def test_dicts_and_the_kubernetes_clients_models_are_accepted(client: Any) -> None:
    kubernetes = pytest.importorskip("kubernetes.client")
    experiment = _experiment("foreign", PRINT_ACCURACY, max_trial_count=1, parallel_trial_count=1)
    experiment.metadata = kubernetes.V1ObjectMeta(name="foreign", labels={"team": "a"})
    client.create_experiment(experiment)
    as_json = serialize(_experiment("as-dict", PRINT_ACCURACY, max_trial_count=1, parallel_trial_count=1))
    client.create_experiment(as_json)
    for name in ("foreign", "as-dict"):
        assert client.wait_for_experiment_condition(name, timeout=TIMEOUT, polling_interval=1).status.trials == 1
    assert client.get_experiment("foreign").metadata.labels == {"team": "a"}


def test_a_failing_objective_fails_the_experiment(client: Any) -> None:
    name = "failing"
    client.tune(name=name, objective=failing, parameters=PARAMETERS, objective_metric_name="result",
                max_trial_count=4, parallel_trial_count=1, max_failed_trial_count=1)  # fmt: skip
    with pytest.raises(RuntimeError, match=f"Experiment: default/{name} is Failed"):
        client.wait_for_experiment_condition(name, timeout=TIMEOUT, polling_interval=1)
    failed = client.wait_for_experiment_condition(name, expected_condition="Failed", timeout=TIMEOUT)
    assert failed.status.trials_failed >= 1 and client.is_experiment_failed(name)
    assert client.get_optimal_hyperparameters(name) is None
    trial = next(
        t for t in client.list_trials(name) if ("Failed", "True") in [(c.type, c.status) for c in t.status.conditions]
    )
    logs = list(client.get_job_logs(name, trial.metadata.name))
    assert any(line.startswith("RuntimeError: boom at a=") for line in logs), logs


def test_an_objective_without_its_metric(client: Any) -> None:
    name = "silent"
    client.tune(name=name, objective=silent, parameters=PARAMETERS, objective_metric_name="result",
                max_trial_count=2, parallel_trial_count=2)  # fmt: skip
    experiment = client.wait_for_experiment_condition(name, timeout=TIMEOUT, polling_interval=1)
    assert experiment.status.trial_metrics_unavailable == 2
    assert client.get_optimal_hyperparameters(name) is None
    assert client.get_success_trial_details(name) == []
    for trial in client.list_trials(name):
        assert ("MetricsUnavailable", "True") in [(c.type, c.status) for c in trial.status.conditions]


def test_wait_times_out_and_delete_stops_the_trials(client: Any, server: Server) -> None:
    name = "slow"
    client.tune(name=name, objective=slow, parameters=PARAMETERS, objective_metric_name="result",
                max_trial_count=2, parallel_trial_count=2)  # fmt: skip
    wait_for_processes(server, name, 2)
    with pytest.raises(TimeoutError, match=f"Timeout waiting for Experiment: default/{name} to reach Succeeded"):
        client.wait_for_experiment_condition(name, timeout=1, polling_interval=1)
    client.delete_experiment(name)
    assert_no_trial_processes(server, name)


def test_katibs_errors(client: Any) -> None:
    with pytest.raises(RuntimeError, match="Failed to get Katib Experiment: default/nope"):
        client.get_experiment("nope")
    with pytest.raises(RuntimeError, match="Failed to get Katib Trial: other/nope"):
        client.get_trial("nope", namespace="other")
    with pytest.raises(RuntimeError, match="Failed to get Katib Experiment: default/nope"):
        client.edit_experiment_budget("nope", max_trial_count=3)
    with pytest.raises(ValueError, match="You have to set max_trial_count"):
        client.edit_experiment_budget("nope")
    with pytest.raises(ValueError, match="Invalid configuration"):
        client.tune(name="x")
    with pytest.raises(ValueError, match="pykatib does not support tune"):
        client.tune(name="x", model_provider_parameters=object(), dataset_provider_parameters=object(),
                    trainer_parameters=object())  # fmt: skip
    with pytest.raises(ValueError, match="The function args must have only 'parameters' dictionary"):
        client.tune(name="x", objective=lambda a, b: None, parameters=PARAMETERS)
    with pytest.raises(ValueError, match="must have a name or generateName"):
        client.create_experiment(katib.V1beta1Experiment(metadata=katib.V1ObjectMeta()))
    invalid = _experiment("invalid", PRINT_ACCURACY, max_trial_count=1, parallel_trial_count=3)
    with pytest.raises(RuntimeError, match=r"default/invalid .*parallelTrialCount"):
        client.create_experiment(invalid)
    with pytest.raises(ValueError, match="Trial name is required"):
        list(client.get_job_logs("e", ""))
    with pytest.raises(RuntimeError, match="Trial nope or associated job not found"):
        list(client.get_job_logs("e", "nope"))
    assert client.list_experiments(namespace="empty") == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_server() -> None:
    client = katib.KatibClient(host=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(RuntimeError, match=r"Failed to get Katib Experiment: default/e \(cannot reach the pykatib"):
        client.get_experiment("e")
    with pytest.raises(RuntimeError, match="Failed to list Katib Experiments in namespace: default"):
        client.list_experiments()
    with pytest.raises(RuntimeError, match="expected a URL"):
        katib.KatibClient(host="localhost:8090")


def test_token_ca_and_kubeconfig(tmp_path: Path) -> None:
    with running_server(tmp_path / "home", "--token", "s3cret") as secure:
        assert katib.KatibClient(host=secure.local_url, token="s3cret", ca_cert=secure.ca).list_experiments() == []
        with pytest.raises(RuntimeError, match="refused the token"):
            katib.KatibClient(host=secure.local_url, token="wrong", ca_cert=secure.ca).list_experiments()
        assert katib.KatibClient(config_file=str(secure.kubeconfig)).list_experiments() == []
        written = tmp_path / "written.kubeconfig"  # certificate-authority-data, as `pykatib kubeconfig` writes it
        subprocess.run([sys.executable, "-m", "pykatib.cli", "kubeconfig", "-o", str(written)], env=secure.env(),
                       check=True, capture_output=True)  # fmt: skip
        assert katib.KatibClient(config_file=str(written), namespace="kubeflow").list_experiments() == []
        kubernetes = pytest.importorskip("kubernetes.client")
        configuration = kubernetes.Configuration(host=secure.local_url, api_key={"authorization": "Bearer s3cret"})
        configuration.ssl_ca_cert = secure.ca
        assert katib.KatibClient(client_configuration=configuration).list_experiments() == []


def test_report_metrics_and_get_trial_metrics_over_grpc(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that is not a pykatib trial reports for a running Push trial through the server's DB manager
    (the default address: the local server's, from PYKATIB_HOME); get_trial_metrics reads it back."""
    monkeypatch.setenv("PYKATIB_HOME", str(server.home))
    for variable in ("PYKATIB_SERVER", "PYKATIB_TOKEN", "PYKATIB_TRIAL_DIR", "grpc_proxy"):
        monkeypatch.delenv(variable, raising=False)
    client = katib.KatibClient()  # the local server, found through PYKATIB_HOME
    assert client.url == server.local_url
    go = tmp_path / "go"
    wait = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.05)\nprint('${{trialParameters.x}}')"
    experiment = _experiment("pushed", ["python3", "-c", wait], max_trial_count=1, parallel_trial_count=1,
                             metrics_collector_spec=katib.V1beta1MetricsCollectorSpec(
                                 collector=katib.V1beta1CollectorSpec(kind="Push")))  # fmt: skip
    experiment.spec.objective.additional_metric_names = ["loss"]
    client.create_experiment(experiment)
    try:
        wait_for_processes(server, "pushed", 1)
        trial = client.list_trials("pushed")[0].metadata.name
        monkeypatch.setenv("KATIB_TRIAL_NAME", trial)
        katib.report_metrics({"accuracy": 0.75, "loss": "0.5"})
    finally:
        go.touch()
    done = client.wait_for_experiment_condition("pushed", timeout=TIMEOUT, polling_interval=1)
    assert done.status.current_optimal_trial.observation.metrics[0].latest == "0.75"
    logs = client.get_trial_metrics(trial)
    assert sorted((m.metric.name, float(m.metric.value)) for m in logs) == [("accuracy", 0.75), ("loss", 0.5)]
    assert len(client.get_trial_metrics(trial, db_manager_address=server.db_manager)) == 2
    with pytest.raises(RuntimeError, match="Unable to get metrics for Trial default/nope"):
        client.get_trial_metrics("nope", timeout=10)
    server.delete_all()


def test_report_metrics_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("KATIB_TRIAL_NAME", "PYKATIB_TRIAL_DIR", "grpc_proxy"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ValueError, match="The Trial name is not passed to environment variables"):
        katib.report_metrics({"accuracy": 1})
    monkeypatch.setenv("KATIB_TRIAL_NAME", "t")
    with pytest.raises(ValueError, match="Invalid value 'high' for metric 'accuracy'"):
        katib.report_metrics({"accuracy": "high"})
    with pytest.raises(RuntimeError, match="Unable to push metrics to Katib DB for Trial t"):
        katib.report_metrics({"accuracy": 1}, db_manager_address=f"127.0.0.1:{_closed_port()}", timeout=5)
    # Inside a pykatib trial: a line in the trial's Push file, no server needed (today's behaviour).
    monkeypatch.setenv("PYKATIB_TRIAL_DIR", str(tmp_path))
    katib.report_metrics({"accuracy": 1})
    assert json.loads((tmp_path / "pushed-metrics.jsonl").read_text())["accuracy"] == "1.0"


NOTEBOOK_PROCESS = """
import pykatib as katib

def objective(parameters):
    print(f"result={int(parameters['a'])}")

katib.KatibClient().tune(name="outlives", objective=objective, parameters={"a": katib.search.int(min=1, max=9)},
                         objective_metric_name="result", max_trial_count=3, parallel_trial_count=1)
print("created")
"""


def test_an_experiment_outlives_the_process_that_created_it(tmp_path: Path) -> None:
    """The process finds no server, starts one (as ``pykatib apply`` does), creates the experiment and exits;
    the server runs it to its end. Then that server is stopped by its pid, and nothing of it is left."""
    home = tmp_path / "home"
    script = tmp_path / "notebook.py"
    script.write_text(textwrap.dedent(NOTEBOOK_PROCESS))
    env = clean_env(home, PYTHONPATH=os.pathsep.join([str(PROJECT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT)  # fmt: skip
    info = read_server_file(home)
    assert done.returncode == 0 and done.stdout.strip() == "created", done.stderr
    assert info is not None and _running(info.pid)
    try:
        client = katib.KatibClient(home=home)
        experiment = client.wait_for_experiment_condition("outlives", timeout=TIMEOUT, polling_interval=1)
        assert experiment.status.trials_succeeded == 3
    finally:
        os.kill(info.pid, signal.SIGTERM)  # the server that process started, by its pid
        deadline = time.monotonic() + 30
        while _running(info.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert not _running(info.pid), (home / "server.log").read_text()[-2000:]


def _running(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped yet has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return state != "Z"
