"""Katib's objects as the Kubernetes API serves them, built from the store's records.

An Experiment is its stored document plus the server's metadata and its status block; a Trial and a
Suggestion are built the way Katib's controllers fill them in; a Pod stands for each running replica of a
trial (a local process here), labelled as Katib labels trial pods so that ``kubectl logs`` finds it.
``resourceVersion`` is the row's last change in microseconds: it changes on every update of the object.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pykatib.control.launch import PRIMARY_LOG
from pykatib.control.render import render_trial
from pykatib.control.status import condition
from pykatib.server.names import (
    COLLECTOR_CONTAINER,
    EXPERIMENT_LABEL,
    GROUP,
    PRIMARY_LABEL,
    TRIAL_LABEL,
)
from pykatib.spec.conditions import TrialPhase
from pykatib.spec.loader import ConfigMaps, load_document
from pykatib.spec.models import CollectorKind, Experiment
from pykatib.store import ExperimentRecord, KubeObjectRecord, MetricStats, TrialRecord
from pykatib.trial.job import ContainerProcess, Entrypoints, job_processes

V1BETA1 = f"{GROUP}/v1beta1"
V1ALPHA3 = f"{GROUP}/v1alpha3"
_PARSED_VERSIONS = itertools.count(1)
RUN_SPEC_CACHE = 10_000  # rendered run specs kept per experiment (a few KB each)
COLLECTOR_IMAGE = "pykatib/metrics-collector"  # the pod's collector container: it runs inside pykatib, no image
_UID_NAMESPACE = uuid.UUID("6f1d2a34-5b8e-4c1f-9a7d-2e3b4c5d6e7f")


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")[:19] + "Z"  # a third of strftime's time, per trial of a list


def resource_version(value: datetime | None) -> str:
    """The row's last change, in microseconds since the epoch (Kubernetes treats it as opaque)."""
    if value is None:
        return "1"
    return str(int(value.timestamp() * 1_000_000))


def uid(kind: str, key: str, created: datetime) -> str:
    """A stable uid per object (its kind, key and creation time), so a re-created object gets a new one."""
    return str(uuid.uuid5(_UID_NAMESPACE, f"{kind}/{key}/{created.isoformat()}"))


def metric_list(stats: Mapping[str, MetricStats]) -> list[dict[str, str]]:
    """Katib's ``observation.metrics``: values as strings, as Katib's controller writes them."""
    return [{"name": n, "min": _num(s.min), "max": _num(s.max), "latest": _num(s.latest)} for n, s in stats.items()]


def _num(value: float | str | None) -> str:
    # Katib's strings: a text value as reported, "unavailable" for a min or max no number was reported for.
    if value is None or isinstance(value, str):
        return "unavailable" if value is None else value
    return repr(float(value)) if not float(value).is_integer() else str(float(value))


# --- experiments ------------------------------------------------------------------------------------


def experiment_object(record: ExperimentRecord, alpha3: KubeObjectRecord | None = None) -> dict[str, Any]:
    """The Experiment as served: the stored document (v1beta1, or the v1alpha3 form it was created in when
    ``alpha3`` is given), the server's metadata and the status block."""
    document = json.loads(json.dumps(alpha3.body if alpha3 is not None else record.spec))
    metadata = dict(document.get("metadata") or {})
    metadata.update(
        name=record.name,
        namespace=record.namespace,
        uid=uid("Experiment", f"{record.namespace}/{record.name}", record.created_at),
        resourceVersion=resource_version(record.updated_at),
        creationTimestamp=rfc3339(record.created_at),
        generation=int(metadata.get("generation") or 1),
    )
    return {
        "apiVersion": V1ALPHA3 if alpha3 is not None else V1BETA1,
        "kind": "Experiment",
        "metadata": metadata,
        "spec": document.get("spec") or {},
        "status": record.status or {},
    }


