"""``pykatib server`` under what goes wrong: missing and wrong tokens, a non-loopback address, oversized
bodies, path tricks on pod logs, a YAML alias bomb, a SIGKILL mid-experiment (and a killed server left
unreaped), a ``pykatib run --resume`` racing the server, and two experiments submitted at once.

One server with a token (so https, with its own certificate) serves most tests of the module; the tests of
listen addresses and of killed servers start their own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from e2e_support import write_experiment
from server_support import (
    GROUP_VERSION,
    Server,
    assert_exact,
    clean_env,
    kubectl_binary,
    running_server,
    server_command,
    start_server,
    tiny_experiment,
    trial_phase,
    wait_trials,
    write_kubeconfig,
)

TOKEN = "s3cret-token"
EXPERIMENTS = f"/apis/{GROUP_VERSION}/namespaces/default/experiments"
LIMIT = 3 * 1024 * 1024  # the server's body limit (an experiment file's)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("failures") / "home", "--token", TOKEN) as started:
        yield started


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").delete_all()


def _assert_status(response: httpx.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code, f"{response.status_code} {response.text[:500]}"
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == code, body
    return body


# --- tokens -------------------------------------------------------------------------------------------------


def test_requests_without_the_token_get_401(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}):  # fmt: skip
        for method, path in (("GET", EXPERIMENTS), ("POST", EXPERIMENTS), ("GET", "/apis"), ("GET", "/api/v1/pods")):
            response = httpx.request(method, server.local_url + path, headers=headers, json={}, timeout=10,
                                     verify=server.verify)  # fmt: skip
            body = _assert_status(response, 401)
            assert body["reason"] == "Unauthorized", body
    # /healthz answers without a token (for probes).
    assert httpx.get(server.local_url + "/healthz", timeout=10, verify=server.verify).status_code == 200
    ok = httpx.get(server.local_url + EXPERIMENTS, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10,
                   verify=server.verify)  # fmt: skip
    assert ok.status_code == 200 and ok.json()["kind"] == "ExperimentList", ok.text


def test_kubectl_with_a_wrong_token_is_refused(server: Server, tmp_path: Path) -> None:
    """(Without any token kubectl asks for a user name instead, as with any cluster: the 401s of requests
    without a token are checked above.)"""
    kubectl_binary()
    config = write_kubeconfig(tmp_path / "wrong.kubeconfig", server.local_url, "not-the-token", ca=server.ca)
    refused = server.kubectl("get", "experiments", kubeconfig=config, check=False)
    assert refused.returncode == 1, refused
    # kubectl words it "(Unauthorized)" from the Status, or, from its discovery requests (which do not read
    # the Status), "(the server has asked for the client to provide credentials)", as with any cluster.
    last = refused.stderr.splitlines()[-1]
    assert last in (
        "error: You must be logged in to the server (Unauthorized)",
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)",
    ), refused.stderr
    assert refused.stdout == ""


def test_kubectl_with_the_right_token_is_let_in(server: Server) -> None:
    """kubectl (client-go) sends a kubeconfig's bearer token only over TLS (to a plain http server it sends
    none): a server with a token serves https, with a certificate of its own (server.json's "ca")."""
    kubectl_binary()
    listed = server.kubectl("get", "experiments", check=False)
    assert listed.returncode == 0, listed.stderr[-1500:]
    assert listed.stderr.strip() == "No resources found in default namespace."


def test_a_non_loopback_address_without_a_token_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = _free_port()
    proc = subprocess.run([*server_command(home, "--host", "0.0.0.0"), "--port", str(port)],
                          capture_output=True, text=True, timeout=60, env=clean_env(), check=False)  # fmt: skip
    assert proc.returncode == 2, proc
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: refusing to listen on 0.0.0.0 without a token"), lines[0]
    assert "--token" in lines[0]
    assert proc.stdout == ""
    assert not (home / "server.json").exists()
    # Nothing was bound: the port it was given is still free.
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", port))


def test_a_non_loopback_address_with_a_token_serves(tmp_path: Path) -> None:
    with running_server(tmp_path / "home", "--host", "0.0.0.0", "--token", TOKEN) as server:
        assert urlsplit(server.url).hostname == "0.0.0.0", server.url
        info = json.loads((server.home / "server.json").read_text())
        assert info["token"] == TOKEN and info["pid"] == server.proc.pid
        assert (server.home / "server.json").stat().st_mode & 0o777 == 0o600
        with httpx.Client(base_url=server.local_url, timeout=10, verify=server.verify) as http:
            _assert_status(http.get(EXPERIMENTS), 401)
            ok = http.get(EXPERIMENTS, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["items"] == [], ok.text
    assert server.proc.returncode == 0, server.log_tail()
    assert not (server.home / "server.json").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port: int = probe.getsockname()[1]
        return port


# --- hostile requests -------------------------------------------------------------------------------------


def test_a_body_over_the_limit_gets_413(server: Server) -> None:
    big = b"a: " + b"x" * (LIMIT + 10) + b"\n"
    with server.client() as http:
        for content_type in ("application/yaml", "application/json"):
            body = _assert_status(http.post(EXPERIMENTS, content=big, headers={"Content-Type": content_type}), 413)
            assert body["reason"] == "RequestEntityTooLarge" and str(LIMIT) in body["message"], body
        body = _assert_status(http.put(f"{EXPERIMENTS}/x", content=big, headers={"Content-Type": "application/json"}),
                              413)  # fmt: skip
        # Just under the limit is read (and refused for what it is, not for its size).
        small = b'{"a": "' + b"x" * (LIMIT - 100) + b'"}'
        assert http.post(EXPERIMENTS, content=small, headers={"Content-Type": "application/json"}).status_code == 422
        assert http.get(EXPERIMENTS).status_code == 200


def test_a_chunked_body_over_the_limit_gets_413(server: Server) -> None:
    """Without a Content-Length (chunked transfer encoding) the limit is found while reading: still 413
    with a Status, not a 500."""

    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * (1024 * 1024)

    with server.client() as http:
        response = http.post(EXPERIMENTS, content=chunks(), headers={"Content-Type": "application/json"})
        body = _assert_status(response, 413)
        assert body["reason"] == "RequestEntityTooLarge", body
        assert http.get(EXPERIMENTS).status_code == 200


TRAVERSALS = [
    "..%2F..%2Fetc%2Fpasswd",
    "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "..",
    "%2E%2E",
    "..%5C..%5Cetc%5Cpasswd",
    "x-job-0%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "..%252F..%252Fetc%252Fpasswd",
]


@pytest.mark.parametrize("pod", TRAVERSALS)
def test_pod_log_paths_cannot_leave_the_trial_directories(server: Server, pod: str) -> None:
    with server.client() as http:
        for path in (f"/api/v1/namespaces/default/pods/{pod}/log", f"/api/v1/namespaces/{pod}/pods/passwd/log",
                     f"/api/v1/namespaces/default/pods/{pod}/log?follow=true&tailLines=10"):  # fmt: skip
            response = http.get(path)
            assert response.status_code in (400, 403, 404), (path, response.status_code, response.text[:300])
            assert "root:" not in response.text, (path, response.text[:300])


def test_a_pod_log_path_sent_as_is_is_refused(server: Server) -> None:
    """``..`` segments sent unnormalized (clients normalize them; a raw socket does not)."""
    address = urlsplit(server.local_url)
    assert address.hostname is not None and address.port is not None
    for path in ("/api/v1/namespaces/default/pods/../../../../etc/passwd/log",
                 "/api/v1/namespaces/default/pods/x/../../../../../etc/passwd/log"):  # fmt: skip
        with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
            conn = raw
            if address.scheme == "https":
                context = server.verify if isinstance(server.verify, ssl.SSLContext) else ssl.create_default_context()
                conn = context.wrap_socket(raw, server_hostname=address.hostname)
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                         "Connection: close\r\n\r\n".encode())  # fmt: skip
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        status_line = reply.split(b"\r\n", 1)[0].decode()
        assert status_line.split()[1] in ("400", "403", "404"), (path, reply[:300])
        assert b"root:" not in reply, (path, reply[:300])


ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
)


