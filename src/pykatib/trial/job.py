"""What to run, read from a trial's Kubernetes object (Job, TFJob, PyTorchJob, ...).

A batch/v1 Job runs its primary container. A training-operator job runs one process per replica, with the
environment the operator would give each pod (TF_CONFIG; MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK), and
metrics come from the primary replica: the first pod whose labels match ``primaryPodLabels``, else the
Master/Chief, else Worker 0. An XGBoostJob's replicas get the XGBoost operator's MASTER_*/RANK/WORKER_*
variables; an MPIJob's pods are made as the MPI operator makes them (``trial.mpi``). A Kubeflow Trainer v2
TrainJob runs ``numNodes`` nodes of its trainer with the torch runtime's ``PET_*`` variables.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pykatib.trial import mpi

# The container name each training operator's examples and Katib's v1alpha3 controller looked for.
KIND_CONTAINER_NAMES = {"TFJob": "tensorflow", "PyTorchJob": "pytorch", "XGBoostJob": "xgboost", "MPIJob": "mpi"}
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"
# Kubeflow Trainer v2: a TrainJob's nodes are the pods of its JobSet's "node" replicated job.
TRAINJOB_KIND = "TrainJob"
TRAINJOB_CONTAINER = "node"
TRAINJOB_REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
JOB_COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
# Replica types the operators give the master job role; also the fallback order for the primary replica.
MASTER_TYPES = ("master", "chief", "launcher")
FALLBACK_PRIMARY = ("master", "chief", "launcher", "worker")


# An image -> its (ENTRYPOINT, CMD), or None when unknown (``execute.localize.ImageMap.entrypoint``).
Entrypoints = Callable[[str | None], tuple[list[str], list[str]] | None]


class TrialJobError(ValueError):
    """The trial object cannot be turned into processes (no container, no command...)."""


@dataclass
class ContainerProcess:
    """One process to start: a container of one replica (pod) of the trial's job."""

    replica: str  # "job" for a batch Job, else the replica type as written ("Worker", "Master")
    index: int
    container: dict[str, Any]
    argv: list[str]
    env: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    primary: bool = False
    # Stopped once the primary has ended, its exit not counted: an MPIJob's workers, which only host ranks.
    ends_with_primary: bool = False
    # Files the operator mounts into the pod (a ConfigMap volume): container path -> content.
    files: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str | None:
        image = self.container.get("image")
        return str(image) if image else None

    @property
    def working_dir(self) -> str | None:
        wd = self.container.get("workingDir")
        return str(wd) if wd else None

    @property
    def volume_mount_paths(self) -> list[str]:
        mounts = self.container.get("volumeMounts") or []
        return [str(m["mountPath"]) for m in mounts if isinstance(m, dict) and m.get("mountPath")]

    @property
    def key(self) -> str:
        """A file-name-safe id: ``job-0``, ``worker-1``."""
        return f"{self.replica.lower()}-{self.index}"


def iter_containers(obj: Any) -> Iterator[dict[str, Any]]:
    """Every container of every pod template in the object, in document order."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "containers" and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from iter_containers(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from iter_containers(item)


def default_primary_container(trial_spec: dict[str, Any]) -> str | None:
    """The primary container when the template names none (v1alpha3): the kind's usual name, else the first."""
    names = [str(c.get("name")) for c in iter_containers(trial_spec) if c.get("name")]
    preferred = KIND_CONTAINER_NAMES.get(str(trial_spec.get("kind")))
    if preferred in names:
        return preferred
    return names[0] if names else None


def active_deadline_seconds(job: dict[str, Any]) -> float | None:
    """batch/v1 ``spec.activeDeadlineSeconds``, or a training job's ``spec.runPolicy.activeDeadlineSeconds``."""
    spec = job.get("spec") or {}
    value = spec.get("activeDeadlineSeconds")
    if value is None:
        value = (spec.get("runPolicy") or {}).get("activeDeadlineSeconds")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _replica_specs(job: dict[str, Any]) -> dict[str, Any] | None:
    spec = job.get("spec") or {}
    for key, value in spec.items():
        if key.endswith("ReplicaSpecs") and isinstance(value, dict):
            return value
    return None


def _pick_container(pod_spec: dict[str, Any], primary_name: str | None, where: str) -> dict[str, Any]:
    containers = [c for c in pod_spec.get("containers") or [] if isinstance(c, dict)]
    if not containers:
        raise TrialJobError(f"{where} has no containers")
    for container in containers:
        if primary_name and container.get("name") == primary_name:
            return container
    if primary_name and len(containers) > 1:
        raise TrialJobError(f"{where} has no container named {primary_name!r}")
    return containers[0]


