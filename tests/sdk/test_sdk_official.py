"""Katib's official SDK (``kubeflow-katib``, unchanged, in its own environment) against ``pykatib server``: an
experiment built from the SDK's models taken through every ``KatibClient`` call a user makes on it, and the
errors the SDK raises, each checked against what the server serves over HTTP and against the trial processes
left (none, once an experiment has ended or is deleted).

One server serves the module, with a bearer token (the SDK's Kubernetes client sends it over TLS, from the
kubeconfig); each test runs its own experiments and deletes them when it ends.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from katib_sdk import KatibSdk
from sdk_support import (
    assert_no_trial_processes,
    assignment,
    conditions,
    metric,
    results,
    sdk_env,
    sdk_script,
    true_conditions,
    wait_for_processes,
)
from server_support import EXPERIMENT_LABEL, GROUP_VERSION, TRIAL_CODE, Server, running_server, write_kubeconfig

PAUSE = "0.3"  # seconds each trial sleeps before it reports
# A trial that prints "training", waits until the file "release" exists in the directory argv[2] (an existing
# directory: pykatib keeps its path, where it would redirect a path that does not exist into the trial's own root),
# then reports accuracy = its x.
GATED_CODE = (
    "import os, sys, time\nprint('training', flush=True)\n"
    "while not os.path.exists(os.path.join(sys.argv[2], 'release')):\n    time.sleep(0.05)\n"
    "print('accuracy=' + sys.argv[1])"
)
COLLECTOR = "metrics-logger-and-collector"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("sdk-official") / "home", "--token", "sdk-token") as started:
        yield started


@pytest.fixture(autouse=True)
def _clean(server: Server) -> Iterator[None]:
    yield
    server.delete_all()


def _run(katib_sdk: KatibSdk, server: Server, body: str, **constants: Any) -> dict[str, Any]:
    done = katib_sdk.run(sdk_script(body, **constants), env=sdk_env(server.kubeconfig))
    return results(done)


def _pods(server: Server, selector: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get("/api/v1/namespaces/default/pods", params={"labelSelector": selector})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _status_code(server: Server, path: str) -> int:
    with server.client() as http:
        return http.get(path).status_code


def _by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects}


def _best(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The trial with the highest accuracy (the objective maximizes it)."""
    return max(trials, key=lambda t: float(metric(t)["latest"]))


