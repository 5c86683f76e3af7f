"""``pykatib delete``: an experiment's store rows and its own files, and nothing of another namespace's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from e2e_support import make_experiment, opened_store, run_pykatib, start_pykatib, trials_of, write_experiment
from pykatib.store import experiment_dir

NAME = "crash1"


def delete(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pykatib.cli", "delete", *args, "--workdir", str(workdir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def run_in_namespace(tmp_path: Path, workdir: Path, namespace: str) -> Path:
    """Run a one-trial experiment called NAME in ``namespace``; the folder its trials are in."""
    doc = make_experiment(["python3", "-c", "import sys; print('loss=' + sys.argv[1])", "${trialParameters.x}"],
                          name=NAME, maxTrialCount=1, parallelTrialCount=1)  # fmt: skip
    doc["metadata"]["namespace"] = namespace
    rc, _, stderr = run_pykatib(write_experiment(tmp_path, doc, f"{namespace}.yaml"), "--workdir", str(workdir))
    assert rc == 0, stderr
    [trial] = trials_of(workdir, NAME, namespace)
    directory = experiment_dir(workdir, namespace, NAME)
    assert (directory / "trials" / trial.name / "trial.log").is_file()
    return directory


def namespaces_holding(workdir: Path) -> list[str]:
    with opened_store(workdir) as store:
        return sorted(r.namespace for r in store.list_experiments() if r.name == NAME)


def test_delete_in_one_namespace_keeps_the_same_name_in_another(tmp_path: Path, workdir: Path) -> None:
    default = run_in_namespace(tmp_path, workdir, "default")
    other = run_in_namespace(tmp_path, workdir, "other")
    assert namespaces_holding(workdir) == ["default", "other"]

    # Which one is meant must be said; a namespace that is no name is refused before anything is touched.
    result = delete(workdir, NAME)
    assert result.returncode == 1 and "is in several namespaces (default/crash1, other/crash1)" in result.stderr
    result = delete(workdir, NAME, "-n", "../x")
    assert result.returncode == 2 and "-n/--namespace '../x'" in result.stderr and "Traceback" not in result.stderr
    assert namespaces_holding(workdir) == ["default", "other"] and default.is_dir() and other.is_dir()

    result = delete(workdir, NAME, "-n", "other")
    assert result.returncode == 0, result.stderr
    assert "experiment other/crash1 deleted" in result.stdout
    assert not other.exists() and not other.parent.exists()  # its files, and the namespace's emptied folder
    assert namespaces_holding(workdir) == ["default"]
    [trial] = trials_of(workdir, NAME, "default")
    assert (default / "trials" / trial.name / "trial.log").is_file()  # the other namespace's files are intact

    result = delete(workdir, NAME)  # now the only one: no -n needed
    assert result.returncode == 0, result.stderr
    assert not default.exists() and namespaces_holding(workdir) == []


def test_delete_refuses_an_experiment_that_is_running(tmp_path: Path, workdir: Path) -> None:
    """Its controller holds the lease: deleting under it would pull its rows and files away mid-run."""
    doc = make_experiment(["sh", "-c", "sleep 30; echo loss=1"], name=NAME, maxTrialCount=1, parallelTrialCount=1)
    run = start_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    try:
        deadline = time.monotonic() + 60
        while not (workdir / "pykatib.db").exists() or not any(t.phase == "Running" for t in trials_of(workdir, NAME)):
            assert time.monotonic() < deadline and run.poll() is None, run.communicate()
            time.sleep(0.05)
        result = delete(workdir, NAME)
        assert result.returncode == 2, result.stderr
        assert f"cannot delete default/{NAME} while it runs" in result.stderr
        assert f"pid {run.pid}" in result.stderr
        assert namespaces_holding(workdir) == ["default"]
        assert (experiment_dir(workdir, "default", NAME) / "trials").is_dir()
    finally:
        run.terminate()
        run.communicate(timeout=30)
    assert delete(workdir, NAME).returncode == 0  # stopped, it can go
    assert namespaces_holding(workdir) == []


def test_delete_with_a_mistyped_workdir_creates_nothing(tmp_path: Path) -> None:
    typo = tmp_path / "sate"
    result = delete(typo, NAME)
    assert result.returncode == 1, result.stderr
    assert f"there is no store at {typo / 'pykatib.db'}" in result.stderr
    assert not typo.exists()
