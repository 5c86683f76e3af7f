"""From an experiment and one assignment to the processes to start and the collector to read.

Rendering (pykatib.trial), path rules (pykatib.execute.localize) and the metrics collector
(pykatib.metrics.collector) meet here, so the controller deals only in trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pykatib.control.render import render_trial
from pykatib.control.sidecar import custom_collector, sidecar_process
from pykatib.execute.base import LaunchSpec
from pykatib.execute.gpus import container_gpus
from pykatib.execute.localize import ImageMap, PathRules
from pykatib.execute.resources import container_requests
from pykatib.execute.trial_venv import SCRIPTS, TrialVenv
from pykatib.metrics.collector import TrialCollector
from pykatib.report import TRIAL_DIR_ENV, TRIAL_NAME_ENV
from pykatib.spec.models import CollectorKind, Experiment
from pykatib.trial.job import ContainerProcess, active_deadline_seconds, job_processes
from pykatib.trial.workflow import WorkflowPlan, is_workflow, runner_document, workflow_plan

PRIMARY_LOG = "trial.log"
# The trial's namespace, for code that would read it from its pod (the DB manager's SDK shim reads it).
TRIAL_NAMESPACE_ENV = "PYKATIB_TRIAL_NAMESPACE"
ROOTFS = "rootfs"
# An Argo Workflow trial: the plan its runner reads, in the trial's directory, and the runner.
WORKFLOW_PLAN = "workflow.json"
WORKFLOW_RUNNER = "pykatib.trial.workflow_run"
# Where a container finds a program named without a path: its image's PATH (Debian's default one).
IMAGE_PATH = ("usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin")


class TrialLaunchError(ValueError):
    """The trial cannot be started: the message says what to change."""


@dataclass
class TrialLaunch:
    launches: list[LaunchSpec]
    collector: TrialCollector
    deadline_seconds: float | None
    job: dict[str, Any]


def metric_names(experiment: Experiment) -> list[str]:
    objective = experiment.spec.objective
    assert objective is not None and objective.objective_metric_name
    return [objective.objective_metric_name, *(objective.additional_metric_names or [])]


def _collector_path(experiment: Experiment) -> tuple[str, str | None, str | None, list[str]]:
    """(kind, container path, file format, filters) of the experiment's metrics collector."""
    mc = experiment.spec.metrics_collector_spec
    kind = mc.collector.kind if mc and mc.collector and mc.collector.kind else CollectorKind.STDOUT
    fsp = mc.source.file_system_path if mc and mc.source else None
    filters = list((mc.source.filter.metrics_format or []) if mc and mc.source and mc.source.filter else [])
    return (
        kind.value,
        fsp.path if fsp else None,
        fsp.format.value if fsp and fsp.format else None,
        filters,
    )


def prepare_trial(
    experiment: Experiment,
    trial_name: str,
    assignment: Mapping[str, str],
    trial_dir: Path,
    image_map: ImageMap,
    *,
    labels: Mapping[str, str] | None = None,
    trial_spec: dict[str, Any] | None = None,
    reattach: bool = False,
    source_dir: Path | None = None,
    venv: TrialVenv | None = None,
    env: Mapping[str, str] | None = None,
) -> TrialLaunch:
    """What to start for one trial; ``reattach``: its processes run already (a restarted controller follows
    them), so nothing in its directory is set up again. ``source_dir``: where relative paths in the template
    are found (``pykatib run``'s working directory; the server's, or the directory ``pykatib apply`` ran in).
    ``venv``: the experiment's Python environment (created already), whose python, pip and torchrun the trial
    runs; None (the check before a run): the Python running pykatib. ``env``: variables every process gets
    over its own (the DB manager's address); a ``PYTHONPATH`` there goes before the process's own."""
    template = experiment.spec.trial_template
    assert template is not None
    job = render_trial(experiment, trial_name, assignment, labels=labels, trial_spec=trial_spec)
    container, pod_labels = template.primary_container_name, template.primary_pod_labels
    plan: WorkflowPlan | None = None
    if is_workflow(job):  # an Argo Workflow's steps run in order, from one process (trial.workflow_run)
        plan = workflow_plan(job, primary_container_name=container, primary_pod_labels=pod_labels,
                             entrypoint=image_map.entrypoint)  # fmt: skip
        processes = plan.processes
    else:
        processes = job_processes(job, primary_container_name=container, primary_pod_labels=pod_labels,
                                  entrypoint=image_map.entrypoint)  # fmt: skip
    kind, metrics_path, file_format, filters = _collector_path(experiment)
    trial_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = pbt_checkpoint_path(experiment)
    extra = [p for p in (metrics_path, checkpoint) if p]
    source = source_dir or Path.cwd()
    python = str(venv.python) if venv is not None else sys.executable
    rules = [_rules(process, trial_dir, image_map, extra, source, python) for process in processes]
    primary_rules = next(r for r, p in zip(rules, processes, strict=True) if p.primary)
    if checkpoint and not reattach:
        _seed_checkpoint(Path(primary_rules.map_path(checkpoint)), trial_dir, labels or {})
    if not reattach:
        for process, process_rules in zip(processes, rules, strict=True):
            _write_files(process, process_rules)
    extra_env = {**(env or {}), TRIAL_NAMESPACE_ENV: str(experiment.metadata.namespace)}
    launches = [_launch(p, r, trial_name, trial_dir, venv, extra_env) for p, r in zip(processes, rules, strict=True)]
    if plan is not None:
        launches = [_workflow_launch(plan, launches, trial_dir, python, reattach)]
    collector_container = custom_collector(experiment)
    if collector_container is not None:
        primary = next(p for p in processes if p.primary)
        namespace = str(experiment.metadata.namespace)
        sidecar = sidecar_process(collector_container, primary, trial_name, namespace, image_map.entrypoint)
        # The collector's own image, the primary pod's root: it reads the files the trial writes.
        sidecar_rules = dataclasses.replace(primary_rules, image_root=image_map.resolve(sidecar.image))
        launch = _launch(sidecar, sidecar_rules, trial_name, trial_dir, venv, extra_env)
        launches.append(dataclasses.replace(launch, sidecar=True))
    local_metrics_path = Path(primary_rules.map_path(metrics_path)) if metrics_path else None
    if local_metrics_path is not None and kind == "File":
        local_metrics_path.parent.mkdir(parents=True, exist_ok=True)
    collector = TrialCollector(
        kind,
        metric_names(experiment),
        log_file=trial_dir / PRIMARY_LOG,
        trial_dir=trial_dir,
        metrics_path=local_metrics_path,
        file_format=file_format,
        filters=filters,
    )
    return TrialLaunch(launches, collector, active_deadline_seconds(job), job)