def test_experiment_from_models_through_every_call(server: Server, katib_sdk: KatibSdk) -> None:
    """create, wait, the status calls, suggestions, trials, the optimal trial and logs; then a raised budget
    resumes it (LongRunning: Restarting, then Succeeded with the new count); then delete removes it all."""
    name = "sdk-models"
    command = ["python3", "-c", TRIAL_CODE, "${trialParameters.x}", PAUSE]
    first = _run(katib_sdk, server, """
        client.create_experiment(experiment(NAME, COMMAND, trials=2, parallel=2, resume_policy="LongRunning"))
        waited = client.wait_for_experiment_condition(NAME, timeout=120, polling_interval=1)
        trials = client.list_trials(NAME)
        names = sorted(t.metadata.name for t in trials)
        emit(
            waited=waited,
            succeeded=client.is_experiment_succeeded(NAME),
            conditions=client.get_experiment_conditions(NAME),
            experiments=[e.metadata.name for e in client.list_experiments()],
            suggestion=client.get_suggestion(NAME),
            # The SDK lists experiments here (constants.EXPERIMENT_PLURAL) and reads them as Suggestions.
            suggestions=[s.metadata.name for s in client.list_suggestions()],
            trials=trials,
            got={n: client.get_trial(n) for n in names},
            success=client.get_success_trial_details(NAME),
            optimal=client.get_optimal_hyperparameters(NAME),
            logs={n: list(client.get_job_logs(NAME, n)) for n in names},
            followed={n: list(client.get_job_logs(NAME, n, follow=True)) for n in names},
        )
    """, NAME=name, COMMAND=command)  # fmt: skip

    served = server.experiment(name)
    http_trials = server.trials(name)
    names = sorted(t["metadata"]["name"] for t in http_trials)
    assert len(names) == 2
    assert first["succeeded"] is True
    assert first["waited"]["metadata"]["name"] == name and "Succeeded" in true_conditions(first["waited"])
    assert (
        conditions(first["conditions"])
        == conditions(served)
        == [
            ("Created", "True", "ExperimentCreated"),
            ("Running", "False", "ExperimentMaxTrialsReached"),
            ("Succeeded", "True", "ExperimentMaxTrialsReached"),
        ]
    )
    assert name in first["experiments"] and name in first["suggestions"]

    # Each trial reported accuracy = its x: the SDK's trials are the server's, values included.
    for trial in http_trials:
        x = assignment(trial)
        assert metric(trial) == {"name": "accuracy", "min": x, "max": x, "latest": x}, trial
    sdk_trials = _by_name(first["trials"])
    assert sorted(sdk_trials) == names
    for trial in http_trials:
        trial_name = trial["metadata"]["name"]
        for sdk_trial in (sdk_trials[trial_name], first["got"][trial_name]):
            assert sdk_trial["spec"]["parameterAssignments"] == trial["spec"]["parameterAssignments"]
            assert sdk_trial["status"]["observation"] == trial["status"]["observation"]
            assert conditions(sdk_trial) == conditions(trial) and "Succeeded" in true_conditions(sdk_trial)
            assert sdk_trial["metadata"]["labels"][EXPERIMENT_LABEL] == name

    suggestion = first["suggestion"]
    assert suggestion["metadata"]["name"] == name and suggestion["status"]["suggestionCount"] == 2
    assert {s["name"]: s["parameterAssignments"] for s in suggestion["status"]["suggestions"]} == {
        t["metadata"]["name"]: t["spec"]["parameterAssignments"] for t in http_trials
    }

    assert sorted(d["name"] for d in first["success"]) == names
    for detail in first["success"]:
        trial = _by_name(http_trials)[detail["name"]]
        assert detail["parameter_assignments"] == trial["spec"]["parameterAssignments"]
        assert detail["metrics"] == trial["status"]["observation"]["metrics"]

    best = _best(http_trials)
    assert first["optimal"] == served["status"]["currentOptimalTrial"]
    assert first["optimal"]["bestTrialName"] == best["metadata"]["name"]
    assert first["optimal"]["parameterAssignments"] == best["spec"]["parameterAssignments"]
    assert first["optimal"]["observation"]["metrics"] == best["status"]["observation"]["metrics"]

    for trial in http_trials:
        expected = ["training", f"accuracy={assignment(trial)}"]
        assert first["logs"][trial["metadata"]["name"]] == expected
        assert first["followed"][trial["metadata"]["name"]] == expected

    # A raised budget: Katib's webhook lets a LongRunning experiment that reached maxTrialCount run on.
    second = _run(katib_sdk, server, """
        client.edit_experiment_budget(NAME, max_trial_count=4)
        edited = client.get_experiment(NAME)
        waited = client.wait_for_experiment_condition(NAME, timeout=120, polling_interval=1)
        emit(edited=edited, waited=waited, success=client.get_success_trial_details(NAME),
             optimal=client.get_optimal_hyperparameters(NAME), trials=client.list_trials(NAME))
        client.delete_experiment(NAME)
        emit(missing=failure(lambda: client.get_experiment(NAME)), after=client.list_trials(NAME),
             experiments=[e.metadata.name for e in client.list_experiments()])
    """, NAME=name)  # fmt: skip

    edited = second["edited"]
    assert edited["spec"]["maxTrialCount"] == 4
    assert "Succeeded" not in true_conditions(edited)
    assert true_conditions(edited) & {"Restarting", "Running"}, conditions(edited)
    waited = second["waited"]
    assert "Succeeded" in true_conditions(waited)
    assert conditions(waited)[-1] == ("Succeeded", "True", "ExperimentMaxTrialsReached")
    assert waited["status"]["trials"] == waited["status"]["trialsSucceeded"] == 4
    resumed = _by_name(second["trials"])
    assert len(resumed) == 4 and set(names) <= set(resumed)
    assert sorted(d["name"] for d in second["success"]) == sorted(resumed)
    assert second["optimal"]["bestTrialName"] == _best(list(resumed.values()))["metadata"]["name"]

    # Deleted: the SDK no longer finds it, and neither its trials, pods, suggestion nor files are left.
    assert second["missing"] == ["RuntimeError", f"Failed to get Katib Experiment: default/{name}"]
    assert second["after"] == [] and name not in second["experiments"]
    assert server.trials(name) == []
    assert _pods(server, f"{EXPERIMENT_LABEL}={name}") == []
    assert _status_code(server, f"/apis/{GROUP_VERSION}/namespaces/default/suggestions/{name}") == 404
    assert not (server.workdir / "experiments" / "default" / name / "trials").exists()
    assert_no_trial_processes(server, name)


