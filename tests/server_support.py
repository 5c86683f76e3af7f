"""Helpers for the tests that drive a real ``pykatib server``: start it, talk to it (httpx, kubectl, the
``kubernetes`` client through a kubeconfig), wait for an experiment, stop it.

The server is a real process (``python -m pykatib.cli server --port 0 --home HOME``); it says where it
listens in ``HOME/server.json``. kubectl is this machine's, else the one ``make kubectl`` puts in .venv; a
test that needs it and finds none skips with the reason (CI has it, so nothing skips there).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from e2e_support import PROJECT, make_experiment

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
GROUP_VERSION = "kubeflow.org/v1beta1"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
TRIAL_LABEL = "katib.kubeflow.org/trial"
# A trial: prints a line of training output, sleeps argv[2] seconds, then reports accuracy = its x.
TRIAL_CODE = (
    "import sys, time; print('training', flush=True); time.sleep(float(sys.argv[2])); print('accuracy=' + sys.argv[1])"
)
# What the server and kubectl must not inherit from the environment running the tests.
_SCRUBBED = ("PYKATIB_TOKEN", "PYKATIB_HOME", "PYKATIB_SERVER", "KUBECONFIG")


def clean_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """This environment without the user's server settings; ``PYKATIB_HOME`` is ``home`` when given."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    if home is not None:
        env["PYKATIB_HOME"] = str(home)
    return {**env, **extra}


def kubectl_binary() -> str:
    """This machine's kubectl, else .venv's (``make kubectl``); skips the test when there is none."""
    found = shutil.which("kubectl")
    if found is None and (PROJECT / ".venv" / "bin" / "kubectl").exists():
        found = str(PROJECT / ".venv" / "bin" / "kubectl")
    if found is None:
        pytest.skip("kubectl not found on PATH or in .venv/bin (run `make kubectl`)")
    return found


def tiny_experiment(
    name: str, *, trials: int, parallel: int, pause: float = 0.0, namespace: str | None = None, **spec: Any
) -> dict[str, Any]:
    """A v1beta1 Experiment whose trials are ``python3 -c`` printing ``accuracy=<x>`` after ``pause`` seconds."""
    doc = make_experiment(
        ["python3", "-c", TRIAL_CODE, "${trialParameters.x}", str(pause)],
        name=name,
        objective={"type": "maximize", "objectiveMetricName": "accuracy"},
        maxTrialCount=trials,
        parallelTrialCount=parallel,
        **spec,
    )
    if namespace is not None:
        doc["metadata"]["namespace"] = namespace
    return doc


def verifier(ca: str | None) -> ssl.SSLContext | bool:
    """What httpx verifies an https server with: its own CA (a self-signed server's), else the system's."""
    return ssl.create_default_context(cafile=ca) if ca else True


def local_url(url: str) -> str:
    """``url`` with an unspecified address (a server bound to all of them) replaced by loopback."""
    return url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")


def write_kubeconfig(
    path: Path, url: str, token: str | None, namespace: str = "default", ca: str | None = None
) -> Path:
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": url}
    if ca:
        cluster["certificate-authority"] = ca
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "p", "cluster": cluster}],
        "users": [{"name": "p", "user": user}],
        "contexts": [{"name": "p", "context": {"cluster": "p", "user": "p", "namespace": namespace}}],
        "current-context": "p",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Server:
    """A running ``pykatib server`` process and the ways to reach it."""

    def __init__(self, home: Path, proc: subprocess.Popen[bytes], log: Path, info: dict[str, Any]) -> None:
        self.home = home
        self.proc = proc
        self.log = log
        self.info = info
        self.url: str = info["url"]
        # Where a client here reaches it: a server bound to every address (0.0.0.0, ::) by loopback.
        self.local_url = local_url(self.url)
        self.token: str | None = info.get("token")
        self.workdir = Path(info["workdir"])
        self.ca: str | None = info.get("ca")  # the self-signed certificate of a server with a token (https)
        self.verify = verifier(self.ca)
        self.kubeconfig = write_kubeconfig(
            home.parent / f"{home.name}.kubeconfig", self.local_url, self.token, ca=self.ca
        )
        self.cache_dir = home.parent / f"{home.name}.kube-cache"
        self.db_manager: str = info["db_manager"]  # Katib's DB manager (gRPC): 127.0.0.1:PORT

    # --- reaching it ----------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """An environment in which pykatib's verbs find this server through ``PYKATIB_HOME``."""
        return clean_env(self.home, **extra)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.local_url, headers=self.headers(), timeout=timeout, verify=self.verify)

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 120, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [kubectl_binary(), "--kubeconfig", str(kubeconfig or self.kubeconfig),
                   "--cache-dir", str(self.cache_dir), *args]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=clean_env(), check=False)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}\n"
                f"server log:\n{self.log_tail()}"
            )
        return proc

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no server log: {exc})"

    # --- experiments ----------------------------------------------------------------------------------

    def experiment_path(self, name: str, namespace: str = "default") -> str:
        return f"/apis/{GROUP_VERSION}/namespaces/{namespace}/experiments/{name}"

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        namespace = doc["metadata"].get("namespace", "default")
        with self.client() as http:
            response = http.post(f"/apis/{GROUP_VERSION}/namespaces/{namespace}/experiments", json=doc)
        assert response.status_code == 201, f"{response.status_code} {response.text}\n{self.log_tail()}"
        created: dict[str, Any] = response.json()
        return created

    def experiment(self, name: str, namespace: str = "default") -> dict[str, Any]:
        with self.client() as http:
            response = http.get(self.experiment_path(name, namespace))
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.log_tail()}"
        found: dict[str, Any] = response.json()
        return found

    def trials(self, experiment: str, namespace: str = "default") -> list[dict[str, Any]]:
        with self.client() as http:
            response = http.get(f"/apis/{GROUP_VERSION}/namespaces/{namespace}/trials",
                                params={"labelSelector": f"{EXPERIMENT_LABEL}={experiment}"})  # fmt: skip
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.log_tail()}"
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def delete_all(self) -> None:
        """Delete every experiment (and so its trials): the next test starts from an empty server."""
        with self.client() as http:
            response = http.get(f"/apis/{GROUP_VERSION}/experiments")
            assert response.status_code == 200, response.text
            for item in response.json()["items"]:
                meta = item["metadata"]
                http.delete(self.experiment_path(meta["name"], meta["namespace"]))

    def wait_for(
        self, name: str, condition: str = "Succeeded", namespace: str = "default", timeout: float = 120
    ) -> dict[str, Any]:
        """Poll the experiment until ``condition`` is True; fail at once if it ended otherwise, or at the
        timeout, with its status and the server's log."""
        deadline = time.monotonic() + timeout
        last: Any = None
        with self.client() as http:
            while time.monotonic() < deadline:
                response = http.get(self.experiment_path(name, namespace))
                if response.status_code == 200:
                    last = response.json()
                    true = {c["type"] for c in last.get("status", {}).get("conditions", []) if c["status"] == "True"}
                    if condition in true:
                        return dict(last)
                    ended = true & {"Succeeded", "Failed"}
                    if ended:
                        raise AssertionError(
                            f"experiment {namespace}/{name} ended {sorted(ended)}, not {condition}:\n"
                            f"{json.dumps(last.get('status'), indent=1)}\nserver log:\n{self.log_tail()}"
                        )
                else:
                    last = f"{response.status_code} {response.text}"
                time.sleep(0.2)
        shown = json.dumps(last.get("status"), indent=1) if isinstance(last, dict) else last
        raise AssertionError(
            f"experiment {namespace}/{name} not {condition} after {timeout:.0f} s; last seen:\n{shown}\n"
            f"server log:\n{self.log_tail()}"
        )

    # --- stopping -------------------------------------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM (it stops its trials and removes server.json), then SIGKILL after STOP_TIMEOUT."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, and reap it (so its pid in the left-over server.json is no longer a live process)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def server_command(home: Path, *args: str) -> list[str]:
    """``--grpc-port 0``: test servers never take Katib's port 6789 (nor collide on it)."""
    command = [sys.executable, "-m", "pykatib.cli", "server", "--port", "0", "--grpc-port", "0"]
    return [*command, "--home", str(home), *args]


