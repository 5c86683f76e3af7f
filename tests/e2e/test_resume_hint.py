"""The line printed after Ctrl-C continues the same experiment when pasted: it repeats the run's options."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from e2e_support import make_experiment, opened_store, trials_of, write_experiment

BUDGET = 8
PYKATIB = [sys.executable, "-m", "pykatib.cli"]


def test_the_hint_after_ctrl_c_resumes_the_same_experiment(tmp_path: Path) -> None:
    doc = make_experiment(["sh", "-c", 'sleep 0.4; echo "loss=$1"', "sh", "${trialParameters.x}"],
                          parallelTrialCount=2, maxTrialCount=4)  # fmt: skip
    write_experiment(tmp_path, doc, "my experiment.yaml")
    # Relative paths with spaces, a --set with brackets (rich markup) and one the stored spec must keep: the
    # hint has to quote them all and leave none out, or the pasted line starts (or is refused) elsewhere.
    args = ["run", "my experiment.yaml", "--workdir", "my state", "-o", "json",
            "--set", "spec.parameters[0].feasibleSpace.max=0.8", "--set", f"spec.maxTrialCount={BUDGET}"]  # fmt: skip
    workdir = tmp_path / "my state"
    proc = subprocess.Popen([*PYKATIB, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never got going"
        trials = trials_of(workdir, "e2e") if (workdir / "pykatib.db").is_file() else []
        phases = [t.phase for t in trials]
        if "Succeeded" in phases and "Running" in phases:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    before = {t.name for t in trials_of(workdir, "e2e")}
    assert 0 < len(before) < BUDGET

    [hint] = [line for line in stderr.splitlines() if "continue with: " in line]
    assert hint.startswith("interrupted: running trials were stopped; continue with: pykatib run ")
    command = shlex.split(hint.split("continue with: ", 1)[1])
    assert command[0] == "pykatib"
    assert command[-1] == "--resume"
    resumed = subprocess.run([*PYKATIB, *command[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    status = json.loads(resumed.stdout)["status"]
    assert status["trials"] == status["trialsSucceeded"] == BUDGET

    # The same experiment went on in the same store: no second experiment, nothing in a default .pykatib.
    assert not (tmp_path / ".pykatib").exists()
    with opened_store(workdir) as store:
        [record] = store.list_experiments()
        assert record.spec["spec"]["parameters"][0]["feasibleSpace"]["max"] == "0.8"
    after = {t.name for t in trials_of(workdir, "e2e")}
    assert before < after
    assert len(after) == BUDGET
