"""Helpers for the tests that run real experiments: build an Experiment, run it, read its store.

Shared by ``tests/e2e`` (which drives the ``pykatib`` command) and ``tests/control`` (which drives the
controller in-process). Trials are real processes: ``python3 script.py`` (pykatib maps ``python3`` to its own
interpreter) or ``sh -c SCRIPT sh VALUE``, so a value reaches the script as ``$1`` and never as shell text.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from pykatib.control.runner import ExperimentController
from pykatib.spec.loader import parse_experiment
from pykatib.store import Store, TrialRecord, experiment_dir

PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]+)\}")
DEFAULT_PARAMETERS = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}}]
# This repository's examples: Katib's own, copied unchanged with their NOTICE (examples/katib/), the seed
# experiment (Katib's v1alpha3 tfjob-example) and the project's own (examples/*.yaml).
PROJECT = Path(__file__).resolve().parents[1]
EXAMPLES = PROJECT / "examples"
KATIB_EXAMPLES = EXAMPLES / "katib"
SEED = EXAMPLES / "seed-experiment.yaml"
# Katib's examples pykatib rejects today, file (under examples/katib/) -> the exact errors of its documents, as
# `pykatib validate` prints them; every other file there validates. The issue "The rest of Katib" changes these.
KATIB_REJECTED = {
    # Katib's own negative example: Katib's webhook rejects the unknown algorithm too.
    "invalid-experiment.yaml": [
        'spec.algorithm.algorithmName: unknown algorithm "invalid-algorithm"; known algorithms: random, grid, tpe, '
        "multivariate-tpe, cmaes, sobol, bayesianoptimization, hyperband, pbt, enas, darts"
    ],
    # The template never says ${trialParameters.learningRate} (only "$(trialParameters.lr)"): Katib's webhook
    # rejects it too, in the words pykatib's message starts with (Katib's goes on with the whole template).
    "tekton/pipeline-run.yaml": [
        "spec.trialTemplate.trialParameters[0].name: parameter name: learningRate in spec.trialParameters not "
        "found in spec.trialTemplate: ${trialParameters.learningRate} is not used there"
    ],
    # Its template is in the ConfigMap of trial-templates-configmap.yaml; pykatib reads ConfigMaps from the same
    # file and from --configmap FILE (and with it, that ConfigMap's template does not match it: test_loader.py).
    "trial-template/trial-configmap-source.yaml": [
        "spec.trialTemplate.configMap: ConfigMap kubeflow/trial-templates not found: pykatib reads ConfigMaps from "
        "documents in the same file and from --configmap FILE"
    ],
    # Not an Experiment: Katib's trial-templates ConfigMap, which the example above refers to.
    "trial-template/trial-templates-configmap.yaml": ["no Experiment document found in the file"],
}
# Katib's examples with a small budget (maxFailedTrialCount may not exceed maxTrialCount).
SMALL_BUDGET = ["--set", "spec.maxTrialCount=3", "--set", "spec.parallelTrialCount=3",
                "--set", "spec.maxFailedTrialCount=3"]  # fmt: skip
# The examples of newly added algorithms run one trial each: a smoke test of the whole path (the algorithms
# themselves are tested in tests/suggest), which keeps the suite's CPU time in check.
ONE_TRIAL = ["--set", "spec.maxTrialCount=1", "--set", "spec.parallelTrialCount=1",
             "--set", "spec.maxFailedTrialCount=1"]  # fmt: skip
# The example lists name files relative to the repository root (PROJECT).
RUNNABLE_EXAMPLES = [
    "examples/katib/hp-tuning/random.yaml",
    "examples/katib/hp-tuning/grid.yaml",
    "examples/katib/metrics-collector/file-metrics-collector.yaml",
    # Its Custom collector runs as a sidecar from the stand-in image's entrypoint and reports over gRPC.
    "examples/katib/metrics-collector/custom-metrics-collector.yaml",
    "examples/katib/kubeflow-training-operator/tfjob-mnist-with-summaries.yaml",
    # The launcher's mpirun (the stand-in image's) runs 2 ranks; the workers sleep until the launcher ends.
    "examples/katib/kubeflow-training-operator/mpijob-horovod.yaml",
    # Master and 2 Workers run the stand-in image's ENTRYPOINT with the XGBoost operator's ranks.
    "examples/katib/kubeflow-training-operator/xgboostjob-lightgbm.yaml",
    "examples/katib/hp-tuning/hyperopt-distribution.yaml",
    # An Argo Workflow of two steps: a script's result is the training step's --epochs (2 to 20 of them).
    "examples/katib/argo/argo-workflow.yaml",
    "examples/seed-experiment.yaml",
]
# Katib algorithms pykatib is still adding: each runs like the above once available, else is refused (exit 2).
OTHER_EXAMPLES = [
    "examples/katib/hp-tuning/tpe.yaml",
    "examples/katib/hp-tuning/multivariate-tpe.yaml",
    "examples/katib/hp-tuning/cma-es.yaml",
    "examples/katib/hp-tuning/sobol.yaml",
    "examples/katib/hp-tuning/bayesian-optimization.yaml",
    "examples/katib/early-stopping/median-stop.yaml",
]
# Run exactly as Katib ships them (their budget is already small): name -> the trial count Katib's file asks for.
UNCHANGED_EXAMPLES = {
    "examples/katib/hp-tuning/hyperband.yaml": 2,
    "examples/katib/nas/darts-cpu.yaml": 1,
    # ENAS: 2 untrained-controller architectures, then 1 after the controller trained on their mean result.
    "examples/katib/nas/enas-cpu.yaml": 3,
}
# This project's own examples (examples/), with a smaller budget: name -> (arguments, the trials it then runs).
PROJECT_EXAMPLES: dict[str, tuple[list[str], int]] = {
    # r_l 2: one bracket of two one-epoch trials and the better one at two epochs, then two at two epochs.
    "examples/hyperband.yaml": (["--set", "spec.algorithm.algorithmSettings[2].value=2"], 5),
    "examples/median-stop.yaml": (["--set", "spec.maxTrialCount=6"], 6),
}


def categorical(name: str, values: Sequence[str]) -> dict[str, Any]:
    return {"name": name, "parameterType": "categorical", "feasibleSpace": {"list": list(values)}}


def make_experiment(
    command: Sequence[str],
    *,
    name: str = "e2e",
    parameters: list[dict[str, Any]] | None = None,
    objective: dict[str, Any] | None = None,
    job_spec: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A v1beta1 Experiment running ``command`` in a batch/v1 Job.

    Every ``${trialParameters.P}`` in the command declares a trial parameter referencing parameter ``P``.
    ``spec`` keys override the spec (``maxTrialCount=None`` removes the key); ``job_spec`` adds to the Job's
    ``spec`` (``activeDeadlineSeconds``).
    """
    referenced = list(dict.fromkeys(m for arg in command for m in PLACEHOLDER.findall(arg)))
    doc: dict[str, Any] = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": objective or {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "parallelTrialCount": 2,
            "maxTrialCount": 4,
            "parameters": copy.deepcopy(parameters or DEFAULT_PARAMETERS),
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": p, "reference": p} for p in referenced],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        **(job_spec or {}),
                        "template": {
                            "spec": {
                                "containers": [{"name": "main", "image": "local/test", "command": list(command)}],
                                "restartPolicy": "Never",
                            }
                        },
                    },
                },
            },
        },
    }
    for key, value in spec.items():
        if value is None:
            doc["spec"].pop(key, None)
        else:
            doc["spec"][key] = value
    return doc