def test_follow_logs_while_the_trial_runs(server: Server, katib_sdk: KatibSdk, tmp_path: Path) -> None:
    """``get_job_logs(follow=True)`` yields each line as the trial prints it and ends when the trial does: the
    trial prints "training", then waits until the script has seen that line through the stream."""
    name = "sdk-follow"
    release = tmp_path / "release"
    command = ["python3", "-c", GATED_CODE, "${trialParameters.x}", str(tmp_path)]
    found = _run(katib_sdk, server, """
        import pathlib, threading, time

        client.create_experiment(experiment(NAME, COMMAND, trials=1, parallel=1))
        trials = []
        while not trials:
            trials = client.list_trials(NAME)
            time.sleep(0.1)
        trial = trials[0].metadata.name
        lines = []

        def follow():
            for line in client.get_job_logs(NAME, trial, follow=True):
                lines.append(line)

        follower = threading.Thread(target=follow)
        follower.start()
        while "training" not in lines:  # the first line, streamed while the trial still waits
            assert follower.is_alive(), lines
            time.sleep(0.05)
        seen_first = list(lines)
        pathlib.Path(RELEASE).touch()
        follower.join()
        waited = client.wait_for_experiment_condition(NAME, timeout=60, polling_interval=1)
        emit(trial=trial, seen_first=seen_first, lines=lines, got=client.get_trial(trial), waited=waited)
    """, NAME=name, COMMAND=command, RELEASE=str(release))  # fmt: skip

    x = assignment(found["got"])
    assert found["seen_first"] == ["training"]
    assert found["lines"] == ["training", f"accuracy={x}"]
    assert "Succeeded" in true_conditions(found["got"]) and "Succeeded" in true_conditions(found["waited"])
    assert_no_trial_processes(server, name)


def test_wait_times_out_and_delete_stops_running_trials(server: Server, katib_sdk: KatibSdk, tmp_path: Path) -> None:
    """``wait_for_experiment_condition`` past its timeout raises TimeoutError and leaves the experiment running;
    ``delete_experiment`` then stops its trials' processes and removes it."""
    name = "sdk-timeout"
    command = ["python3", "-c", GATED_CODE, "${trialParameters.x}", str(tmp_path)]  # never released
    found = _run(katib_sdk, server, """
        client.create_experiment(experiment(NAME, COMMAND, trials=2, parallel=2))
        running = client.wait_for_experiment_condition(NAME, expected_condition="Running", timeout=60,
                                                       polling_interval=1)
        emit(running=running, timed_out=failure(
            lambda: client.wait_for_experiment_condition(NAME, timeout=2, polling_interval=1)))
    """, NAME=name, COMMAND=command)  # fmt: skip

    assert found["timed_out"] == [
        "TimeoutError",
        f"Timeout waiting for Experiment: default/{name} to reach Succeeded state",
    ]
    assert "Running" in true_conditions(found["running"])
    wait_for_processes(server, name, 2)  # both trials run (and wait for a file that never comes)
    assert {p["status"]["phase"] for p in _pods(server, f"{EXPERIMENT_LABEL}={name}")} <= {"Pending", "Running"}

    deleted = _run(katib_sdk, server, """
        client.delete_experiment(NAME)
        emit(missing=failure(lambda: client.get_experiment(NAME)), trials=client.list_trials(NAME))
    """, NAME=name)  # fmt: skip
    assert deleted["missing"] == ["RuntimeError", f"Failed to get Katib Experiment: default/{name}"]
    assert deleted["trials"] == []
    assert_no_trial_processes(server, name)
    assert _pods(server, f"{EXPERIMENT_LABEL}={name}") == []


