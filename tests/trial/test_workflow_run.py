"""The workflow runner as a real process: steps in order, results passed on, a failure's end, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUNNER = [sys.executable, "-m", "pykatib.trial.workflow_run"]


def step(tmp: Path, key: str, code: str, *, primary: bool = False, result: bool = False, **extra: Any) -> dict:
    """A step running ``python -c CODE`` (its argv's items after the code reach it as sys.argv[1:])."""
    return {
        "name": key.rsplit("-", 1)[0],
        "argv": [sys.executable, "-c", code, *extra.pop("args", [])],
        "env": extra.pop("env", {}),
        "unset": [],
        "cwd": str(tmp),
        "log": str(tmp / f"{key}.log"),
        "primary": primary,
        "result": result,
        **extra,
    }


def start(tmp: Path, root: dict[str, Any], steps: dict[str, dict]) -> subprocess.Popen[str]:
    plan = tmp / "workflow.json"
    plan.write_text(json.dumps({"root": root, "steps": steps}))
    env = {**os.environ, "KATIB_TRIAL_NAME": "trial-1"}
    return subprocess.Popen([*RUNNER, str(plan)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(path: Path, runner: subprocess.Popen[str]) -> str:
    """The file's content once a step has written it."""
    deadline = time.monotonic() + 60
    while not path.exists() or not path.read_text().endswith("\n"):
        assert runner.poll() is None and time.monotonic() < deadline, runner.communicate()
        time.sleep(0.02)
    return path.read_text()


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


def leaf(key: str) -> dict[str, str]:
    return {"leaf": key}


def test_steps_run_in_order_and_a_result_reaches_the_next(tmp_path: Path) -> None:
    steps = {
        "gen-0": step(tmp_path, "gen-0", "print('  7'); print()", result=True),  # Argo trims one newline only
        "other-0": step(tmp_path, "other-0", "import sys; print('side', file=sys.stderr)"),
        "train-0": step(
            tmp_path, "train-0", "import os, sys; print('loss=', sys.argv[1:], os.environ['N'])", primary=True,
            args=["--epochs={{pykatib.result.gen-0}}", "{{pykatib.workflow.name}}"],
            env={"N": "n{{pykatib.result.gen-0}}"},
        ),
    }  # fmt: skip
    runner = start(tmp_path, {"steps": [[leaf("gen-0"), leaf("other-0")], [leaf("train-0")]]}, steps)
    stdout, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 0, stderr
    # The primary step writes to the runner's own output (the trial's log); the others to their logs.
    assert stdout == "loss= ['--epochs=  7\\n', 'trial-1'] n  7\n\n"
    assert (tmp_path / "gen-0.log").read_text() == "  7\n\n"
    assert (tmp_path / "other-0.log").read_text() == "side\n"
    assert not (tmp_path / "train-0.log").exists()


def test_a_script_step_runs_its_source_from_a_file(tmp_path: Path) -> None:
    script = {
        "path": str(tmp_path / "rootfs" / "argo" / "staging" / "script"),
        "source": "print('hi {{pykatib.workflow.name}}')",
    }
    steps = {
        "s-0": {**step(tmp_path, "s-0", "", primary=True), "argv": [sys.executable, script["path"]], "script": script}
    }
    runner = start(tmp_path, leaf("s-0"), steps)
    stdout, stderr = runner.communicate(timeout=60)
    assert (runner.returncode, stdout) == (0, "hi trial-1\n"), stderr


def test_a_failed_step_fails_the_workflow_and_later_steps_never_start(tmp_path: Path) -> None:
    """Its siblings already running finish (as Argo lets them); no later group or dependent task starts."""
    later = tmp_path / "later"
    steps = {
        "fail-0": step(tmp_path, "fail-0", "import sys; print('bad'); sys.exit(3)"),
        "sibling-0": step(tmp_path, "sibling-0", "import time; time.sleep(0.3); open('sibling', 'w').close()"),
        "later-0": step(tmp_path, "later-0", f"open({str(later)!r}, 'w').close()", primary=True),
    }
    runner = start(tmp_path, {"steps": [[leaf("fail-0"), leaf("sibling-0")], [leaf("later-0")]]}, steps)
    _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 3
    assert "step fail (fail-0) failed with exit status 3; its log: fail-0.log" in stderr
    assert (tmp_path / "sibling").exists()
    assert not later.exists()
    # The same in a dag: c fails, so d (after b and c) never starts, though b succeeded.
    dag = {"dag": [
        {"name": "a", "dependencies": [], "node": leaf("a-0")},
        {"name": "b", "dependencies": ["a"], "node": leaf("b-0")},
        {"name": "c", "dependencies": ["a"], "node": leaf("c-0")},
        {"name": "d", "dependencies": ["b", "c"], "node": leaf("d-0")},
    ]}  # fmt: skip
    steps = {
        "a-0": step(tmp_path, "a-0", "pass"),
        "b-0": step(tmp_path, "b-0", "pass"),
        "c-0": step(tmp_path, "c-0", "raise SystemExit(5)"),
        "d-0": step(tmp_path, "d-0", f"open({str(later)!r}, 'w').close()", primary=True),
    }
    runner = start(tmp_path, dag, steps)
    runner.communicate(timeout=60)
    assert runner.returncode == 5
    assert not later.exists()


def test_sigterm_stops_the_running_step_and_nothing_after_it(tmp_path: Path) -> None:
    pid_file, later = tmp_path / "pid", tmp_path / "later"
    sleeper = f"import os, time; open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}}\\n'); time.sleep(600)"
    steps = {
        "sleep-0": step(tmp_path, "sleep-0", sleeper),
        "later-0": step(tmp_path, "later-0", f"open({str(later)!r}, 'w').close()", primary=True),
    }
    runner = start(tmp_path, {"steps": [[leaf("sleep-0")], [leaf("later-0")]]}, steps)
    pid = int(wait_for(pid_file, runner))
    runner.send_signal(signal.SIGTERM)
    runner.communicate(timeout=60)
    assert runner.returncode == 128 + signal.SIGTERM
    assert gone(pid)
    assert not later.exists()


def test_a_step_ignoring_sigterm_is_killed_and_a_killed_runner_takes_its_step(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    stubborn = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}}\\n'); time.sleep(600)"
    )
    steps = {"s-0": step(tmp_path, "s-0", stubborn, primary=True)}
    runner = start(tmp_path, leaf("s-0"), steps)
    pid = int(wait_for(pid_file, runner))
    runner.send_signal(signal.SIGTERM)
    runner.communicate(timeout=60)
    assert runner.returncode == 128 + signal.SIGTERM
    assert gone(pid)
    pid_file.unlink()
    runner = start(tmp_path, leaf("s-0"), steps)
    pid = int(wait_for(pid_file, runner))
    runner.kill()  # no chance to stop anything: the step dies with it all the same
    runner.communicate(timeout=60)
    deadline = time.monotonic() + 30  # the kernel's SIGKILL is not instant: a bound, not a timing
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(pid)
