"""MPIJob and XGBoostJob trials: each replica's environment, labels and files as their operators give them,
and which replica is primary."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pykatib.spec import safe_yaml
from pykatib.trial.job import TrialJobError, job_processes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "katib" / "kubeflow-training-operator"


def trial_spec(example: str) -> dict[str, Any]:
    """The trialSpec of one of Katib's examples, its placeholders left as they are (only strings)."""
    experiment = safe_yaml.load((EXAMPLES / example).read_text())
    return copy.deepcopy(experiment["spec"]["trialTemplate"]["trialSpec"])


def no_entrypoint(image: str | None) -> tuple[list[str], list[str]] | None:
    return None


def test_mpijob_launcher_is_primary_by_katibs_labels_and_gets_open_mpis_settings() -> None:
    job = trial_spec("mpijob-horovod.yaml")
    processes = job_processes(job, primary_container_name="mpi-launcher",
                              primary_pod_labels={"mpi-job-role": "launcher"}, entrypoint=no_entrypoint)  # fmt: skip
    assert [p.key for p in processes] == ["launcher-0", "worker-0", "worker-1"]
    launcher, *workers = processes
    assert launcher.primary and not any(w.primary for w in workers)
    assert launcher.argv[:3] == ["mpirun", "-np", "2"]
    assert launcher.labels["mpi-job-role"] == "launcher"
    assert launcher.labels["training.kubeflow.org/job-role"] == "master"  # Katib's default primaryPodLabels
    assert launcher.env["OMPI_MCA_orte_default_hostfile"] == "/etc/mpi/hostfile"
    assert launcher.env["OMPI_MCA_plm_rsh_agent"] == "/etc/mpi/kubexec.sh"
    assert launcher.env["NVIDIA_VISIBLE_DEVICES"] == ""  # a launcher without GPUs must not take one
    # The hostfile lists the workers with slotsPerWorker slots each, all on this machine.
    assert launcher.files["/etc/mpi/hostfile"] == "localhost slots=1\nlocalhost slots=1\n"
    assert "/etc/mpi" in launcher.volume_mount_paths  # so the file lands in the replica's own root
    assert not launcher.ends_with_primary


def test_mpijob_workers_without_a_command_sleep_and_end_with_the_launcher() -> None:
    job = trial_spec("mpijob-horovod.yaml")
    processes = job_processes(job, primary_container_name=None, primary_pod_labels=None, entrypoint=no_entrypoint)
    workers = [p for p in processes if p.replica == "Worker"]
    assert [w.argv for w in workers] == [["sleep", "365d"]] * 2  # as the MPI operator makes them
    assert all(w.ends_with_primary for w in workers)
    assert [w.labels["mpi-job-role"] for w in workers] == ["worker", "worker"]
    assert all("OMPI_MCA_orte_default_hostfile" not in w.env for w in workers)
    # Without primaryPodLabels (Katib's default: job-role master), the launcher is primary.
    assert [p.key for p in processes if p.primary] == ["launcher-0"]


def test_mpijob_slots_and_a_worker_command_are_kept() -> None:
    job = trial_spec("mpijob-horovod.yaml")
    job["spec"]["slotsPerWorker"] = 4
    worker = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    worker["command"] = ["/usr/sbin/sshd", "-De"]
    processes = job_processes(job, primary_container_name=None, primary_pod_labels=None)
    assert processes[0].files["/etc/mpi/hostfile"] == "localhost slots=4\n" * 2
    assert processes[1].argv == ["/usr/sbin/sshd", "-De"]
    job["spec"]["slotsPerWorker"] = 0
    with pytest.raises(TrialJobError, match=r"slotsPerWorker must be a positive integer, got 0"):
        job_processes(job, primary_container_name=None, primary_pod_labels=None)


def test_mpijob_gpu_launcher_is_a_host_too() -> None:
    job = trial_spec("mpijob-horovod.yaml")
    launcher = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    launcher["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    processes = job_processes(job, primary_container_name=None, primary_pod_labels=None)
    assert processes[0].files["/etc/mpi/hostfile"] == "localhost slots=1\n" * 3
    assert "NVIDIA_VISIBLE_DEVICES" not in processes[0].env


def lightgbm_entrypoint(image: str | None) -> tuple[list[str], list[str]] | None:
    return (["python", "/app/main.py"], []) if image and "xgboost-lightgbm" in image else None


def test_xgboostjob_runs_the_image_entrypoint_with_the_operators_ranks() -> None:
    job = trial_spec("xgboostjob-lightgbm.yaml")
    processes = job_processes(job, primary_container_name="xgboost", primary_pod_labels=None,
                              entrypoint=lightgbm_entrypoint)  # fmt: skip
    assert [p.key for p in processes] == ["master-0", "worker-0", "worker-1"]
    assert [p.primary for p in processes] == [True, False, False]
    assert processes[0].argv[:3] == ["python", "/app/main.py", "--job_type=Train"]
    master_port = processes[0].env["MASTER_PORT"]
    for rank, process in enumerate(processes):  # the Master first, Worker i is rank i + 1
        assert process.env["RANK"] == str(rank)
        assert process.env["WORLD_SIZE"] == "3"
        assert process.env["MASTER_ADDR"] == "localhost"
        assert process.env["MASTER_PORT"] == master_port
        assert process.env["WORKER_ADDRS"] == "localhost,localhost"
        assert process.env["WORKER_PORT"] == processes[0].env["WORKER_PORT"]
        assert not process.ends_with_primary  # every replica's exit counts
    assert master_port != processes[0].env["WORKER_PORT"]


def test_xgboostjob_with_one_master_still_gets_its_rank() -> None:
    job = trial_spec("xgboostjob-lightgbm.yaml")
    del job["spec"]["xgbReplicaSpecs"]["Worker"]
    (master,) = job_processes(job, primary_container_name="xgboost", primary_pod_labels=None,
                              entrypoint=lightgbm_entrypoint)  # fmt: skip
    assert (master.env["RANK"], master.env["WORLD_SIZE"]) == ("0", "1")
    assert "WORKER_ADDRS" not in master.env and "WORKER_PORT" not in master.env
