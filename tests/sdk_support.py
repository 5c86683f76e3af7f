"""Helpers for the tests that drive ``pykatib server`` with Katib's official SDK (``katib_sdk``): the prelude of
every SDK script (a ``KatibClient`` on the server's kubeconfig, an experiment built from the SDK's own models),
how a script hands its results back, and the trial processes of an experiment, found in ``/proc``.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from server_support import Server

PROCESS_TIMEOUT = 30.0  # how long trial processes may take to go once stopped (a guard, not a figure)

# Each SDK script starts with this. ``experiment(...)`` builds a V1beta1Experiment from the SDK's models: maximize
# ``accuracy`` (and collect the ``additional`` metrics) over x in [0.1, 0.9] (random), each trial a batch/v1 Job
# whose container ``main`` runs ``command``; ``failure(call)`` is [exception type, message] of what ``call()``
# raised, or None; ``emit(...)`` hands values back (the SDK's models as the API serves them: camelCase, as JSON).
PRELUDE = """
import json
import os

from kubeflow.katib import (
    KatibClient,
    V1beta1AlgorithmSpec,
    V1beta1Experiment,
    V1beta1ExperimentSpec,
    V1beta1FeasibleSpace,
    V1beta1ObjectiveSpec,
    V1beta1ParameterSpec,
    V1beta1TrialParameterSpec,
    V1beta1TrialTemplate,
)
from kubernetes.client import V1ObjectMeta

client = KatibClient(config_file=os.environ["SDK_KUBECONFIG"], namespace="default")


def job(command):
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "main", "image": "local/test", "command": command}],
                    "restartPolicy": "Never",
                }
            }
        },
    }


def experiment(name, command=None, *, trials, parallel, trial_spec=None, primary="main", pod_labels=None,
               generate=False, additional=None, **spec):
    return V1beta1Experiment(
        api_version="kubeflow.org/v1beta1",
        kind="Experiment",
        metadata=V1ObjectMeta(generate_name=name) if generate else V1ObjectMeta(name=name),
        spec=V1beta1ExperimentSpec(
            objective=V1beta1ObjectiveSpec(
                type="maximize", objective_metric_name="accuracy", additional_metric_names=additional
            ),
            algorithm=V1beta1AlgorithmSpec(algorithm_name="random"),
            max_trial_count=trials,
            parallel_trial_count=parallel,
            parameters=[
                V1beta1ParameterSpec(
                    name="x", parameter_type="double", feasible_space=V1beta1FeasibleSpace(min="0.1", max="0.9")
                )
            ],
            trial_template=V1beta1TrialTemplate(
                primary_container_name=primary,
                primary_pod_labels=pod_labels,
                trial_parameters=[V1beta1TrialParameterSpec(name="x", reference="x", description="the value")],
                trial_spec=trial_spec or job(command),
            ),
            **spec,
        ),
    )


def failure(call):  # [exception type, message] of what call() raised, or None when it returned
    try:
        call()
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None


def emit(**values):
    print("RESULT " + json.dumps(client.api_client.sanitize_for_serialization(values)), flush=True)
"""


def sdk_script(body: str, **constants: Any) -> str:
    """An SDK script: the prelude, each constant as ``NAME = repr(value)``, then ``body``."""
    assigned = "\n".join(f"{key} = {value!r}" for key, value in constants.items())
    return "\n".join([PRELUDE, assigned, textwrap.dedent(body)])


def sdk_env(kubeconfig: Path) -> dict[str, str]:
    return {"SDK_KUBECONFIG": str(kubeconfig)}


def results(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """What the script emitted (every ``emit`` merged)."""
    found: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            found.update(json.loads(line.removeprefix("RESULT ")))
    assert found, f"the script emitted nothing\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return found


# --- the objects, as the API serves them ------------------------------------------------------------


def conditions(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, status, reason) of each condition of an object (or of a list of conditions)."""
    found = obj if isinstance(obj, list) else (obj.get("status") or {}).get("conditions") or []
    return [(c["type"], c["status"], c.get("reason", "")) for c in found]


def true_conditions(obj: dict[str, Any]) -> set[str]:
    return {kind for kind, status, _ in conditions(obj) if status == "True"}


def assignment(trial: dict[str, Any], name: str = "x") -> str:
    return next(str(p["value"]) for p in trial["spec"]["parameterAssignments"] if p["name"] == name)


def metric(trial: dict[str, Any], name: str = "accuracy") -> dict[str, str]:
    metrics = ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []
    return next(m for m in metrics if m["name"] == name)


# --- trial processes --------------------------------------------------------------------------------


def trial_processes(server: Server, experiment: str, namespace: str = "default") -> list[str]:
    """The live processes of the experiment's trials (``pid: command``): those whose environment or command
    line names its trials' directory (every trial process has its ``PYKATIB_TRIAL_DIR`` in its environment)."""
    proc = Path("/proc")
    if not (proc / "self" / "environ").exists():
        pytest.skip("this system has no /proc to look for trial processes in")
    marker = str(server.workdir / "experiments" / namespace / experiment / "trials").encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if stat.rpartition(")")[2].split()[:1] == ["Z"]:
            continue  # a zombie has ended; only its exit status is left
        if marker in environ or marker in cmdline:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command[:200]}")
    return found


def assert_no_trial_processes(server: Server, experiment: str, namespace: str = "default") -> None:
    """Its trial processes are gone (they may take a moment to exit once signalled)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    left = trial_processes(server, experiment, namespace)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = trial_processes(server, experiment, namespace)
    assert not left, f"trial processes of {namespace}/{experiment} still running:\n" + "\n".join(left)


def wait_for_processes(server: Server, experiment: str, count: int, namespace: str = "default") -> list[str]:
    """Wait until the experiment's trials run at least ``count`` processes; returns them."""
    deadline = time.monotonic() + 60
    found = trial_processes(server, experiment, namespace)
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        found = trial_processes(server, experiment, namespace)
    assert len(found) >= count, (
        f"expected {count} trial processes of {experiment}, found:\n{found}\n{server.log_tail()}"
    )
    return found