def test_a_yaml_alias_bomb_is_refused(server: Server) -> None:
    with server.client(timeout=20) as http:
        for method, path in (("POST", EXPERIMENTS), ("POST", "/api/v1/namespaces/default/configmaps"),
                             ("PUT", f"{EXPERIMENTS}/bomb")):  # fmt: skip
            # The client's timeout guards against a hang; the answer is a refusal, not a 3 GB document.
            response = http.request(method, path, content=ALIAS_BOMB.encode(),
                                    headers={"Content-Type": "application/yaml"})  # fmt: skip
            body = _assert_status(response, 400)
            assert "alias" in body["message"].lower(), body
        response = http.patch(f"{EXPERIMENTS}/bomb", params={"fieldManager": "test"}, content=ALIAS_BOMB.encode(),
                              headers={"Content-Type": "application/apply-patch+yaml"})  # fmt: skip
        assert response.status_code == 400, response.text[:300]
        assert http.get("/healthz").status_code == 200
        assert http.get(EXPERIMENTS).json()["items"] == []


# --- crashes and races ------------------------------------------------------------------------------------


def test_a_server_killed_mid_experiment_finishes_it_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start_server(home)
    try:
        first.create(tiny_experiment("crash", trials=8, parallel=2, pause=1.0))
        wait_trials(first, "crash", lambda ts: sum(trial_phase(t) == "Succeeded" for t in ts) >= 2
                     and any(trial_phase(t) == "Running" for t in ts))  # fmt: skip
    finally:
        first.kill()
    assert (home / "server.json").exists()  # left behind by the kill: the next server must not be fooled
    with running_server(home) as second:
        second.wait_for("crash", timeout=120)
        assert_exact(second, "crash", 8)


