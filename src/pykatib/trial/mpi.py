"""A kubeflow.org/v1 MPIJob's pods as the MPI operator makes them (mpi-operator v1, training-operator v1).

The Launcher runs ``mpirun``; the Workers only host its ranks: a worker container without a command runs
``sleep 365d``. The operator mounts a ConfigMap at ``/etc/mpi`` holding the hostfile (one line per worker,
``slots=slotsPerWorker``) and ``kubexec.sh`` (how ``mpirun`` reaches a worker), and points Open MPI at both
(``OMPI_MCA_orte_default_hostfile``, ``OMPI_MCA_plm_rsh_agent``). The job's outcome is the launcher's; the
workers are deleted once it has ended (cleanPodPolicy). Here every pod is a process on this machine, so the
hostfile names ``localhost`` and ``kubexec.sh`` runs the command here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pykatib.trial.job import ContainerProcess

KIND = "MPIJob"
LAUNCHER = "launcher"
WORKER = "worker"
# The role label of mpi-operator v1 and of the training operator's early MPIJob controller: Katib's example
# selects its primary pod by ``mpi-job-role: launcher``.
ROLE_LABEL = "mpi-job-role"
CONFIG_VOLUME = "mpi-job-config"
CONFIG_DIR = "/etc/mpi"
HOSTFILE = f"{CONFIG_DIR}/hostfile"
RSH_AGENT = f"{CONFIG_DIR}/kubexec.sh"
# What a worker runs when its container sets no command: it only hosts the ranks mpirun starts on it.
WORKER_COMMAND = ["sleep"]
WORKER_ARGS = ["365d"]
# kubexec.sh: the operator's runs ``kubectl exec POD -- /bin/sh -c "$*"``; every pod is local here.
KUBEXEC = (
    '#!/bin/sh\n# Every pod of this trial runs on this machine: the command runs here.\nshift\nexec /bin/sh -c "$*"\n'
)


def pod_container(replica_type: str, container: dict[str, Any]) -> dict[str, Any]:
    """The container as the operator puts it in the pod: the config volume mounted, and a worker without a
    command given ``sleep 365d``."""
    mounts = [*(container.get("volumeMounts") or []), {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR}]
    pod = {**container, "volumeMounts": mounts}
    if replica_type.lower() == WORKER and not container.get("command"):
        pod["command"], pod["args"] = list(WORKER_COMMAND), list(WORKER_ARGS)
    return pod


def role_labels(replica_type: str) -> dict[str, str]:
    return {ROLE_LABEL: replica_type.lower()}


def _slots(job: dict[str, Any]) -> int:
    value = (job.get("spec") or {}).get("slotsPerWorker")
    try:
        slots = int(value) if value is not None else 1
    except (TypeError, ValueError):
        slots = 0
    if slots < 1:
        raise ValueError(f"MPIJob: spec.slotsPerWorker must be a positive integer, got {value!r}")
    return slots


def _gpu_launcher(container: dict[str, Any]) -> bool:
    """The operator's isGPULauncher: a launcher limit naming a GPU makes it a host of the hostfile too."""
    limits = (container.get("resources") or {}).get("limits") or {}
    return any(str(k).endswith(".com/gpu") or "gpu" in str(k) for k in limits)


def configure(job: dict[str, Any], processes: Sequence[ContainerProcess]) -> None:
    """Set what the operator gives each pod: the config files, the launcher's Open MPI variables, and the
    workers' end with the launcher (their exit is not the job's). ValueError: a bad ``slotsPerWorker``."""
    slots = _slots(job)
    launchers = [p for p in processes if p.replica.lower() == LAUNCHER]
    workers = [p for p in processes if p.replica.lower() == WORKER]
    gpu_launcher = any(_gpu_launcher(p.container) for p in launchers)
    hosts = (len(launchers[:1]) if gpu_launcher else 0) + len(workers)
    hostfile = "".join(f"localhost slots={slots}\n" for _ in range(hosts))
    for process in processes:
        process.files[RSH_AGENT] = KUBEXEC
        if process.replica.lower() == WORKER:
            process.ends_with_primary = True
    for launcher in launchers:
        launcher.files[HOSTFILE] = hostfile
        env = {"OMPI_MCA_plm_rsh_agent": RSH_AGENT, "OMPI_MCA_orte_default_hostfile": HOSTFILE}
        if not gpu_launcher:  # so that the launcher does not take a GPU by mistake
            env.update({"NVIDIA_VISIBLE_DEVICES": "", "NVIDIA_DRIVER_CAPABILITIES": ""})
        launcher.env.update(env)  # appended after the container's own: the operator's values win