def test_failed_experiment(server: Server, katib_sdk: KatibSdk) -> None:
    """Trials that exit 1 with maxFailedTrialCount 1: the experiment fails (ExperimentFailed), waiting for
    Succeeded raises RuntimeError as Katib's SDK does, waiting for Failed returns it; nothing is left running."""
    name = "sdk-failed"
    command = ["python3", "-c", "import sys; print('failing with', sys.argv[1]); sys.exit(1)", "${trialParameters.x}"]
    found = _run(katib_sdk, server, """
        client.create_experiment(experiment(NAME, COMMAND, trials=3, parallel=2, max_failed_trial_count=1))
        emit(
            error=failure(lambda: client.wait_for_experiment_condition(NAME, timeout=120, polling_interval=1)),
            failed=client.is_experiment_failed(NAME),
            succeeded=client.is_experiment_succeeded(NAME),
            waited=client.wait_for_experiment_condition(NAME, expected_condition="Failed", timeout=10,
                                                        polling_interval=1),
            success=client.get_success_trial_details(NAME),
            optimal=client.get_optimal_hyperparameters(NAME),
        )
    """, NAME=name, COMMAND=command)  # fmt: skip

    kind, message = found["error"]
    assert kind == "RuntimeError" and message.startswith(f"Experiment: default/{name} is Failed."), message
    assert found["failed"] is True and found["succeeded"] is False
    assert conditions(found["waited"])[-1] == ("Failed", "True", "ExperimentFailed")
    assert found["success"] == [] and found["optimal"] is None
    trials = server.trials(name)
    assert any("Failed" in true_conditions(t) for t in trials), trials
    assert not any(true_conditions(t) & {"Running", "Succeeded"} for t in trials), trials
    assert_no_trial_processes(server, name)
    assert all(p["status"]["phase"] in ("Succeeded", "Failed") for p in _pods(server, f"{EXPERIMENT_LABEL}={name}"))


def test_metrics_unavailable(server: Server, katib_sdk: KatibSdk) -> None:
    """A trial that never prints its metric ends MetricsUnavailable (reason MetricsUnavailable, as Katib's trial
    controller says); the experiment still reaches maxTrialCount, with no optimal trial. Its resumePolicy is
    Katib's default (Never), so raising its budget is refused."""
    name = "sdk-nometric"
    command = ["python3", "-c", "import sys; print('loss', 'is', sys.argv[1])", "${trialParameters.x}"]
    found = _run(katib_sdk, server, """
        client.create_experiment(experiment(NAME, COMMAND, trials=2, parallel=2))
        waited = client.wait_for_experiment_condition(NAME, timeout=120, polling_interval=1)
        trials = client.list_trials(NAME)
        emit(
            waited=waited,
            trials=[client.get_trial(t.metadata.name) for t in trials],
            success=client.get_success_trial_details(NAME),
            optimal=client.get_optimal_hyperparameters(NAME),
            edit=failure(lambda: client.edit_experiment_budget(NAME, max_trial_count=3)),
            after=client.get_experiment(NAME),
        )
    """, NAME=name, COMMAND=command)  # fmt: skip

    status = found["waited"]["status"]
    assert conditions(found["waited"])[-1] == ("Succeeded", "True", "ExperimentMaxTrialsReached")
    assert status["trialMetricsUnavailable"] == status["trials"] == 2
    assert len(found["trials"]) == 2
    for trial in found["trials"]:
        assert conditions(trial)[-1] == ("MetricsUnavailable", "True", "MetricsUnavailable"), trial
        assert not (trial["status"].get("observation") or {}).get("metrics")
    assert found["success"] == [] and found["optimal"] is None
    assert found["edit"] == ["RuntimeError", f"Failed to edit Katib Experiment: default/{name}"]
    assert found["after"]["spec"]["maxTrialCount"] == 2 and "Succeeded" in true_conditions(found["after"])
    assert len(server.trials(name)) == 2
    assert_no_trial_processes(server, name)


def test_generate_name(server: Server, katib_sdk: KatibSdk) -> None:
    """``metadata.generateName`` (which ``create_experiment`` accepts): the server draws the name as Kubernetes
    does (the prefix and 5 characters) and the experiment runs under it."""
    found = _run(katib_sdk, server, """
        client.create_experiment(experiment("sdk-gen-", COMMAND, trials=1, parallel=1, generate=True))
        names = [e.metadata.name for e in client.list_experiments() if e.metadata.name.startswith("sdk-gen-")]
        waited = client.wait_for_experiment_condition(names[0], timeout=120, polling_interval=1)
        emit(names=names, waited=waited, trials=client.list_trials(names[0]))
    """, COMMAND=["python3", "-c", TRIAL_CODE, "${trialParameters.x}", "0"])  # fmt: skip

    [name] = found["names"]
    assert len(name) == len("sdk-gen-") + 5 and name.isascii() and name == name.lower(), name
    assert found["waited"]["metadata"]["generateName"] == "sdk-gen-"
    assert "Succeeded" in true_conditions(found["waited"])
    [trial] = found["trials"]
    assert trial["metadata"]["name"].startswith(f"{name}-") and server.trials(name)