def container_argv(container: dict[str, Any], where: str, entrypoint: Entrypoints | None = None) -> list[str]:
    """The container's command and args; with no command, the image's ENTRYPOINT and (without args) its CMD,
    as Kubernetes runs it, when ``entrypoint`` knows them for the container's image."""
    command = container.get("command") or []
    args = container.get("args") or []
    if not isinstance(command, list) or not isinstance(args, list):
        raise TrialJobError(f"{where}: command and args must be lists")
    if not command:
        image = container.get("image")
        declared = entrypoint(str(image) if image else None) if entrypoint else None
        if declared is None:
            raise TrialJobError(
                f"{where}: the container sets no command and its image's entrypoint is not known; pykatib runs "
                "the command, or the entrypoint an image mapping declares (docs/images.md)"
            )
        command, cmd = declared
        args = args or cmd
    return [str(a) for a in [*command, *args]]


def container_env(container: dict[str, Any], fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """The container's ``env`` values. ``valueFrom`` (secrets, field refs) has no meaning off a cluster: such
    variables are left unset, but for a ``fieldRef`` to one of ``fields`` (``metadata.name`` -> its value)."""
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        if "value" in item:
            env[str(item["name"])] = "" if item["value"] is None else str(item["value"])
        elif fields:
            path = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if path in fields:
                env[str(item["name"])] = fields[str(path)]
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def job_processes(
    job: dict[str, Any],
    *,
    primary_container_name: str | None,
    primary_pod_labels: Mapping[str, str] | None,
    entrypoint: Entrypoints | None = None,
) -> list[ContainerProcess]:
    """The processes of a trial, exactly one of them primary (its output and files carry the metrics);
    ``entrypoint``: the ENTRYPOINT and CMD of an image, for containers that set no command."""
    kind = str(job.get("kind", ""))
    if kind == TRAINJOB_KIND:
        return _trainjob_processes(job, primary_pod_labels, entrypoint)
    if kind == "Workflow" and str(job.get("apiVersion", "")).startswith("argoproj.io/"):
        from pykatib.trial.workflow import workflow_processes  # it builds on this module

        return workflow_processes(job, primary_container_name, primary_pod_labels, entrypoint)
    replicas = _replica_specs(job)
    if replicas is None:
        pod_spec = (((job.get("spec") or {}).get("template") or {}).get("spec")) or {}
        container = _pick_container(pod_spec, primary_container_name, f"{kind} pod template")
        return [
            ContainerProcess(
                "job", 0, container, container_argv(container, kind, entrypoint), container_env(container), primary=True
            )
        ]
    processes: list[ContainerProcess] = []
    for replica_type, replica in replicas.items():
        if not isinstance(replica, dict):
            continue
        template = replica.get("template") or {}
        count = int(replica.get("replicas", 1) or 1)
        where = f"{kind} {replica_type} replica"
        container = _pick_container(template.get("spec") or {}, primary_container_name, where)
        if kind == mpi.KIND:
            container = mpi.pod_container(replica_type, container)
        base_labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
        for index in range(count):
            labels = {**base_labels, REPLICA_TYPE_LABEL: replica_type.lower(), REPLICA_INDEX_LABEL: str(index)}
            if replica_type.lower() in MASTER_TYPES:
                labels[JOB_ROLE_LABEL] = "master"
            if kind == mpi.KIND:
                labels.update(mpi.role_labels(replica_type))
            processes.append(
                ContainerProcess(
                    replica_type,
                    index,
                    container,
                    container_argv(container, where, entrypoint),
                    container_env(container),
                    labels,
                )
            )
    if not processes:
        raise TrialJobError(f"{kind} has no replicas")
    _mark_primary(processes, primary_pod_labels or {})
    if kind == mpi.KIND:
        try:
            mpi.configure(job, processes)
        except ValueError as exc:
            raise TrialJobError(str(exc)) from None
    else:
        _distributed_env(kind, processes)
    return processes


def _trainjob_processes(
    job: dict[str, Any], primary_pod_labels: Mapping[str, str] | None, entrypoint: Entrypoints | None
) -> list[ContainerProcess]:
    """Kubeflow Trainer v2's TrainJob: ``spec.trainer.numNodes`` nodes (pods of the JobSet's ``node`` replicated
    job) running the trainer's container, each with what the torch runtime gives it (``PET_*``, which torchrun
    reads); the node with completion index 0 is primary, as Katib's TrainJob defaults say."""
    trainer = (job.get("spec") or {}).get("trainer") or {}
    if not isinstance(trainer, dict):
        raise TrialJobError("TrainJob: spec.trainer must be a mapping")
    try:
        nodes = int(trainer["numNodes"]) if trainer.get("numNodes") is not None else 1
    except (TypeError, ValueError):
        raise TrialJobError(
            f"TrainJob: spec.trainer.numNodes must be an integer, got {trainer.get('numNodes')!r}"
        ) from None
    if nodes < 1:
        raise TrialJobError(f"TrainJob: spec.trainer.numNodes must be at least 1, got {nodes}")
    container = {
        "name": TRAINJOB_CONTAINER,
        **{k: trainer[k] for k in ("image", "command", "args", "env") if k in trainer},
    }
    argv = container_argv(container, "TrainJob spec.trainer", entrypoint)
    per_node = trainer.get("numProcPerNode", "auto")
    master_port = free_port()
    processes = []
    for index in range(nodes):
        labels = {TRAINJOB_REPLICATED_JOB_LABEL: TRAINJOB_CONTAINER, JOB_COMPLETION_INDEX_LABEL: str(index)}
        env = container_env(container)
        for name, value in (("PET_NNODES", str(nodes)), ("PET_NPROC_PER_NODE", str(per_node)),
                            ("PET_NODE_RANK", str(index)), ("PET_MASTER_ADDR", "localhost"),
                            ("PET_MASTER_PORT", str(master_port))):  # fmt: skip
            env.setdefault(name, value)
        processes.append(ContainerProcess(TRAINJOB_CONTAINER, index, container, list(argv), env, labels))
    _mark_primary(processes, primary_pod_labels or {})
    return processes


def _mark_primary(processes: list[ContainerProcess], wanted: Mapping[str, str]) -> None:
    matching = [p for p in processes if wanted and all(p.labels.get(k) == v for k, v in wanted.items())]
    if not matching:
        for replica_type in FALLBACK_PRIMARY:
            matching = [p for p in processes if p.replica.lower() == replica_type]
            if matching:
                break
    (matching or processes)[0].primary = True


def _distributed_env(kind: str, processes: list[ContainerProcess]) -> None:
    """The variables the training operator sets, with every replica on localhost."""
    if len(processes) == 1 and kind not in ("TFJob", "PyTorchJob", "XGBoostJob"):
        return
    ports = {p.key: free_port() for p in processes}
    if kind == "TFJob":
        cluster: dict[str, list[str]] = {}
        for p in processes:
            cluster.setdefault(p.replica.lower(), []).append(f"localhost:{ports[p.key]}")
        for p in processes:
            task = {"type": p.replica.lower(), "index": p.index}
            p.env.setdefault("TF_CONFIG", json.dumps({"cluster": cluster, "task": task, "environment": "cloud"}))
    elif kind == "PyTorchJob":
        ordered = sorted(processes, key=lambda p: (p.replica.lower() != "master", p.index))
        master_port = ports[ordered[0].key]
        for rank, p in enumerate(ordered):
            p.env.setdefault("MASTER_ADDR", "localhost")
            p.env.setdefault("MASTER_PORT", str(master_port))
            p.env.setdefault("WORLD_SIZE", str(len(ordered)))
            p.env.setdefault("RANK", str(rank))
    elif kind == "XGBoostJob":
        _xgboost_env(processes, ports)


def _xgboost_env(processes: list[ContainerProcess], ports: Mapping[str, int]) -> None:
    """The XGBoost operator's variables (XGBoost's Rabit tracker, LightGBM's machine list): the Masters rank
    first, Worker i is rank i + the number of Masters; WORKER_ADDRS lists WORLD_SIZE - 1 workers, which the
    operator reaches on one WORKER_PORT (each on its own pod's address)."""
    masters = sum(1 for p in processes if p.replica.lower() == "master")
    first = next((p for p in processes if p.replica.lower() == "master"), processes[0])
    world = len(processes)
    worker_port = free_port()
    for p in processes:
        rank = p.index + (masters if p.replica.lower() == "worker" else 0)
        p.env.setdefault("MASTER_PORT", str(ports[first.key]))
        p.env.setdefault("MASTER_ADDR", "localhost")
        p.env.setdefault("WORLD_SIZE", str(world))
        p.env.setdefault("RANK", str(rank))
        if world > 1:
            p.env.setdefault("WORKER_PORT", str(worker_port))
            p.env.setdefault("WORKER_ADDRS", ",".join(["localhost"] * (world - 1)))
