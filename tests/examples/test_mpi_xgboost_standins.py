"""The stand-ins of the MPIJob and XGBoostJob examples' images: the ``mpirun`` of mpi-horovod-mnist (its
Open MPI command line, its ranks, a failing rank), its trainer, and xgboost-lightgbm's LightGBM-style log."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

IMAGES = Path(__file__).resolve().parents[2] / "examples" / "images"
MPIRUN = IMAGES / "mpi-horovod-mnist" / "usr" / "local" / "bin" / "mpirun"
TF_MNIST = IMAGES / "mpi-horovod-mnist" / "examples" / "tensorflow_mnist.py"
LIGHTGBM = IMAGES / "xgboost-lightgbm" / "app" / "main.py"
# Katib's default StdOut filter, and the metricsFormat of Katib's xgboostjob-lightgbm example.
KATIB_DEFAULT_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
LIGHTGBM_FILTER = re.compile(r"(\w+\s\w+)\s:\s((-?\d+)(\.\d+)?)")
# The launcher's arguments in Katib's mpijob-horovod example, up to the program.
KATIB_MPIRUN_FLAGS = ["-np", "2", "--allow-run-as-root", "-bind-to", "none", "-map-by", "slot", "-x",
                      "LD_LIBRARY_PATH", "-x", "PATH", "-mca", "pml", "ob1", "-mca", "btl", "^openib"]  # fmt: skip


def load_mpirun() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("standin_mpirun", str(MPIRUN))
    spec = importlib.util.spec_from_loader("standin_mpirun", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    loader.exec_module(module)
    return module


def mpirun(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The stand-in run as the launcher runs it, ``python`` on PATH being this interpreter."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    inherited = {k: v for k, v in os.environ.items() if k != "OMPI_MCA_orte_default_hostfile"}
    full_env = {**inherited, "PATH": path, **(env or {})}
    return subprocess.run([sys.executable, str(MPIRUN), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_mpirun_reads_katibs_open_mpi_command_line() -> None:
    command = load_mpirun().parse([*KATIB_MPIRUN_FLAGS, "python", "/examples/tensorflow_mnist.py", "--lr", "0.01"])
    assert command.np == 2
    assert command.env == {"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "^openib"}
    assert command.exported == ["LD_LIBRARY_PATH", "PATH"]
    # Everything from the program on is the program's, its own flags included.
    assert command.program == ["python", "/examples/tensorflow_mnist.py", "--lr", "0.01"]


def test_mpirun_refuses_what_open_mpi_refuses(tmp_path: Path) -> None:
    module = load_mpirun()
    with pytest.raises(module.UsageError, match="unknown option '--no-such-flag'"):
        module.parse(["-np", "2", "--no-such-flag", "python"])
    with pytest.raises(module.UsageError, match="no executable"):
        module.parse(["-np", "2", "-x", "PATH"])
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("localhost slots=1\n")
    env = {"OMPI_MCA_orte_default_hostfile": str(hostfile)}
    refused = mpirun("-np", "2", "true", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "not enough slots" in refused.stderr
    assert mpirun("-np", "2", "--oversubscribe", "true", cwd=tmp_path, env=env).returncode == 0


def test_mpirun_starts_its_ranks_with_open_mpis_variables(tmp_path: Path) -> None:
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("localhost slots=1\nlocalhost slots=1\n")
    script = (
        'echo "rank $OMPI_COMM_WORLD_RANK/$OMPI_COMM_WORLD_SIZE local $OMPI_COMM_WORLD_LOCAL_RANK $1 $OMPI_MCA_pml"'
    )
    done = mpirun(*KATIB_MPIRUN_FLAGS, "sh", "-c", script, "sh", "a value; not shell",
                  cwd=tmp_path, env={"OMPI_MCA_orte_default_hostfile": str(hostfile)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == [
        "rank 0/2 local 0 a value; not shell ob1",
        "rank 1/2 local 1 a value; not shell ob1",
    ]


def test_a_failing_rank_stops_the_others_and_fails_mpirun(tmp_path: Path) -> None:
    # Rank 0 records its pid and sleeps; rank 1 fails once rank 0 is surely running.
    pid_file = tmp_path / "rank0.pid"
    script = (
        f'if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then echo $$ > {pid_file}; exec sleep 365; fi; '
        f"while [ ! -s {pid_file} ]; do sleep 0.05; done; exit 4"
    )
    failed = mpirun("-np", "2", "--oversubscribe", "sh", "-c", script, cwd=tmp_path)
    assert failed.returncode == 4
    assert "Process rank 1" in failed.stderr and "exited with status 4" in failed.stderr
    pid = int(pid_file.read_text())
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"  # stopped, not running


def test_tensorflow_mnist_trains_per_rank_and_rank_zero_logs_the_loss(tmp_path: Path) -> None:
    def losses(lr: str) -> list[float]:
        done = mpirun("-np", "2", "--oversubscribe", "python", str(TF_MNIST), "--lr", lr, "--num-steps", "60",
                      cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        # 60 steps over 2 ranks: steps 0, 10, 20 of rank 0 only, as TensorFlow's LoggingTensorHook prints them.
        assert [line.split("step = ")[1] for line in lines] == ["0", "10", "20"]
        assert all(line.startswith("INFO:tensorflow:loss = ") for line in lines)
        return [float(v) for line in lines for k, v, *_ in KATIB_DEFAULT_FILTER.findall(line) if k == "loss"]

    slow, fast = losses("0.001"), losses("0.003")
    assert slow[0] == fast[0]  # the same start on every rank and run
    assert fast[-1] < slow[-1] < slow[0]  # it learns, faster with a larger learning rate


def lightgbm(tmp_path: Path, *args: str) -> list[tuple[str, float]]:
    env = {**os.environ, "MASTER_ADDR": "localhost", "MASTER_PORT": "9991", "WORLD_SIZE": "3", "RANK": "0",
           "WORKER_ADDRS": "localhost,localhost", "WORKER_PORT": "9992"}  # fmt: skip
    done = subprocess.run([sys.executable, str(LIGHTGBM), "--job_type=Train", "--metric=binary_logloss,auc",
                           "--objective=binary", "--metric_freq=1", "--is_training_metric=true",
                           "--tree_learner=feature", "--min_data_in_leaf=50", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [(m[0], float(m[1])) for m in LIGHTGBM_FILTER.findall(done.stdout + done.stderr)]


def test_lightgbm_standin_logs_each_iterations_metrics_as_lightgbm(tmp_path: Path) -> None:
    metrics = lightgbm(tmp_path, "--learning_rate=0.05", "--num_leaves=50", "--num_trees=4")
    names = ["training binary_logloss", "training auc", "valid_1 binary_logloss", "valid_1 auc"]
    assert [name for name, _ in metrics] == names * 4  # four iterations, each metric once per data set
    assert all(0 < value <= 1 for name, value in metrics if name.endswith("auc"))
    faster = lightgbm(tmp_path, "--learning_rate=0.1", "--num_leaves=50", "--num_trees=4")
    # The learning rate changes the training: the last training logloss is lower with the larger one.
    assert faster[-4][1] < metrics[-4][1]