def test_job_logs_of_a_tfjob_primary_replica(server: Server, katib_sdk: KatibSdk) -> None:
    """A TFJob with a worker and a chief: ``get_job_logs`` selects the chief's pod by primaryPodLabels (a label
    selector of two labels) and reads the StdOut collector's container of it, as on Katib."""
    name = "sdk-tfjob"
    replica: dict[str, Any] = {"restartPolicy": "Never"}

    def replicas(command: list[str]) -> dict[str, Any]:
        container = {"name": "tensorflow", "image": "local/test", "command": command}
        return {"replicas": 1, "template": {"spec": {**replica, "containers": [container]}}}

    tfjob = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "spec": {
            "tfReplicaSpecs": {  # the worker first: its pod is listed first
                "Worker": replicas(["python3", "-c", "print('worker says hello')"]),
                "Chief": replicas(["python3", "-c", TRIAL_CODE, "${trialParameters.x}", "0"]),
            }
        },
    }
    found = _run(katib_sdk, server, """
        client.create_experiment(experiment(NAME, trials=1, parallel=1, trial_spec=TFJOB, primary="tensorflow",
                                            pod_labels={"training.kubeflow.org/job-role": "master"}))
        client.wait_for_experiment_condition(NAME, timeout=120, polling_interval=1)
        [trial] = client.list_trials(NAME)
        emit(trial=trial, logs=list(client.get_job_logs(NAME, trial.metadata.name)),
             followed=list(client.get_job_logs(NAME, trial.metadata.name, follow=True)))
    """, NAME=name, TFJOB=tfjob)  # fmt: skip

    trial = found["trial"]
    expected = ["training", f"accuracy={assignment(trial)}"]
    assert found["logs"] == expected and found["followed"] == expected
    pods = _by_name(_pods(server, f"katib.kubeflow.org/trial={trial['metadata']['name']}"))
    chief, worker = pods[f"{trial['metadata']['name']}-chief-0"], pods[f"{trial['metadata']['name']}-worker-0"]
    assert [c["name"] for c in chief["spec"]["containers"]] == ["tensorflow", COLLECTOR]
    assert [c["name"] for c in worker["spec"]["containers"]] == ["tensorflow"]


