"""A store that cannot be opened, or fails during a run, is one line on stderr and exit status 2 for every verb
that opens one; never a traceback (exit 1 is reserved for an experiment that Failed)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e_support import make_experiment, opened_store, trials_of, write_experiment

QUICK = ["sh", "-c", 'echo "loss=$1"', "sh", "${trialParameters.x}"]
SECRET = "s3cret"


def pykatib(*args: str, cwd: Path | None = None, timeout: float = 120) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "pykatib.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0].removeprefix("error: ")


def bad_stores(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """case -> (--db URL, what its message must say)."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(os.urandom(8192))
    return {
        "unreachable": (
            f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/x",
            "cannot connect to the store postgresql+psycopg://postgres:***@127.0.0.1:1/x: ",
        ),
        "directory": (f"sqlite:///{folder}", f"{folder} is a directory, not a database file"),
        "unknown dialect": ("foo://x", "cannot open the store foo://x: unknown database kind or driver 'foo'"),
        "corrupt file": (f"sqlite:///{corrupt}", "the file is not a SQLite database or is damaged"),
        "malformed": (
            f"postgresql+psycopg://u:{SECRET}@host:port/x",
            "not a database URL: postgresql+psycopg://u:***@",
        ),
        "missing directory": (
            f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}",
            f"the directory {tmp_path / 'missing' / 'dir'} does not exist; create it first, or fix the path",
        ),
    }


CASES = ["unreachable", "directory", "unknown dialect", "corrupt file", "malformed", "missing directory"]


@pytest.mark.parametrize("case", CASES)
def test_run_reports_a_store_it_cannot_open_in_one_line(tmp_path: Path, case: str) -> None:
    url, expected = bad_stores(tmp_path)[case]
    path = write_experiment(tmp_path, make_experiment(QUICK))
    rc, stdout, stderr = pykatib("run", str(path), "--db", url, "--workdir", str(tmp_path / "state"))
    assert rc == 2, stderr
    message = one_error_line(stderr)
    assert expected in message
    assert SECRET not in stderr
    assert stdout == ""
    assert not (tmp_path / "missing").exists()  # an explicit --db's directory is never created


@pytest.mark.parametrize("case", ["unreachable", "directory", "corrupt file", "missing directory"])
def test_delete_reports_a_store_it_cannot_open_in_one_line(tmp_path: Path, case: str) -> None:
    url, expected = bad_stores(tmp_path)[case]
    rc, _, stderr = pykatib("delete", "e2e", "--db", url, "--workdir", str(tmp_path / "state"))
    assert rc == 2, stderr
    assert expected in one_error_line(stderr)
    assert SECRET not in stderr
    assert not (tmp_path / "missing").exists()


def test_the_default_store_still_creates_its_workdir(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, make_experiment(QUICK, parallelTrialCount=1, maxTrialCount=1))
    rc, _, stderr = pykatib("run", str(path), "-o", "json", cwd=tmp_path)
    assert rc == 0, stderr
    assert (tmp_path / ".pykatib" / "pykatib.db").is_file()
    rc, _, stderr = pykatib("run", str(path), "-o", "json", "--workdir", "new/nested", cwd=tmp_path)
    assert rc == 0, stderr
    assert len(trials_of(tmp_path / "new" / "nested", "e2e")) == 1


def test_resume_of_an_experiment_the_store_does_not_hold_is_refused(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, make_experiment(QUICK, parallelTrialCount=1, maxTrialCount=1))
    # A --workdir typo: nothing there, and nothing is created there.
    rc, _, stderr = pykatib("run", str(path), "--resume", "--workdir", "typo", cwd=tmp_path)
    assert rc == 2, stderr
    assert one_error_line(stderr) == (
        "cannot resume experiment default/e2e: it is not in the store sqlite:///typo/pykatib.db; "
        "check --db/--workdir, or run without --resume to start it"
    )
    assert not (tmp_path / "typo").exists()
    # A store that holds other experiments, not this one.
    other_doc = make_experiment(QUICK, name="other", parallelTrialCount=1, maxTrialCount=1)
    other = write_experiment(tmp_path, other_doc, "other.yaml")
    assert pykatib("run", str(other), "-o", "json", cwd=tmp_path)[0] == 0
    rc, _, stderr = pykatib("run", str(path), "--resume", cwd=tmp_path)
    assert rc == 2, stderr
    assert "cannot resume experiment default/e2e: it is not in the store sqlite:///.pykatib/pykatib.db" in stderr
    assert trials_of(tmp_path / ".pykatib", "e2e") == []
    # Without --resume it starts.
    rc, _, stderr = pykatib("run", str(path), "-o", "json", cwd=tmp_path)
    assert rc == 0, stderr


def start_long_run(tmp_path: Path, workdir: Path) -> subprocess.Popen[str]:
    """A run whose trials take a while; returns once it has created some."""
    doc = make_experiment(["sh", "-c", 'sleep 0.5; echo "loss=$1"', "sh", "${trialParameters.x}"],
                          parallelTrialCount=2, maxTrialCount=40)  # fmt: skip
    path = write_experiment(tmp_path, doc)
    proc = subprocess.Popen([sys.executable, "-m", "pykatib.cli", "run", str(path), "--workdir", str(workdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (workdir / "pykatib.db").is_file() or len(trials_of(workdir, "e2e")) < 3:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the run never created its trials: {proc.communicate()}")
        time.sleep(0.05)
    return proc


def test_a_store_error_out_of_the_run_is_one_line(tmp_path: Path, workdir: Path) -> None:
    proc = start_long_run(tmp_path, workdir)
    with opened_store(workdir) as store:  # someone deletes the experiment under the running controller
        [record] = store.list_experiments()
        store.delete_experiment(record.id)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), stderr
    assert re.fullmatch(r"error: the experiment \(id \d+\) was deleted while it ran", lines[-1]), lines[-1]


def test_a_database_failing_during_the_run_is_one_line_with_how_to_continue(tmp_path: Path, workdir: Path) -> None:
    proc = start_long_run(tmp_path, workdir)
    with sqlite3.connect(workdir / "pykatib.db") as connection:
        connection.execute("DROP TABLE observation_logs")
    connection.close()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    last = stderr.splitlines()[-1]
    assert last.startswith(f"error: the store sqlite:///{workdir}/pykatib.db failed: no such table: observation_logs; ")
    assert last.endswith(f"once it works again, continue with: pykatib run {tmp_path}/experiment.yaml "
                         f"--workdir {workdir} --resume")  # fmt: skip


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_a_database_file_deleted_or_replaced_under_the_run_stops_it(tmp_path: Path, workdir: Path, change: str) -> None:
    """Once, the run went on writing to the unlinked file and its results vanished without a word."""
    proc = start_long_run(tmp_path, workdir)
    database = workdir / "pykatib.db"
    if change == "deleted":
        database.unlink()
    else:
        other = tmp_path / "other.db"
        sqlite3.connect(other).close()
        os.replace(other, database)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    last = stderr.splitlines()[-1]
    assert last.startswith("error: ") and f"{database} was {change}" in last, stderr
