"""Trials that misbehave: crash, hang, print garbage or floods, or get hostile values. Each affects only itself."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from e2e_support import (
    categorical,
    end_condition,
    make_experiment,
    observations_of,
    process_alive,
    run_pykatib,
    start_pykatib,
    trial_dir,
    trials_of,
    write_experiment,
    write_script,
)


def by_value(workdir: Path, parameter: str = "v") -> dict[str, Any]:
    return {t.parameter_assignments[parameter]: t for t in trials_of(workdir, "e2e")}


def grid(command: list[str], values: list[str], **spec: Any) -> dict[str, Any]:
    spec.setdefault("parallelTrialCount", len(values))
    return make_experiment(command, parameters=[categorical("v", values)], algorithm={"algorithmName": "grid"},
                           maxTrialCount=None, **spec)  # fmt: skip


def test_crashing_trial_fails_alone_with_its_exit_code(tmp_path: Path, workdir: Path) -> None:
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import sys
        if sys.argv[1] == "crash":
            print("loss=0.0001", flush=True)  # a value from a trial that then fails is not a result
            raise SystemExit(3)
        print(f"loss={sys.argv[1]}")
        """,
    )
    doc = grid(["python3", str(script), "${trialParameters.v}"], ["crash", "0.2", "0.3"], maxFailedTrialCount=3)
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    trials = by_value(workdir)
    crash = trials["crash"]
    assert (crash.phase, crash.reason, crash.exit_code) == ("Failed", "TrialFailed", 3)
    assert "exited with 3" in (crash.message or "")
    assert (status["trialsFailed"], status["trialsSucceeded"]) == (1, 2)
    assert status["currentOptimalTrial"]["bestTrialName"] == trials["0.2"].name
    for value in ("0.2", "0.3"):
        assert (trials[value].phase, trials[value].exit_code) == ("Succeeded", 0)
        assert [(m, v) for m, v, _ in observations_of(workdir, trials[value].name)] == [("loss", float(value))]