def write_script(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def write_experiment(directory: Path, doc: dict[str, Any], filename: str = "experiment.yaml") -> Path:
    path = directory / filename
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_pykatib(
    path: Path | str, *args: str, timeout: float = 120, cwd: Path | None = None
) -> tuple[int, dict[str, Any] | None, str]:
    """``pykatib run PATH ARGS -o json``: (exit status, the printed status block or None, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pykatib.cli", "run", str(path), *args, "-o", "json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    status = json.loads(proc.stdout)["status"] if proc.stdout.strip() else None
    return proc.returncode, status, proc.stderr


def start_pykatib(path: Path | str, *args: str) -> subprocess.Popen[str]:
    """``pykatib run`` in the background (its own process, so it can be signalled alone)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pykatib.cli", "run", str(path), *args, "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# The store in-process controllers and readers use instead of workdir's SQLite file: a database on another
# backend, set per test by the fixture that runs a suite on every backend (tests/control/conftest.py).
STORE_URL: str | None = None


def store_for(workdir: Path) -> Store:
    return Store(STORE_URL or f"sqlite:///{workdir}/pykatib.db")


@contextmanager
def opened_store(workdir: Path) -> Iterator[Store]:
    store = store_for(workdir)
    try:
        yield store
    finally:
        store.close()


def trials_of(workdir: Path, name: str, namespace: str = "default") -> list[TrialRecord]:
    with opened_store(workdir) as store:
        record = store.get_experiment(name, namespace)
        return [] if record is None else store.list_trials(record.id)


def observations_of(workdir: Path, trial: str) -> list[tuple[str, float, Any]]:
    """(metric, value, time) rows of one trial, in the store's order."""
    with opened_store(workdir) as store:
        record = store.get_trial(trial)
        assert record is not None, trial
        return [(r.metric_name, r.value, r.time) for r in store.list_observations(record.id)]


def run_controller(doc: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the experiment to its end in this process, with the store in ``workdir``; the final status."""
    experiment = parse_experiment(doc)
    with opened_store(workdir) as store:
        controller = ExperimentController(experiment, store, workdir=workdir)
        return asyncio.run(controller.run())


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions", [])}


def end_condition(status: dict[str, Any]) -> tuple[str, str]:
    """(Succeeded|Failed, reason) of an ended experiment."""
    ends = [c for c in status.get("conditions", []) if c["type"] in ("Succeeded", "Failed") and c["status"] == "True"]
    assert len(ends) == 1, status.get("conditions")
    return ends[0]["type"], ends[0]["reason"]


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process. A zombie (exited, not yet reaped by whatever adopted it) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def trial_dir(workdir: Path, experiment: str, trial: str, namespace: str = "default") -> Path:
    """Where pykatib keeps a trial's files: under the experiment's folder, keyed by namespace and name."""
    return experiment_dir(workdir, namespace, experiment) / "trials" / trial


class BackgroundRuns:
    """Several ``pykatib run`` processes started together, each with its own workdir, awaited one by one.

    They run at the lowest CPU priority (``nice -n 19``, inherited by their trials): started early, they use
    the CPU that latency-bound tests leave idle, without slowing those tests down.
    """

    def __init__(self, base: Path, runs: dict[str, tuple[Path, list[str]]]) -> None:
        self.base = base
        self.planned = runs  # key -> (experiment file, extra arguments)
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.results: dict[str, tuple[int, str, str]] = {}

    def workdir(self, key: str) -> Path:
        return self.base / re.sub(r"[^\w.-]", "_", key)

    def start(self) -> None:
        for key, (path, args) in self.planned.items():
            if key in self.procs:
                continue
            command = ["nice", "-n", "19", sys.executable, "-m", "pykatib.cli", "run", str(path),
                       "--workdir", str(self.workdir(key)), *args, "-o", "json"]  # fmt: skip
            self.procs[key] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait(self, key: str, timeout: float = 300) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of one run."""
        self.start()
        if key not in self.results:
            proc = self.procs[key]
            stdout, stderr = proc.communicate(timeout=timeout)
            self.results[key] = (proc.returncode, stdout, stderr)
        return self.results[key]

    def stop(self) -> None:
        """End the runs still going: SIGTERM lets pykatib stop its trials (they run in sessions of their own)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