def _rules(
    process: ContainerProcess, trial_dir: Path, image_map: ImageMap, extra: list[str], source_dir: Path, python: str
) -> PathRules:
    """``extra``: paths that are per trial even where they exist here (metrics file, PBT checkpoints)."""
    # Each replica is its own pod: its own root, so two workers never write the same file.
    base = trial_dir if process.primary else trial_dir / "replicas" / process.key
    prefixes = [*process.volume_mount_paths, *extra]
    root = base / ROOTFS
    image, workdir = image_map.resolve(process.image), image_map.workdir(process.image)  # workdir: relative paths
    return PathRules(image, root, tuple(prefixes), source_dir=source_dir, python=python, image_workdir=workdir)


def pbt_checkpoint_path(experiment: Experiment) -> str | None:
    """PBT's ``suggestion_trial_dir``: where a trial finds its checkpoint (Katib mounts the trial's own
    directory of a shared volume there; here it is the trial's own path under its root)."""
    algorithm = experiment.spec.algorithm
    return algorithm.setting("pbt", "suggestion_trial_dir") if algorithm else None


def _seed_checkpoint(local: Path, trial_dir: Path, labels: Mapping[str, str]) -> None:
    """A PBT child starts from a copy of its parent's checkpoint directory; a first-generation trial from
    an empty one. A directory already there belongs to this trial's own earlier start and is left alone."""
    if not local.is_relative_to(trial_dir):
        # Every trial must have its own: a shared one would mix all the trials' checkpoints.
        raise TrialLaunchError(f"the PBT checkpoint directory {local} is not inside the trial's directory")
    if local.exists():
        return
    from pykatib.suggest.pbt import PARENT_LABEL  # only PBT experiments pay for importing the algorithm

    parent = labels.get(PARENT_LABEL)
    if parent is not None:
        experiment_trials = trial_dir.parent
        source = (experiment_trials / parent / local.relative_to(trial_dir)).resolve()
        # The label names a trial of this experiment, nothing else: no path separators, no way out.
        if "/" in parent or parent in ("", ".", "..") or not source.is_relative_to(experiment_trials.resolve()):
            raise TrialLaunchError(f"PBT parent {parent!r} is not a trial of this experiment")
        if source.is_dir():
            shutil.copytree(source, local, symlinks=True)
            return
        raise TrialLaunchError(f"the checkpoint of PBT parent {parent} is missing: {source} does not exist")
    local.mkdir(parents=True, exist_ok=True)