def start_server(home: Path, *args: str, timeout: float = START_TIMEOUT) -> Server:
    """Start ``pykatib server --port 0 --home HOME ARGS``; return once server.json names it and /healthz
    answers. Its output goes to ``HOME.log`` (beside the home), shown in every failure."""
    home.mkdir(parents=True, exist_ok=True)
    log = home.parent / f"{home.name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(server_command(home, *args), stdout=out, stderr=subprocess.STDOUT, env=clean_env())

    def tail() -> str:
        return "\n".join(log.read_text(errors="replace").splitlines()[-40:])

    server_file = home / "server.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pykatib server exited {proc.returncode} before listening:\n{tail()}")
        try:
            info = json.loads(server_file.read_text())
        except (OSError, ValueError):
            info = None
        if info and info.get("pid") == proc.pid:
            try:
                healthz = httpx.get(f"{local_url(info['url'])}/healthz", timeout=2, verify=verifier(info.get("ca")))
                if healthz.status_code == 200:
                    return Server(home, proc, log, info)
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError(f"pykatib server not ready after {timeout:.0f} s:\n{tail()}")


@contextlib.contextmanager
def running_server(home: Path, *args: str) -> Iterator[Server]:
    server = start_server(home, *args)
    try:
        yield server
    finally:
        server.stop()


# --- waiting on trials, and the exact end of an experiment ---------------------------------------------------


def wait_trials(server: Server, name: str, ready: Any, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trials = server.trials(name)
        if ready(trials):
            return trials
        time.sleep(0.05)
    raise AssertionError(f"{name}'s trials never got there: {trial_phases(server.trials(name))}\n{server.log_tail()}")


def trial_phase(trial: dict[str, Any]) -> str:
    conditions = trial.get("status", {}).get("conditions", [])
    return str(conditions[-1]["type"]) if conditions else "Pending"


def trial_phases(trials: list[dict[str, Any]]) -> dict[str, str]:
    return {t["metadata"]["name"]: trial_phase(t) for t in trials}


def assert_exact(server: Server, name: str, count: int) -> list[dict[str, Any]]:
    """Exactly ``count`` trials, all Succeeded, each with its observation; the status says so too."""
    status = server.experiment(name)["status"]
    trials = server.trials(name)
    names = [t["metadata"]["name"] for t in trials]
    assert len(names) == len(set(names)) == count, trial_phases(trials)
    assert status["trials"] == status["trialsSucceeded"] == count, status
    assert sorted(status["succeededTrialList"]) == sorted(names), status
    for trial in trials:
        assert trial_phase(trial) == "Succeeded", trial_phases(trials)
        assert trial["metadata"]["labels"][EXPERIMENT_LABEL] == name
        assert trial["metadata"]["ownerReferences"][0]["name"] == name
        x = next(a["value"] for a in trial["spec"]["parameterAssignments"] if a["name"] == "x")
        metrics = trial["status"].get("observation", {}).get("metrics", [])
        assert [(m["name"], float(m["latest"])) for m in metrics] == [("accuracy", float(x))], trial["status"]
    return trials