def test_trial_past_active_deadline_fails_and_its_processes_die(tmp_path: Path, workdir: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import json, os, subprocess, sys, time
        out, value = sys.argv[1], sys.argv[2]
        if value == "hang":
            # A child that ignores SIGTERM: only the SIGKILL after the grace period ends it.
            child = subprocess.Popen([sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
            with open(os.path.join(out, "hang.json"), "w") as f:
                json.dump({"pid": os.getpid(), "child": child.pid}, f)
            time.sleep(120)
        print(f"loss={value}")
        """,
    )
    doc = grid(["python3", str(script), str(pids), "${trialParameters.v}"], ["hang", "0.4"],
               job_spec={"activeDeadlineSeconds": 1})  # fmt: skip
    started = time.monotonic()
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert time.monotonic() - started < 30
    assert rc == 0, stderr
    assert status is not None
    trials = by_value(workdir)
    hang = trials["hang"]
    assert (hang.phase, hang.reason) == ("Failed", "DeadlineExceeded")
    assert "activeDeadlineSeconds" in (hang.message or "")
    assert trials["0.4"].phase == "Succeeded"
    assert (status["trialsFailed"], status["trialsSucceeded"]) == (1, 1)
    recorded = json.loads((pids / "hang.json").read_text())
    for pid in (recorded["pid"], recorded["child"]):
        assert not process_alive(pid), pid


def test_binary_garbage_and_huge_lines_affect_only_their_trial(tmp_path: Path, workdir: Path) -> None:
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import random, sys
        out = sys.stdout.buffer
        if sys.argv[1] == "garbage":
            out.write(random.Random(0).randbytes(256 * 1024))  # binary noise, newlines and all
            out.write(b"\\n\\xff\\xfe loss=0.7 \\xc3\\x28 \\xed\\xa0\\x80\\n")  # invalid UTF-8 around a metric
            out.write(b"\\x00\\x01 NUL bytes \\x00\\n")
            out.write(b"loss=0.33 " + b"x" * (3 << 20) + b" loss=0.9\\n")  # a 3 MB line
            out.write(b"y" * (2 << 20))  # 2 MB without a newline ...
            out.write(b"\\r\\nloss=0.25\\r\\n")  # ... then CRLF lines
            out.write(b"loss=0.5")  # the last line has no newline at all
        else:
            out.write(f"loss={sys.argv[1]}\\n".encode())
        """,
    )
    doc = grid(["python3", str(script), "${trialParameters.v}"], ["garbage", "0.6"])
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert rc == 0, stderr
    assert status is not None
    assert status["trialsSucceeded"] == 2
    trials = by_value(workdir)
    values = sorted(v for _, v, _ in observations_of(workdir, trials["garbage"].name))
    # The head of the 3 MB line is read (its tail beyond pykatib's 1 MiB line limit may be dropped).
    assert {0.25, 0.33, 0.5, 0.7} <= set(values) <= {0.25, 0.33, 0.5, 0.7, 0.9}
    assert trials["garbage"].objective_value == 0.25
    assert [(m, v) for m, v, _ in observations_of(workdir, trials["0.6"].name)] == [("loss", 0.6)]


def _peak_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _run_measuring_peak(path: Path, workdir: Path) -> tuple[int, str, str, int]:
    """Run ``pykatib run`` in a child process; (exit status, stdout, stderr, its peak RSS in KiB)."""
    proc = start_pykatib(path, "--workdir", str(workdir))
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _peak_rss_kib(proc.pid) or 0)
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    return proc.returncode, stdout, stderr, peak


def test_hundred_megabytes_of_log_output(tmp_path: Path, workdir: Path) -> None:
    flood = (
        "import sys\n"
        "chunk = (('noise ' * 171) + '\\n').encode() * 1024\n"  # ~1 MB of short lines without a metric
        "for _ in range(100): sys.stdout.buffer.write(chunk)\n"
        "sys.stdout.buffer.write(b'loss=0.1\\n')\n"
    )
    quiet = make_experiment(["sh", "-c", "echo loss=0.1"], name="quiet", parallelTrialCount=1, maxTrialCount=1)
    rc, _, stderr, baseline = _run_measuring_peak(write_experiment(tmp_path, quiet, "quiet.yaml"), workdir)
    assert rc == 0, stderr
    doc = make_experiment(["python3", "-c", flood], parallelTrialCount=1, maxTrialCount=1)
    started = time.monotonic()
    rc, stdout, stderr, peak = _run_measuring_peak(write_experiment(tmp_path, doc), workdir)
    assert rc == 0, stderr
    assert time.monotonic() - started < 30
    [trial] = trials_of(workdir, "e2e")
    log = trial_dir(workdir, "e2e", trial.name) / "trial.log"
    assert log.stat().st_size > 100 * 1024 * 1024
    assert (trial.phase, trial.objective_value) == ("Succeeded", 0.1)
    assert [(m, v) for m, v, _ in observations_of(workdir, trial.name)] == [("loss", 0.1)]
    assert json.loads(stdout)["status"]["trialsSucceeded"] == 1
    # The controller reads the log a bounded batch at a time: it never holds the 100 MB (or its lines).
    assert baseline > 0 and peak < baseline + 40 * 1024, f"controller peak RSS {peak} KiB, {baseline} KiB idle"


HOSTILE = ['"; rm -rf / #"', "$(touch pwned)", "`touch pwned`", "a b", "'\"", "*", "${HOME}", "x\ny"]


def test_shell_metacharacters_reach_the_program_unchanged(tmp_path: Path, workdir: Path) -> None:
    out = tmp_path / "argv"
    out.mkdir()
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import json, os, sys
        with open(os.path.join(sys.argv[1], os.environ["KATIB_TRIAL_NAME"] + ".json"), "w") as f:
            json.dump(sys.argv[2:], f)
        print("loss=0.5")
        """,
    )
    doc = grid(["python3", str(script), str(out), "${trialParameters.v}", "--v=${trialParameters.v}"], HOSTILE,
               parallelTrialCount=4)  # fmt: skip
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir), cwd=tmp_path)
    assert rc == 0, stderr
    assert status is not None
    assert status["trialsSucceeded"] == len(HOSTILE)
    seen = []
    for trial in trials_of(workdir, "e2e"):
        value = trial.parameter_assignments["v"]
        argv = json.loads((out / f"{trial.name}.json").read_text())
        assert argv == [value, f"--v={value}"]  # one argv item each, byte for byte
        seen.append(value)
    assert sorted(seen) == sorted(HOSTILE)
    assert not list(tmp_path.rglob("pwned"))
    assert not Path("pwned").exists()


@pytest.mark.parametrize("length", [300, 5000])
def test_long_arguments_are_not_taken_for_file_names(tmp_path: Path, workdir: Path, length: int) -> None:
    """A long `sh -c` script or value is an argument, not a path that must exist (ENAMETOOLONG)."""
    padding = "true; " * (length // 6)
    doc = grid(["sh", "-c", f'{padding}echo "loss=$1"', "sh", "${trialParameters.v}"], ["0.5", "z" * length + "0"],
               parallelTrialCount=2)  # fmt: skip
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert rc == 0, stderr
    assert status is not None
    trials = by_value(workdir)
    assert trials["0.5"].phase == "Succeeded"
    # The long value reaches the script whole: "loss=zzz...0" is no number, so no metric.
    assert trials["z" * length + "0"].phase == "MetricsUnavailable"