def _launch(
    process: ContainerProcess, rules: PathRules, trial_name: str, trial_dir: Path, venv: TrialVenv | None,
    extra_env: Mapping[str, str],
) -> LaunchSpec:  # fmt: skip
    argv = rules.map_argv(process.argv)
    argv[:1] = [_image_program(program, rules) for program in argv[:1]]
    _check_program(process, argv, rules)
    for original, mapped in zip(process.argv, argv, strict=True):
        _make_parent(original, mapped, rules)
    for mount in process.volume_mount_paths:
        Path(rules.map_path(mount)).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **rules.map_env(process.env)}
    if venv is not None:
        env = venv.environ(env)  # its python, pip and torchrun come first, as in an image that has them
    for key, value in extra_env.items():
        if key == "PYTHONPATH":
            own = env.get(key)
            env[key] = f"{value}{os.pathsep}{own}" if own else value
        elif key not in process.env:  # the container's own setting wins (its own grpc_proxy, say)
            env[key] = value
    env[TRIAL_NAME_ENV] = trial_name
    env[TRIAL_DIR_ENV] = str(trial_dir)
    env["PYTHONUNBUFFERED"] = "1"  # metrics must reach the log while the trial runs, not at exit
    base = trial_dir if process.primary else trial_dir / "replicas" / process.key
    cwd = rules.map_path(process.working_dir) if process.working_dir else str(base)
    if cwd != str(trial_dir):  # the trial directory itself exists already
        Path(cwd).mkdir(parents=True, exist_ok=True)
    log = trial_dir / (PRIMARY_LOG if process.primary else f"{process.key}.log")
    gpus, asked = container_gpus(process.container, process.key), container_requests(process.container, process.key)
    return LaunchSpec(process.key, argv, env, cwd, log, process.primary, gpus=gpus, resources=asked,
                      ends_with_primary=process.ends_with_primary)  # fmt: skip


def _workflow_launch(
    plan: WorkflowPlan, launches: list[LaunchSpec], trial_dir: Path, python: str, reattach: bool
) -> LaunchSpec:
    """The one process of a Workflow trial: its runner, with the primary step's log, environment and
    directory, reading the steps as ``_launch`` prepared them (only their own variables: the rest it has)."""
    primary = next(launch for launch in launches if launch.primary)
    launched = {
        launch.key: {
            "argv": launch.argv, "cwd": launch.cwd, "log": str(launch.log_file), "primary": launch.primary,
            "env": {k: v for k, v in launch.env.items() if primary.env.get(k) != v},
            "unset": [k for k in primary.env if k not in launch.env],
        }
        for launch in launches
    }  # fmt: skip
    path = trial_dir / WORKFLOW_PLAN
    if not (reattach and path.exists()):  # a re-attached runner has read its plan already
        path.write_text(json.dumps(runner_document(plan, launched)))
    return dataclasses.replace(primary, argv=[python, "-m", WORKFLOW_RUNNER, str(path)])


def _image_program(program: str, rules: PathRules) -> str:
    """A program named without a path (``mpirun``) that the mapped image holds in a directory of its PATH
    runs from there, as in its container; any other is left to this machine's PATH."""
    if not program or "/" in program or rules.image_root is None:
        return program
    for directory in IMAGE_PATH:
        candidate = rules.image_root / directory / program
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return program


def _write_files(process: ContainerProcess, rules: PathRules) -> None:
    """The files the operator mounts into the pod (the MPI hostfile), at their place in the replica's root;
    a script (``#!``) is made executable, as the ConfigMap's mode makes it."""
    for path, content in process.files.items():
        local = Path(rules.map_path(path))
        if not local.is_relative_to(rules.rootfs):
            continue  # the mapped image holds that file itself: never write outside the trial
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(content)
        if content.startswith("#!"):
            local.chmod(0o755)


def _make_parent(original: str, mapped: str, rules: PathRules) -> None:
    """A redirected output path needs its directory, as the container's filesystem would have it."""
    value = mapped.split("=", 1)[1] if mapped.startswith("-") and "=" in mapped else mapped
    if value != original and value.startswith(str(rules.rootfs)):
        # A value that only looks like a path (a long categorical string) may not be a valid directory
        # name here: the program then meets the error itself, as it would in its container.
        with contextlib.suppress(OSError):
            Path(value).parent.mkdir(parents=True, exist_ok=True)


def _check_program(process: ContainerProcess, argv: list[str], rules: PathRules) -> None:
    """Fail before starting anything when the command cannot be found, saying which image to map."""
    program = argv[0]
    # pip, pip3 and torchrun: the experiment's environment provides them (execute.trial_venv).
    found = os.path.exists(program) if "/" in program else program in SCRIPTS or shutil.which(program) is not None
    missing = None if found else program
    if missing is None and len(argv) > 1 and argv[1].endswith(".py") and not os.path.exists(argv[1]):
        missing = process.argv[1]
    if missing is None:
        return
    hint = (
        f"; the image {process.image} is not mapped to a directory: pass --image {process.image}=DIR"
        if process.image and rules.image_root is None
        else ""
    )
    raise TrialLaunchError(f"{process.key}: {missing} not found{hint}")
