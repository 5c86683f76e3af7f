"""`pykatib run --executor ray` on a real local Ray cluster: a head node, a node with two fake GPUs, and (for
the node failure) a third node that the test kills mid-trial.

Each node is its own `ray start --block` process group, so a node dies as a machine would: its raylet and
workers at once. The trials print the Ray node they run on (PYKATIB_RAY_NODE_ID) and their devices.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_support import make_experiment, start_pykatib, trials_of, write_experiment, write_script

ray = pytest.importorskip("ray", reason="the Ray executor's tests need Ray: pip install -e '.[ray]'")

RAY = str(Path(sys.executable).with_name("ray"))
# Ray notices a dead node within a few seconds instead of its default half minute.
FAST_HEALTH = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "4"}

TRIAL = """
import json, os, sys, time
print("seen " + json.dumps({"node": os.environ.get("PYKATIB_RAY_NODE_ID"),
      "devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": time.time()}), flush=True)
time.sleep(float(sys.argv[2]))
print("ended " + json.dumps({"end": time.time()}), flush=True)
print("loss=" + sys.argv[1])
"""


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (all bound at once, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class Cluster:
    """A local Ray cluster of ``ray start --block`` processes, each in its own process group."""

    def __init__(self, temp_dir: Path) -> None:
        self.temp_dir = temp_dir
        self.port = _free_ports(1)[0]
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[subprocess.Popen[bytes]] = []

    def add_node(self, *args: str, head: bool = False) -> subprocess.Popen[bytes]:
        ports = [p for p in _free_ports(8) if p != self.port][:7]
        command = [RAY, "start", "--block", "--disable-usage-stats", f"--temp-dir={self.temp_dir}",
                   "--node-ip-address=127.0.0.1", f"--node-manager-port={ports[0]}",
                   f"--object-manager-port={ports[1]}", f"--metrics-export-port={ports[2]}",
                   f"--runtime-env-agent-port={ports[3]}", f"--dashboard-agent-listen-port={ports[4]}",
                   f"--dashboard-agent-grpc-port={ports[5]}", *args]  # fmt: skip
        if head:
            command += [f"--port={self.port}", "--head", "--include-dashboard=false",
                        f"--ray-client-server-port={ports[6]}"]  # fmt: skip
        else:
            command += [f"--address={self.address}"]
        env = {**os.environ, **FAST_HEALTH, "RAY_USAGE_STATS_ENABLED": "0"}
        log = open(self.temp_dir.parent / f"node-{len(self.nodes)}.log", "wb")  # noqa: SIM115 (lives with the node)
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.nodes.append(proc)
        return proc

    def wait_for_head(self, timeout: float = 90) -> None:
        """Until the head's GCS accepts connections (a node that died meanwhile fails the test with its log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        raise AssertionError("the Ray head never listened")

    def node_ids(self, resource: str, count: int = 1, timeout: float = 90) -> list[str]:
        """The ids of the live nodes that have ``resource``, once ``count`` of them have joined."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            found = [n["NodeID"] for n in ray.nodes() if n["Alive"] and resource in n.get("Resources", {})]
            if len(found) >= count:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no node with {resource} joined: {ray.nodes()}")

    def check_alive(self) -> None:
        for index, proc in enumerate(self.nodes):
            if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                log = (self.temp_dir.parent / f"node-{index}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"Ray node {index} exited {proc.returncode}:\n{log}")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in reversed(self.nodes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.nodes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("ray")
    cluster = Cluster(base / "t")  # Ray's socket paths must stay short
    try:
        cluster.add_node("--num-cpus=2", '--resources={"head": 1}', head=True)
        cluster.add_node("--num-cpus=2", "--num-gpus=2", '--resources={"gpunode": 1}')
        cluster.wait_for_head()
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        cluster.node_ids("gpunode")
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        cluster.stop()


def _experiment(tmp_path: Path, limits: dict[str, Any], *, trials: int, parallel: int, pause: float) -> Path:
    script = write_script(tmp_path, "trial.py", TRIAL)
    doc = make_experiment(["python3", str(script), "${trialParameters.x}", str(pause)], maxTrialCount=trials,
                          parallelTrialCount=parallel, maxFailedTrialCount=trials)  # fmt: skip
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"limits": limits}
    return write_experiment(tmp_path, doc)


def _seen(workdir: Path) -> dict[str, dict[str, Any]]:
    """trial -> where it ran and when (from the trial's log, which the executor copied back)."""
    seen: dict[str, dict[str, Any]] = {}
    for log in workdir.glob("experiments/*/*/trials/*/trial.log"):
        for line in log.read_text().splitlines():
            for tag in ("seen ", "ended "):
                if line.startswith(tag):
                    seen.setdefault(log.parent.name, {}).update(json.loads(line[len(tag) :]))
    return seen


def _run(path: Path, workdir: Path, cluster: Cluster) -> tuple[int, dict[str, Any], str]:
    proc = start_pykatib(path, "--workdir", str(workdir), "--executor", "ray", "--ray-address", cluster.address)
    stdout, stderr = proc.communicate(timeout=240)
    return proc.returncode, json.loads(stdout)["status"] if stdout.strip() else {}, stderr


def test_gpu_trials_run_on_the_gpu_node_each_with_its_own_device(tmp_path: Path, cluster: Cluster) -> None:
    [gpu_node] = cluster.node_ids("gpunode")
    workdir = tmp_path / "state"
    path = _experiment(tmp_path, {"nvidia.com/gpu": 1, "cpu": "500m"}, trials=4, parallel=3, pause=1.0)
    code, status, stderr = _run(path, workdir, cluster)
    assert code == 0, stderr
    assert status["trialsSucceeded"] == 4, status
    seen = _seen(workdir)
    assert len(seen) == 4 and {s["node"] for s in seen.values()} == {gpu_node}, seen
    assert {s["devices"] for s in seen.values()} <= {"0", "1"}, seen
    runs = list(seen.values())
    for i, a in enumerate(runs):  # three at once, two devices: the third waited for one
        for b in runs[i + 1 :]:
            overlap = a["start"] < b["end"] and b["start"] < a["end"]
            assert not (overlap and a["devices"] == b["devices"]), (a, b)


def test_a_custom_resource_places_trials_on_its_node(tmp_path: Path, cluster: Cluster) -> None:
    [head] = cluster.node_ids("head")
    workdir = tmp_path / "state"
    code, status, stderr = _run(_experiment(tmp_path, {"head": 1}, trials=2, parallel=2, pause=0.2), workdir, cluster)
    assert code == 0, stderr
    assert status["trialsSucceeded"] == 2, status
    seen = _seen(workdir)
    assert {s["node"] for s in seen.values()} == {head}, seen
    assert {s["devices"] for s in seen.values()} == {""}  # no GPU asked, none seen


def _leftovers() -> tuple[list[str], list[str]]:
    """pykatib's actors still alive and placement groups not removed, on the whole cluster."""
    actors = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == "pykatib"]
    groups = [g["name"] for g in ray.util.placement_group_table().values() if g["state"] != "REMOVED"]
    return actors, [g for g in groups if g.startswith("trial-")]