# Starts a command and never reaps it: once killed, it stays a zombie while this process lives (as under an
# init that does not reap, like a container's PID 1 without --init).
KEEPER = (
    "import subprocess, sys, time; child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(child.pid, flush=True); time.sleep(300)"
)


def test_a_killed_server_not_yet_reaped_does_not_block_a_restart(tmp_path: Path) -> None:
    """A SIGKILLed server's pid may linger as a zombie (dead, not yet reaped): its left-over server.json
    must not make the next server on the home refuse to start."""
    home = tmp_path / "home"
    with open(tmp_path / "first.log", "wb") as log:
        keeper = subprocess.Popen([sys.executable, "-c", KEEPER, *server_command(home)], stdout=subprocess.PIPE,
                                  stderr=log, env=clean_env())  # fmt: skip
    try:
        assert keeper.stdout is not None
        pid = int(keeper.stdout.readline())
        deadline = time.monotonic() + 30
        while not (home / "server.json").exists() or json.loads((home / "server.json").read_text())["pid"] != pid:
            assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed server never became a zombie"
            time.sleep(0.05)
        with running_server(home) as second:
            assert second.proc.pid != pid
            with second.client() as http:
                assert http.get(EXPERIMENTS).status_code == 200
    finally:
        keeper.kill()
        keeper.wait()


def test_pykatib_run_resume_refuses_an_experiment_the_server_runs(server: Server, tmp_path: Path) -> None:
    path = write_experiment(tmp_path, tiny_experiment("busy", trials=4, parallel=2, pause=2.0))
    with server.client() as http:
        response = http.post(EXPERIMENTS, content=path.read_bytes(), headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.text
    wait_trials(server, "busy", lambda ts: any(trial_phase(t) == "Running" for t in ts))
    proc = subprocess.run([sys.executable, "-m", "pykatib.cli", "run", str(path), "--resume",
                           "--workdir", str(server.workdir)],
                          capture_output=True, text=True, timeout=60, env=clean_env(), check=False)  # fmt: skip
    assert proc.returncode == 2, proc
    assert f"pykatib server at {server.url}" in proc.stderr, proc.stderr
    assert f"pid {server.proc.pid}" in proc.stderr, proc.stderr
    # The server goes on undisturbed.
    server.wait_for("busy")
    assert_exact(server, "busy", 4)


def test_two_experiments_submitted_at_once_both_finish_exactly(server: Server) -> None:
    docs = [tiny_experiment(name, trials=4, parallel=2, pause=0.3) for name in ("twin-a", "twin-b")]
    with ThreadPoolExecutor(2) as pool:
        created = list(pool.map(server.create, docs))
    assert sorted(c["metadata"]["name"] for c in created) == ["twin-a", "twin-b"]
    seen: set[str] = set()
    for name in ("twin-a", "twin-b"):
        server.wait_for(name)
        trials = assert_exact(server, name, 4)
        names = {t["metadata"]["name"] for t in trials}
        assert all(n.startswith(f"{name}-") for n in names), names
        assert not names & seen
        seen |= names
        with server.client() as http:
            suggestion = http.get(f"/apis/{GROUP_VERSION}/namespaces/default/suggestions/{name}").json()
        assert {s["name"] for s in suggestion["status"]["suggestions"]} == names