def experiment_owner(record: ExperimentRecord) -> dict[str, Any]:
    return {
        "apiVersion": V1BETA1, "kind": "Experiment", "name": record.name,
        "uid": uid("Experiment", f"{record.namespace}/{record.name}", record.created_at),
        "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip


@dataclass
class ParsedExperiment:
    """A stored experiment parsed once (the server renders trials' run specs and pods from it), with the run
    specs rendered so far: a trial's never changes while the experiment's document does not."""

    experiment: Experiment | None
    trial_spec: dict[str, Any] | None
    errors: list[str]
    run_specs: OrderedDict[str, dict[str, Any] | None] = field(default_factory=OrderedDict)
    version: int = field(default_factory=lambda: next(_PARSED_VERSIONS))  # unique per parse, for caches


class ExperimentParser:
    """Parses stored experiment documents, cached by their text (status writes do not change it)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[str, ParsedExperiment]] = {}

    def parse(self, record: ExperimentRecord, config_maps: ConfigMaps) -> ParsedExperiment:
        text = json.dumps(record.spec, sort_keys=True)
        cached = self._cache.get(record.id)
        if cached is not None and cached[0] == text:
            return cached[1]
        document = load_document(record.spec, source=record.name, index=0, config_maps=config_maps)
        template = document.experiment.spec.trial_template if document.experiment is not None else None
        trial_spec = document.sample_trial_spec if template is not None and template.config_map else None
        parsed = ParsedExperiment(document.experiment, trial_spec, [str(e) for e in document.errors])
        self._cache[record.id] = (text, parsed)
        return parsed


# --- trials -----------------------------------------------------------------------------------------

_PHASE_CONDITION = {
    TrialPhase.SUCCEEDED: "Succeeded",
    TrialPhase.FAILED: "Failed",
    TrialPhase.KILLED: "Killed",
    TrialPhase.EARLY_STOPPED: "EarlyStopped",
    TrialPhase.METRICS_UNAVAILABLE: "MetricsUnavailable",
}


def trial_conditions(trial: TrialRecord) -> list[dict[str, Any]]:
    """Katib's trial conditions: Created, then Running, then the condition of how it ended (the last one
    is what ``kubectl get trials`` shows)."""
    created = rfc3339(trial.created_at)
    conditions = [condition("Created", True, "TrialCreated", "Trial is created", created)]
    started = rfc3339(trial.start_time)
    ended = _PHASE_CONDITION.get(trial.phase)
    if trial.phase == TrialPhase.RUNNING:
        conditions.append(condition("Running", True, "TrialRunning", "Trial is running", started))
    elif ended is not None:
        finished = rfc3339(trial.completion_time)
        if started is not None:
            conditions.append(condition("Running", False, "TrialRunning", "Trial is not running", finished))
        conditions.append(condition(ended, True, trial.reason or f"Trial{ended}", trial.message or "", finished))
    elif trial.reason and trial.reason != "TrialCreated":  # put back to pending (interrupted, lost)
        conditions[0] = condition("Created", True, trial.reason, trial.message or "", created)
    return conditions


def trial_object(
    trial: TrialRecord,
    experiment: ExperimentRecord,
    *,
    metrics: Mapping[str, MetricStats] | None = None,
    parsed: ParsedExperiment | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Trial as Katib's trial controller fills it in. ``metrics``: its observation (left out when None);
    ``parsed``: the experiment, to render the trial's ``runSpec`` (left out when None: a Table needs none);
    ``owner``: the experiment's owner reference, when the caller builds many trials of it."""
    spec_doc = experiment.spec.get("spec") or {}
    template = spec_doc.get("trialTemplate") or {}
    labels = {EXPERIMENT_LABEL: experiment.name, **trial.labels}
    spec: dict[str, Any] = {
        "objective": spec_doc.get("objective"),
        "parameterAssignments": [{"name": k, "value": v} for k, v in trial.parameter_assignments.items()],
        "metricsCollector": spec_doc.get("metricsCollectorSpec"),
        "primaryContainerName": template.get("primaryContainerName"),
        "successCondition": template.get("successCondition"),
        "failureCondition": template.get("failureCondition"),
        "labels": dict(trial.labels),
    }
    if template.get("primaryPodLabels"):
        spec["primaryPodLabels"] = template["primaryPodLabels"]
    if parsed is not None and parsed.experiment is not None:
        spec["runSpec"] = _run_spec(trial, parsed)
    status: dict[str, Any] = {"conditions": trial_conditions(trial)}
    if trial.start_time is not None:
        status["startTime"] = rfc3339(trial.start_time)
    if trial.completion_time is not None:
        status["completionTime"] = rfc3339(trial.completion_time)
    if metrics:
        status["observation"] = {"metrics": metric_list(metrics)}
    return {
        "apiVersion": V1BETA1,
        "kind": "Trial",
        "metadata": {
            "name": trial.name,
            "namespace": experiment.namespace,
            "uid": uid("Trial", trial.name, trial.created_at),
            "resourceVersion": resource_version(trial.updated_at or trial.created_at),
            "creationTimestamp": rfc3339(trial.created_at),
            "generation": 1,
            "labels": labels,
            "ownerReferences": [owner or experiment_owner(experiment)],
        },
        "spec": spec,
        "status": status,
    }


