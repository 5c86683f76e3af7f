"""Kill and resume, and one controller per experiment, on every store: SQLite, PostgreSQL, MariaDB.

The controller is killed with SIGKILL mid-run; two ``--resume`` start at once: one continues (the lease of
the dead controller is free at once on its host), the other refuses naming it. The experiment ends with
exactly maxTrialCount Succeeded trials, each with its one observation.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from e2e_support import make_experiment, start_pykatib, write_experiment, write_script
from pykatib.store import Store, TrialRecord

BUDGET, PARALLEL = 9, 3
TRIAL = """
import sys, time
time.sleep(0.3)
print(f"loss={sys.argv[1]}", flush=True)
"""


def trials(url: str) -> list[TrialRecord]:
    with Store(url) as store:
        record = store.get_experiment("e2e")
        return [] if record is None else store.list_trials(record.id)


def test_kill_then_two_resumes_give_one_controller_and_exact_totals(tmp_path: Path, db_url: str) -> None:
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    script = write_script(tmp_path, "trial.py", TRIAL)
    doc = make_experiment(["python3", str(script), "${trialParameters.x}"], parallelTrialCount=PARALLEL,
                          maxTrialCount=BUDGET)  # fmt: skip
    path = write_experiment(tmp_path, doc)
    args = ["--db", db_url, "--workdir", str(tmp_path / "state")]
    first = start_pykatib(path, *args)
    deadline = time.monotonic() + 60
    while sum(t.phase == "Succeeded" for t in trials(db_url)) < PARALLEL:
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()

    resumes = [start_pykatib(path, *args, "--resume") for _ in range(2)]
    outcomes = sorted((proc.returncode, stderr) for proc in resumes for _, stderr in [proc.communicate(timeout=120)])
    assert [code for code, _ in outcomes] == [0, 2], outcomes
    assert "another controller" in outcomes[1][1]

    ended = trials(db_url)
    succeeded = [t for t in ended if t.phase == "Succeeded"]
    assert len(succeeded) == BUDGET, [(t.name, t.phase, t.reason) for t in ended]
    with Store(db_url) as store:
        for trial in succeeded:
            assert [r.metric_name for r in store.list_observations(trial.id)] == ["loss"], trial.name
    # Only a trial lost in the kill runs again (its replacement has its assignment).
    assignments = [t.parameter_assignments["x"] for t in ended if t.reason != "TrialLost"]
    assert len(assignments) == len(set(assignments))