def test_a_killed_controller_re_attaches_to_its_trials_on_resume(tmp_path: Path, cluster: Cluster) -> None:
    workdir = tmp_path / "state"
    path = _experiment(tmp_path, {"cpu": "1"}, trials=4, parallel=2, pause=3.0)
    args = ["--workdir", str(workdir), "--executor", "ray", "--ray-address", cluster.address]
    first = start_pykatib(path, *args)
    deadline = time.monotonic() + 120
    while len(_seen(workdir)) < 2:
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.1)
    running = set(_seen(workdir))
    first.send_signal(signal.SIGKILL)
    first.communicate()
    again = start_pykatib(path, *args, "--resume")
    _, stderr = again.communicate(timeout=240)
    assert again.returncode == 0, stderr
    trials = trials_of(workdir, "e2e")
    assert sorted(t.phase for t in trials) == ["Succeeded"] * 4, [(t.name, t.phase, t.reason) for t in trials]
    assert running <= {t.name for t in trials}  # followed to their end, not replaced
    assert _leftovers() == ([], [])  # every trial's actors and placement group are gone


def test_a_dead_node_loses_its_trials_and_the_experiment_still_finishes_exactly(
    tmp_path: Path, cluster: Cluster
) -> None:
    victim = cluster.add_node("--num-cpus=2", '--resources={"victim": 2}')
    [victim_id] = cluster.node_ids("victim")
    workdir = tmp_path / "state"
    # Every CPU of the three nodes is taken, so some trials run on the victim.
    path = _experiment(tmp_path, {"cpu": "1"}, trials=10, parallel=6, pause=4.0)
    proc = start_pykatib(path, "--workdir", str(workdir), "--executor", "ray", "--ray-address", cluster.address)
    deadline = time.monotonic() + 120
    while not any(s.get("node") == victim_id for s in _seen(workdir).values()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    cluster.kill(victim)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr
    status = json.loads(stdout)["status"]
    trials = trials_of(workdir, "e2e")
    lost = [t for t in trials if t.reason == "TrialLost"]
    succeeded = [t for t in trials if t.phase == "Succeeded"]
    assert lost, [(t.name, t.phase, t.reason) for t in trials]
    assert all(_seen(workdir)[t.name]["node"] == victim_id for t in lost)
    assert len(succeeded) == 10 == status["trialsSucceeded"], [(t.name, t.phase, t.reason) for t in trials]
    # A lost trial runs again with its assignment: every lost assignment has a succeeded trial.
    done = {t.parameter_assignments["x"] for t in succeeded}
    assert all(t.parameter_assignments["x"] in done for t in lost)


def test_no_cluster_at_the_address_is_refused_at_once(tmp_path: Path) -> None:
    [port] = _free_ports(1)  # nothing listens there
    path = _experiment(tmp_path, {"cpu": "1"}, trials=1, parallel=1, pause=0)
    proc = start_pykatib(path, "--workdir", str(tmp_path / "state"), "--executor", "ray", "--ray-address",
                         f"127.0.0.1:{port}")  # fmt: skip
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert f"no Ray cluster at 127.0.0.1:{port}" in stderr and "ray start --head" in stderr
    assert stdout == "" and "Traceback" not in stderr
    assert not (tmp_path / "state" / "experiments").exists()


def test_a_trial_no_node_can_hold_fails_with_the_reason(tmp_path: Path, cluster: Cluster) -> None:
    workdir = tmp_path / "state"
    path = _experiment(tmp_path, {"nvidia.com/gpu": 3}, trials=1, parallel=1, pause=0)  # the GPU node has 2
    code, status, stderr = _run(path, workdir, cluster)
    assert status.get("trialsFailed") == 1, (code, status, stderr)
    [trial] = trials_of(workdir, "e2e")
    assert "asks for CPU 1, GPU 3 on one node, and no node of the Ray cluster has that" in str(trial.message)
