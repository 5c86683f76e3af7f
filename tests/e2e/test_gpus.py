"""GPUs per trial on one machine (execute.gpus): a fake device list stands in for nvidia-smi's.

The devices are handed out by lock files shared by every pykatib process; each test names its own devices
(a unique prefix), so tests running at once never meet.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import pytest

from e2e_support import (
    make_experiment,
    process_alive,
    run_pykatib,
    start_pykatib,
    trials_of,
    write_experiment,
    write_script,
)
from pykatib.execute.base import LaunchSpec
from pykatib.execute.gpus import GpuExecutor, GpuPool, GpuRequestError, container_gpus, detect_gpus
from pykatib.execute.local import LocalExecutor

# Each trial records the devices it sees and when it held them.
TRIAL = """
import json, os, sys, time
start = time.time()
time.sleep(0.4)
seen = {"devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start, "end": time.time()}
print("seen " + json.dumps(seen))
print("loss=" + sys.argv[1])
"""


def _devices(count: int) -> list[str]:
    prefix = f"fake{secrets.token_hex(4)}"
    return [f"{prefix}-{i}" for i in range(count)]


def _gpu_experiment(tmp_path: Path, gpus: int | str | None, *, trials: int, parallel: int) -> Path:
    script = write_script(tmp_path, "trial.py", TRIAL)
    doc = make_experiment(
        ["python3", str(script), "${trialParameters.x}"], maxTrialCount=trials, parallelTrialCount=parallel
    )
    if gpus is not None:
        container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus, "cpu": "1"}}
    return write_experiment(tmp_path, doc)


def _seen(workdir: Path) -> list[dict[str, object]]:
    """What each trial printed of its devices (the trials' logs)."""
    logs = workdir.glob("experiments/*/*/trials/*/trial.log")
    return [json.loads(line[5:]) for log in logs for line in log.read_text().splitlines() if line.startswith("seen ")]


def test_container_gpus_reads_the_limit_else_the_request() -> None:
    assert container_gpus({"resources": {"limits": {"nvidia.com/gpu": 2}}}, "c") == 2
    assert container_gpus({"resources": {"requests": {"nvidia.com/gpu": "1"}}}, "c") == 1
    assert container_gpus({"resources": {"limits": {"cpu": "1"}}}, "c") == 0
    assert container_gpus({}, "c") == 0
    with pytest.raises(GpuRequestError, match=r"job: resources.limits.nvidia.com/gpu must be a whole number"):
        container_gpus({"resources": {"limits": {"nvidia.com/gpu": "0.5"}}}, "job")


def test_devices_come_from_pykatib_gpus_then_cuda_visible_devices() -> None:
    assert detect_gpus({"PYKATIB_GPUS": "a, b", "CUDA_VISIBLE_DEVICES": "0"}) == ["a", "b"]
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "2,3", "PATH": ""}) == ["2", "3"]
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert detect_gpus({"PYKATIB_GPUS": ""}) == []


def test_two_pools_never_hand_out_one_device_twice(tmp_path: Path) -> None:
    devices = _devices(2)
    first, second = GpuPool(devices, tmp_path), GpuPool(devices, tmp_path)  # as two pykatib processes
    taken = first.try_take(1)
    assert taken == devices[:1]
    assert second.try_take(2) is None  # only one is free
    assert second.try_take(1) == devices[1:]
    assert first.try_take(1) is None
    first.release(devices[:1])
    assert second.try_take(1) == devices[:1]
    with pytest.raises(GpuRequestError, match=r"asks for 3 nvidia\.com/gpu, and this machine has 2"):
        asyncio.run(first.take(3))


