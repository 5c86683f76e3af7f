"""What runs for a trial: the primary container of a Job, one process per replica of a training job."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pykatib.trial.job import TrialJobError, active_deadline_seconds, default_primary_container, job_processes


def container(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "img", "command": command, **extra}


def replica(count: int, *containers: dict[str, Any]) -> dict[str, Any]:
    return {"replicas": count, "template": {"spec": {"containers": list(containers)}}}


def test_batch_job_runs_the_primary_container() -> None:
    job = {"kind": "Job", "spec": {"template": {"spec": {"containers": [
        container("sidecar", ["sleep", "1"]),
        container("train", ["python3", "t.py"], args=["--lr", "0.1"], env=[{"name": "A", "value": "1"},
                                                                            {"name": "S", "valueFrom": {}}]),
    ]}}}}  # fmt: skip
    (process,) = job_processes(job, primary_container_name="train", primary_pod_labels=None)
    assert process.argv == ["python3", "t.py", "--lr", "0.1"]
    assert process.env == {"A": "1"}  # valueFrom has no meaning off a cluster
    assert process.primary and process.key == "job-0"


def test_missing_primary_container_and_command_are_errors() -> None:
    job = {
        "kind": "Job",
        "spec": {"template": {"spec": {"containers": [container("a", ["x"]), container("b", ["y"])]}}},
    }
    with pytest.raises(TrialJobError, match="no container named 'c'"):
        job_processes(job, primary_container_name="c", primary_pod_labels=None)
    job = {"kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["--x"]}]}}}}
    with pytest.raises(TrialJobError, match="sets no command"):
        job_processes(job, primary_container_name="a", primary_pod_labels=None)


def test_tfjob_workers_get_tf_config_and_the_labelled_primary() -> None:
    job = {
        "kind": "TFJob",
        "spec": {"tfReplicaSpecs": {"Worker": replica(2, container("tensorflow", ["python", "m.py"]))}},
    }
    processes = job_processes(job, primary_container_name="tensorflow",
                              primary_pod_labels={"training.kubeflow.org/replica-type": "worker"})  # fmt: skip
    assert [p.key for p in processes] == ["worker-0", "worker-1"]
    assert [p.primary for p in processes] == [True, False]
    configs = [json.loads(p.env["TF_CONFIG"]) for p in processes]
    assert configs[0]["cluster"] == configs[1]["cluster"] and len(configs[0]["cluster"]["worker"]) == 2
    assert [c["task"] for c in configs] == [{"type": "worker", "index": 0}, {"type": "worker", "index": 1}]


def test_tfjob_without_a_master_falls_back_to_worker_zero() -> None:
    job = {"kind": "TFJob", "spec": {"tfReplicaSpecs": {"Worker": replica(1, container("tensorflow", ["python"]))}}}
    (process,) = job_processes(job, primary_container_name="tensorflow",
                               primary_pod_labels={"training.kubeflow.org/job-role": "master"})  # fmt: skip
    assert process.primary


def test_pytorchjob_master_and_workers_get_ranks() -> None:
    job = {"kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {
        "Worker": replica(2, container("pytorch", ["python3", "w.py"])),
        "Master": replica(1, container("pytorch", ["python3", "w.py"])),
    }}}  # fmt: skip
    processes = job_processes(job, primary_container_name="pytorch",
                              primary_pod_labels={"training.kubeflow.org/job-role": "master"})  # fmt: skip
    by_key = {p.key: p for p in processes}
    assert by_key["master-0"].primary and not by_key["worker-0"].primary
    assert {p.key: p.env["RANK"] for p in processes} == {"master-0": "0", "worker-0": "1", "worker-1": "2"}
    assert {p.env["WORLD_SIZE"] for p in processes} == {"3"}
    assert len({p.env["MASTER_PORT"] for p in processes}) == 1
    assert {p.env["MASTER_ADDR"] for p in processes} == {"localhost"}


def test_deadline_and_default_container() -> None:
    assert active_deadline_seconds({"spec": {"activeDeadlineSeconds": 5}}) == 5
    assert active_deadline_seconds({"spec": {"runPolicy": {"activeDeadlineSeconds": "7"}}}) == 7
    assert active_deadline_seconds({"spec": {}}) is None
    job = {
        "kind": "PyTorchJob",
        "spec": {"pytorchReplicaSpecs": {"Master": replica(1, container("x", ["a"]), container("pytorch", ["b"]))}},
    }
    assert default_primary_container(job) == "pytorch"


def test_a_container_without_command_runs_its_images_entrypoint_when_known() -> None:
    """As Kubernetes: no command -> the image's ENTRYPOINT, then the container's args, else the image's CMD."""
    known = {"img": (["/entry"], ["--default"]), "cmd-only": ([], ["run", "it"])}

    def entrypoint(image: str | None) -> tuple[list[str], list[str]] | None:
        return known.get(image or "")

    def argv(**c: Any) -> list[str]:
        job = {"kind": "Job", "spec": {"template": {"spec": {"containers": [{"name": "a", **c}]}}}}
        (process,) = job_processes(job, primary_container_name="a", primary_pod_labels=None, entrypoint=entrypoint)
        return process.argv

    assert argv(image="img", args=["--x"]) == ["/entry", "--x"]
    assert argv(image="img") == ["/entry", "--default"]
    assert argv(image="cmd-only") == ["run", "it"]
    assert argv(image="img", command=["own"], args=["a"]) == ["own", "a"]  # a command replaces both
    with pytest.raises(TrialJobError, match="sets no command and its image's entrypoint is not known"):
        argv(image="other", args=["--x"])


def test_trainjob_runs_its_nodes_with_the_torch_runtimes_environment() -> None:
    job = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "spec": {
        "runtimeRef": {"name": "torch-distributed"},
        "trainer": {"image": "img", "command": ["torchrun", "train.py"], "args": ["--lr", "0.1"], "numNodes": 3,
                    "env": [{"name": "A", "value": "1"}]},
    }}  # fmt: skip
    primary = {"jobset.sigs.k8s.io/replicatedjob-name": "node", "batch.kubernetes.io/job-completion-index": "0"}
    processes = job_processes(job, primary_container_name="node", primary_pod_labels=primary)
    assert [p.key for p in processes] == ["node-0", "node-1", "node-2"]
    assert [p.primary for p in processes] == [True, False, False]
    assert all(p.argv == ["torchrun", "train.py", "--lr", "0.1"] for p in processes)
    assert [p.env["PET_NODE_RANK"] for p in processes] == ["0", "1", "2"]
    assert {p.env["PET_NNODES"] for p in processes} == {"3"}
    assert len({p.env["PET_MASTER_PORT"] for p in processes}) == 1
    assert processes[0].env["A"] == "1" and processes[0].env["PET_MASTER_ADDR"] == "localhost"
    job["spec"]["trainer"]["numNodes"] = 0
    with pytest.raises(TrialJobError, match="numNodes must be at least 1"):
        job_processes(job, primary_container_name="node", primary_pod_labels=primary)