def test_unreachable_server(katib_sdk: KatibSdk, tmp_path: Path) -> None:
    """A kubeconfig naming a port nobody listens on: each call raises the SDK's own error (RuntimeError)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "closed.kubeconfig", f"http://127.0.0.1:{port}", None)
    done = katib_sdk.run(sdk_script("""
        emit(
            create=failure(lambda: client.create_experiment(experiment("gone", ["true"], trials=1, parallel=1))),
            get=failure(lambda: client.get_experiment("gone")),
            listed=failure(lambda: client.list_experiments()),
            wait=failure(lambda: client.wait_for_experiment_condition("gone", timeout=2, polling_interval=1)),
            trials=failure(lambda: client.list_trials("gone")),
            suggestion=failure(lambda: client.get_suggestion("gone")),
            logs=failure(lambda: list(client.get_job_logs("gone", "gone-trial"))),
        )
    """), env=sdk_env(kubeconfig))  # fmt: skip
    found = results(done)
    assert found["create"] == ["RuntimeError", "Failed to create Katib Experiment: default/gone"]
    assert found["get"] == ["RuntimeError", "Failed to get Katib Experiment: default/gone"]
    assert found["wait"] == found["get"]
    assert found["listed"] == ["RuntimeError", "Failed to list Katib Experiments in namespace: default"]
    assert found["trials"] == ["RuntimeError", "Failed to list Katib Trials in namespace: default"]
    assert found["suggestion"] == ["RuntimeError", "Failed to get Katib Suggestion: default/gone"]
    kind, message = found["logs"]
    assert kind == "RuntimeError" and message.startswith("Failed to get job logs:") and "refused" in message, message


def test_get_trial_metrics_over_grpc(server: Server, katib_sdk: KatibSdk) -> None:
    """``get_trial_metrics``: gRPC ``GetObservationLog`` on the server's DB manager (server.json's
    ``db_manager``) gives every value the trial reported, the same ones its observation summarises."""
    name = "sdk-grpc"
    code = "import sys; print('accuracy=0.05'); print('loss=0.5'); print('accuracy=' + sys.argv[1])"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    found = _run(katib_sdk, server, """
        client.create_experiment(experiment(NAME, COMMAND, trials=1, parallel=1, additional=["loss"]))
        client.wait_for_experiment_condition(NAME, timeout=120, polling_interval=1)
        [trial] = client.list_trials(NAME)

        def logs(trial_name, address):
            found = client.get_trial_metrics(trial_name, db_manager_address=address, timeout=30)
            return [[log.time_stamp, log.metric.name, log.metric.value] for log in found]

        emit(trial=trial, logs=logs(trial.metadata.name, ADDRESS),
             unreachable=failure(lambda: logs(trial.metadata.name, CLOSED)))
    """, NAME=name, COMMAND=["python3", "-c", code, "${trialParameters.x}"], ADDRESS=server.info["db_manager"],
        CLOSED=closed)  # fmt: skip

    trial = found["trial"]
    trial_name, x = trial["metadata"]["name"], assignment(trial)
    logs = found["logs"]
    assert sorted((n, float(v)) for _, n, v in logs) == sorted(
        [("accuracy", 0.05), ("loss", 0.5), ("accuracy", float(x))]
    )
    stamps = [stamp for stamp, _, _ in logs]
    assert all(stamps) and stamps == sorted(stamps), logs  # RFC 3339, in time order
    [served] = server.trials(name)
    accuracy = [float(v) for _, n, v in logs if n == "accuracy"]
    summary = metric(served)
    assert (float(summary["min"]), float(summary["max"])) == (min(accuracy), max(accuracy)) == (0.05, float(x))
    assert float(metric(served, "loss")["latest"]) == 0.5
    kind, message = found["unreachable"]
    assert kind == "RuntimeError" and message.startswith(f"Unable to get metrics for Trial default/{trial_name}.")


def test_watch_through_the_sdks_kubernetes_client(server: Server, katib_sdk: KatibSdk) -> None:
    """A watch of experiments and of trials through the client's ``custom_api`` (the Kubernetes client the SDK
    pins, which sends ``watch=True``): events until the experiment succeeds."""
    name = "sdk-watch"
    found = _run(katib_sdk, server, """
        from kubernetes import watch

        client.create_experiment(experiment(NAME, COMMAND, trials=2, parallel=2))
        events = []
        stream = watch.Watch()
        for event in stream.stream(client.custom_api.list_namespaced_custom_object, "kubeflow.org", "v1beta1",
                                   "default", "experiments", timeout_seconds=120):
            obj = event["object"]
            states = [c["type"] for c in obj.get("status", {}).get("conditions", []) if c["status"] == "True"]
            events.append([event["type"], obj["metadata"]["name"], states])
            if obj["metadata"]["name"] == NAME and "Succeeded" in states:
                stream.stop()
        trial_events = [
            [event["type"], event["object"]["metadata"]["name"]]
            for event in watch.Watch().stream(client.custom_api.list_namespaced_custom_object, "kubeflow.org",
                                              "v1beta1", "default", "trials", timeout_seconds=1,
                                              label_selector="katib.kubeflow.org/experiment=" + NAME)
        ]
        emit(events=events, trial_events=trial_events)
    """, NAME=name, COMMAND=["python3", "-c", TRIAL_CODE, "${trialParameters.x}", PAUSE])  # fmt: skip

    events = [e for e in found["events"] if e[1] == name]
    assert events[0][0] == "ADDED" and all(kind in ("ADDED", "MODIFIED") for kind, _, _ in events), events
    assert "Succeeded" in events[-1][2]
    trials = sorted(t["metadata"]["name"] for t in server.trials(name))
    assert sorted(n for kind, n in found["trial_events"] if kind == "ADDED") == trials