def test_trials_get_their_own_devices_and_wait_for_free_ones(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    devices = _devices(2)
    monkeypatch.setenv("PYKATIB_GPUS", ",".join(devices))
    path = _gpu_experiment(tmp_path, 1, trials=6, parallel=3)
    code, status, stderr = run_pykatib(path, "--workdir", str(workdir))
    assert code == 0, stderr
    assert status is not None and status["trialsSucceeded"] == 6, status
    seen = _seen(workdir)
    assert len(seen) == 6 and all(s["devices"] in devices for s in seen), seen
    # Three run at once but only two devices exist: no two trials that overlapped in time shared one.
    for i, a in enumerate(seen):
        for b in seen[i + 1 :]:
            overlap = float(str(a["start"])) < float(str(b["end"])) and float(str(b["start"])) < float(str(a["end"]))
            assert not (overlap and a["devices"] == b["devices"]), (a, b)


def test_a_trial_that_asks_for_none_sees_none(tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYKATIB_GPUS", ",".join(_devices(1)))
    code, _, stderr = run_pykatib(_gpu_experiment(tmp_path, None, trials=1, parallel=1), "--workdir", str(workdir))
    assert code == 0, stderr
    assert [s["devices"] for s in _seen(workdir)] == [""]


def test_a_trial_asking_for_more_devices_than_there_are_fails_with_the_reason(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYKATIB_GPUS", ",".join(_devices(1)))
    path = _gpu_experiment(tmp_path, 2, trials=1, parallel=1)
    code, status, stderr = run_pykatib(path, "--workdir", str(workdir))
    assert status is not None and status["trialsFailed"] == 1, (code, status, stderr)
    [trial] = trials_of(workdir, "e2e")
    assert "asks for 2 nvidia.com/gpu, and this machine has 1" in str(trial.message)
    assert _seen(workdir) == []


def test_a_trial_keeps_its_devices_when_its_controller_dies(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock file names the trial's process: another pykatib on the machine does not take its device
    while the orphaned trial runs, and takes it once the trial has ended."""
    devices = _devices(1)
    monkeypatch.setenv("PYKATIB_GPUS", ",".join(devices))
    script = write_script(tmp_path, "trial.py", "import sys, time\ntime.sleep(float(sys.argv[2]))\nprint('loss=1')\n")
    doc = make_experiment(["python3", str(script), "${trialParameters.x}", "4"], maxTrialCount=1, parallelTrialCount=1)
    doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"nvidia.com/gpu": 1}
    }
    proc = start_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    pool = GpuPool(devices)
    deadline = time.monotonic() + 60
    while not list(workdir.glob("experiments/*/*/trials/*/gpus.json")) or pool.try_take(1) is not None:
        pool.release(devices)
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    [pid_file] = workdir.glob("experiments/*/*/trials/*/processes.json")
    trial_pid = json.loads(pid_file.read_text())["processes"][0]["pid"]
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert pool.try_take(1) is None  # the trial still runs: its device stays taken
    while process_alive(trial_pid):
        assert time.monotonic() < deadline + 30
        time.sleep(0.1)
    assert pool.try_take(1) == devices
    pool.release(devices)


def test_an_mpi_launcher_sees_the_devices_of_its_workers(tmp_path: Path) -> None:
    """mpirun starts the ranks as the launcher's children: they need the workers' devices."""
    devices = _devices(2)
    executor = GpuExecutor(LocalExecutor(), GpuPool(devices, tmp_path / "locks"))
    trial_dir = tmp_path / "trial"
    env = {"PATH": os.environ["PATH"]}
    show = [sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    launches = [
        LaunchSpec("launcher-0", show, env, str(tmp_path), trial_dir / "trial.log", primary=True),
        *(
            LaunchSpec(
                f"worker-{i}",
                ["sleep", "30"],
                env,
                str(tmp_path),
                trial_dir / f"worker-{i}.log",
                primary=False,
                ends_with_primary=True,
                gpus=1,
            )
            for i in range(2)
        ),
    ]

    async def run() -> dict[str, int | None]:
        handle = await executor.start("t", trial_dir, launches)
        return await handle.wait()

    assert asyncio.run(run()) == {"launcher-0": 0}
    assert sorted((trial_dir / "trial.log").read_text().strip().split(",")) == sorted(devices)