def _run_spec(trial: TrialRecord, parsed: ParsedExperiment) -> dict[str, Any] | None:
    """The trial's rendered job (shared: callers only serialise it), from the cache when rendered before."""
    cache = parsed.run_specs
    if trial.name in cache:
        cache.move_to_end(trial.name)
        return cache[trial.name]
    assert parsed.experiment is not None
    try:
        rendered = render_trial(
            parsed.experiment, trial.name, trial.parameter_assignments, labels=trial.labels,
            trial_spec=parsed.trial_spec,
        )  # fmt: skip
    except ValueError:
        rendered = None
    cache[trial.name] = rendered
    if len(cache) > RUN_SPEC_CACHE:
        cache.popitem(last=False)
    return rendered


# --- suggestions ------------------------------------------------------------------------------------


def suggestion_object(experiment: ExperimentRecord, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """The experiment's Suggestion: one per experiment, named as it, with every assignment handed out."""
    spec_doc = experiment.spec.get("spec") or {}
    status_doc = experiment.status or {}
    ended = bool(status_doc.get("completionTime"))
    created = rfc3339(experiment.created_at)
    conditions = [condition("Created", True, "SuggestionCreated", "Suggestion is created", created)]
    if ended:
        stamp = status_doc.get("completionTime")
        conditions.append(condition("Running", False, "SuggestionRunning", "Suggestion is not running", stamp))
        conditions.append(condition("Succeeded", True, "SuggestionSucceeded", "Suggestion is succeeded", stamp))
    else:
        conditions.append(condition("Running", True, "SuggestionRunning", "Suggestion is running", created))
    updated = max([experiment.created_at, *(t.updated_at or t.created_at for t in trials)])
    return {
        "apiVersion": V1BETA1,
        "kind": "Suggestion",
        "metadata": {
            "name": experiment.name,
            "namespace": experiment.namespace,
            "uid": uid("Suggestion", f"{experiment.namespace}/{experiment.name}", experiment.created_at),
            "resourceVersion": resource_version(updated),
            "creationTimestamp": rfc3339(experiment.created_at),
            "generation": 1,
            "labels": {EXPERIMENT_LABEL: experiment.name},
            "ownerReferences": [experiment_owner(experiment)],
        },
        "spec": {
            "algorithm": spec_doc.get("algorithm"),
            "earlyStopping": spec_doc.get("earlyStopping"),
            "requests": len(trials),
            "resumePolicy": spec_doc.get("resumePolicy"),
        },
        "status": {
            "suggestionCount": len(trials),
            "suggestions": [
                {
                    "name": t.name,
                    "parameterAssignments": [{"name": k, "value": v} for k, v in t.parameter_assignments.items()],
                    **({"labels": dict(t.labels)} if t.labels else {}),
                }
                for t in trials
            ],
            "conditions": conditions,
            "startTime": rfc3339(experiment.created_at),
        },
    }


# --- pods -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodRef:
    """One replica of a trial as a pod: its name, process and log file; ``collector``: the primary pod of a
    StdOut trial carries Katib's collector sidecar, whose log is the trial's output."""

    name: str
    trial: TrialRecord
    process: ContainerProcess
    log: Path | None
    collector: bool = False

    @property
    def container(self) -> str:
        return str(self.process.container.get("name") or "main")

    def containers(self) -> list[str]:
        """Its containers' names, the primary first (what a log request may name)."""
        return [self.container, *([COLLECTOR_CONTAINER] if self.collector else [])]


def trial_pods(trial: TrialRecord, parsed: ParsedExperiment, entrypoint: Entrypoints | None = None) -> list[PodRef]:
    """The pods of a trial: one per replica of its rendered job, ``<trial>-<replica>-<index>``; ``entrypoint``:
    the mapped images' entrypoints, for containers that set no command."""
    if parsed.experiment is None:
        return []
    job = _run_spec(trial, parsed)
    template = parsed.experiment.spec.trial_template
    if job is None or template is None:
        return []
    try:
        processes = job_processes(job, primary_container_name=template.primary_container_name,
                                  primary_pod_labels=template.primary_pod_labels, entrypoint=entrypoint)  # fmt: skip
    except ValueError:
        return []
    directory = Path(trial.work_dir) if trial.work_dir else None
    collector = parsed.experiment.spec.metrics_collector_spec
    kind = collector.collector.kind if collector is not None and collector.collector is not None else None
    stdout = kind in (None, CollectorKind.STDOUT)
    pods = []
    for process in processes:
        log = None
        if directory is not None:
            log = directory / (PRIMARY_LOG if process.primary else f"{process.key}.log")
        pods.append(PodRef(f"{trial.name}-{process.key}", trial, process, log, collector=process.primary and stdout))
    return pods


_POD_PHASE = {
    TrialPhase.CREATED: "Pending",
    TrialPhase.RUNNING: "Running",
    TrialPhase.SUCCEEDED: "Succeeded",
    TrialPhase.METRICS_UNAVAILABLE: "Succeeded",
    TrialPhase.FAILED: "Failed",
    TrialPhase.KILLED: "Failed",
    TrialPhase.EARLY_STOPPED: "Succeeded",
}


def pod_object(pod: PodRef, experiment: ExperimentRecord) -> dict[str, Any]:
    trial, process = pod.trial, pod.process
    labels = {
        **{k: str(v) for k, v in process.labels.items()},
        EXPERIMENT_LABEL: experiment.name,
        TRIAL_LABEL: trial.name,
    }
    if process.primary:
        labels[PRIMARY_LABEL] = "true"
    phase = _POD_PHASE.get(trial.phase, "Unknown")
    container = process.container
    name = pod.container
    running = trial.phase == TrialPhase.RUNNING
    state: dict[str, Any]
    if running:
        state = {"running": {"startedAt": rfc3339(trial.start_time)}}
    elif trial.phase == TrialPhase.CREATED:
        state = {"waiting": {"reason": "ContainerCreating"}}
    else:
        code = trial.exit_code if process.primary and trial.exit_code is not None else 0
        reason = "Completed" if phase == "Succeeded" else "Error"  # what kubectl shows for a finished pod
        state = {"terminated": {"exitCode": code, "reason": reason,
                                "startedAt": rfc3339(trial.start_time),
                                "finishedAt": rfc3339(trial.completion_time)}}  # fmt: skip
    shown = ("name", "image", "command", "args", "env", "workingDir")
    containers = [{k: v for k, v in container.items() if k in shown} | {"name": name}]
    statuses = [_container_status(name, str(container.get("image", "")), running, state)]
    if pod.collector:
        containers.append({"name": COLLECTOR_CONTAINER, "image": COLLECTOR_IMAGE})
        statuses.append(_container_status(COLLECTOR_CONTAINER, COLLECTOR_IMAGE, running, _ended_well(state)))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": experiment.namespace,
            "uid": uid("Pod", pod.name, trial.created_at),
            "resourceVersion": resource_version(trial.updated_at or trial.created_at),
            "creationTimestamp": rfc3339(trial.created_at),
            "labels": labels,
            "annotations": {"kubectl.kubernetes.io/default-container": name},
        },
        "spec": {"containers": containers, "restartPolicy": "Never", "nodeName": "localhost"},
        "status": {"phase": phase, "startTime": rfc3339(trial.start_time), "containerStatuses": statuses},
    }


def _ended_well(state: dict[str, Any]) -> dict[str, Any]:
    """The collector's state beside the trial's: it ends when the trial does, with exit code 0."""
    if "terminated" not in state:
        return state
    return {"terminated": {**state["terminated"], "exitCode": 0, "reason": "Completed"}}


def _container_status(name: str, image: str, running: bool, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "ready": running,
        "restartCount": 0,
        "state": state,
        "image": image,
        "imageID": "",  # required by the Kubernetes client's model; there is no image here
        "started": running,
    }
