"""The server verbs' parts that need no pykatib server: the kubeconfig, ages and tables, argument errors, the
`delete` dispatch (one NAME is still the local store's), how a verb finds its server, and `apply` refusing
a bad file before it contacts anything.

Commands run as real processes (``python -m pykatib.cli``). Where a verb must reach something, it is a
real HTTP process: a closed port, or a small stand-in that answers ``/healthz`` and Kubernetes ``Status``
errors (401 without the right token, 404 otherwise), enough to check what the client makes of them.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e_support import make_experiment, run_pykatib, write_experiment
from pykatib.cli import run_verb
from pykatib.client.connection import ServerOptions, find_server
from pykatib.client.render import age, human_duration, kubeconfig, table_lines
from pykatib.client.waiting import parse_condition, parse_timeout

# Answers /healthz with "ok"; every other request with a Status: 401 without "Bearer good", else 404.
STAND_IN = r"""
import http.server, json, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body, kind="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            return self.answer(200, "ok", "text/plain")
        if self.headers.get("Authorization") != "Bearer good":
            status = {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401,
                      "message": "Unauthorized"}
            return self.answer(401, json.dumps(status))
        name = self.path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        status = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                  "message": f'experiments.kubeflow.org "{name}" not found'}
        self.answer(404, json.dumps(status))

    do_DELETE = do_GET

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def pykatib(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pykatib.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)  # fmt: skip


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment without the user's own server settings, with ``PYKATIB_HOME`` set to ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYKATIB_SERVER", "PYKATIB_TOKEN", "PYKATIB_HOME")}
    return {**env, "PYKATIB_HOME": str(home), **extra}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stand_in() -> Iterator[tuple[str, int]]:
    """A running stand-in server: (its URL, its pid)."""
    process = subprocess.Popen([sys.executable, "-c", STAND_IN], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.kill()
        process.wait(timeout=10)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def write_server_file(home: Path, url: str, pid: int, token: str | None = None) -> None:
    home.mkdir(parents=True, exist_ok=True)
    info = {"url": url, "token": token, "pid": pid, "workdir": str(home), "ui": f"{url}/"}
    (home / "server.json").write_text(json.dumps(info))


# --- kubeconfig ---------------------------------------------------------------------------------------------


def test_kubeconfig_file_has_one_cluster_user_and_context_and_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "kubeconfig"
    target.write_text("old")
    target.chmod(0o644)
    result = pykatib("kubeconfig", "-o", str(target), "--server", "http://127.0.0.1:8090", "--token", "s3cret",
                     env=clean_env(tmp_path / "home"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    config = yaml.safe_load(target.read_text())
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    assert config["clusters"] == [{"name": "pykatib", "cluster": {"server": "http://127.0.0.1:8090"}}]
    assert config["users"] == [{"name": "pykatib", "user": {"token": "s3cret"}}]
    assert config["contexts"] == [
        {"name": "pykatib", "context": {"cluster": "pykatib", "user": "pykatib", "namespace": "default"}}
    ]
    assert config["current-context"] == "pykatib"
    assert f"KUBECONFIG={target}" in result.stdout
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".kubeconfig")]  # no temporary left


def test_kubeconfig_without_token_has_no_token_key(tmp_path: Path) -> None:
    result = pykatib("kubeconfig", "--server", "http://127.0.0.1:8090", "-n", "team", env=clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["users"] == [{"name": "pykatib", "user": {}}]
    assert config["contexts"][0]["context"]["namespace"] == "team"
    assert kubeconfig("http://x:1", None)["users"][0]["user"] == {}


def test_kubeconfig_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = pykatib("kubeconfig", "-o", str(tmp_path / "no" / "config"), "--server", "http://127.0.0.1:1",
                     env=clean_env(tmp_path))  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot write") and "Traceback" not in result.stderr


# --- ages and tables ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(-5, "<invalid>"), (-0.5, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (192, "3m12s"),
     (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (7 * 3600 + 30 * 60, "7h30m"),
     (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (4 * 86400, "4d"), (3 * 86400 + 5 * 3600, "3d5h"),
     (40 * 86400, "40d"), (800 * 86400, "2y70d"), (3000 * 86400, "8y")],
)  # fmt: skip
def test_human_duration_is_kubectls(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_age_of_a_timestamp() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert age("2024-05-01T11:56:48Z", now) == "3m12s"
    assert age((now - timedelta(days=4)).isoformat(), now) == "4d"
    assert age("not a time", now) == "not a time"


def table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0},
            {"name": "Type", "type": "string", "priority": 0},
            {"name": "Status", "type": "string", "priority": 0},
            {"name": "Optimal", "type": "string", "priority": 1},
            {"name": "Age", "type": "date", "priority": 0},
        ],
        "rows": rows,
    }


def row(name: str, namespace: str, kind: str | None, created: str) -> dict[str, Any]:
    return {"cells": [name, kind, "True" if kind else None, "x=1", created],
            "object": {"metadata": {"name": name, "namespace": namespace}}}  # fmt: skip


def test_table_columns_as_kubectl_prints_them() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    data = table([row("random", "default", "Succeeded", "2024-05-01T11:59:55Z"),
                  row("a-much-longer-name", "team", None, "2024-04-27T12:00:00Z")])  # fmt: skip
    assert table_lines(data, now=now) == [
        "NAME                 TYPE        STATUS   AGE",
        "random               Succeeded   True     5s",
        "a-much-longer-name   <none>      <none>   4d",
    ]
    wide = table_lines(data, wide=True, all_namespaces=True, now=now)
    assert wide[0].split() == ["NAMESPACE", "NAME", "TYPE", "STATUS", "OPTIMAL", "AGE"]
    assert wide[2].split() == ["team", "a-much-longer-name", "<none>", "<none>", "x=1", "4d"]
    assert table_lines(table([])) == []


def test_table_without_a_name_column_takes_names_from_the_rows() -> None:
    data = {"columnDefinitions": [{"name": "Phase", "type": "string"}],
            "rows": [{"cells": ["Running"], "object": {"metadata": {"name": "p1"}}}]}  # fmt: skip
    assert table_lines(data) == ["NAME   PHASE", "p1     Running"]


# --- argument errors ----------------------------------------------------------------------------------------


def test_argument_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", PYKATIB_SERVER=f"http://127.0.0.1:{closed_port()}")
    cases = [
        (["get", "pods"], "doesn't have a resource type"),
        (["get", "experiments", "--experiment", "x"], "--experiment selects trials only"),
        (["get", "experiments", "x", "-A"], "across all namespaces"),
        (["get", "experiments", "x", "-l", "a=b"], "selector"),
        (["get", "experiments", "-o", "xml"], "Invalid value"),
        (["edit-budget", "x"], "nothing to change"),
        (["wait", "x", "--for", "condition="], "--for"),
        (["wait", "x", "--for", "Succeeded", "--timeout", "soon"], "--timeout"),
        (["stop", "x", "--wait", "--timeout", "5 minutes"], "--timeout"),
        (["describe", "pods", "x"], "doesn't have a resource type"),
        (["logs"], "Missing argument"),
        (["apply"], "Missing option"),
    ]
    for args, message in cases:
        result = pykatib(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_timeouts_and_conditions_parse_as_kubectl() -> None:
    assert parse_timeout("300s") == 300 and parse_timeout("5m") == 300 and parse_timeout("1h30m") == 5400
    assert parse_timeout("500ms") == 0.5 and parse_timeout("12") == 12 and parse_timeout("0") == 0
    assert parse_timeout("-1s") == float("inf")
    for bad in ("", "5x", "m5", "inf", "5m trailing"):
        with pytest.raises(ValueError):
            parse_timeout(bad)
    assert parse_condition("condition=Succeeded") == ("Succeeded", "True")
    assert parse_condition("Failed") == ("Failed", "True")
    assert parse_condition("condition=Running=False") == ("Running", "False")
    assert parse_condition("delete") == ("delete", "")


# --- delete: one NAME is the local store's, `experiment NAME` the server's --------------------------------------


def test_delete_of_one_name_is_still_the_local_store(tmp_path: Path) -> None:
    workdir = tmp_path / "state"
    doc = make_experiment(["python3", "-c", "print('loss=1')"], name="local1", maxTrialCount=1, parallelTrialCount=1)
    rc, _, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert rc == 0, stderr
    env = clean_env(tmp_path / "home", PYKATIB_SERVER=f"http://127.0.0.1:{closed_port()}")  # never used

    refused = pykatib("delete", "experiment", "local1", "--workdir", str(workdir), env=env)
    assert refused.returncode == 2 and "--db and --workdir are for the local store" in refused.stderr
    refused = pykatib("delete", "local1", "--server", "http://127.0.0.1:1", "--workdir", str(workdir), env=env)
    assert refused.returncode == 2 and "are for the server" in refused.stderr
    refused = pykatib("delete", "local1", "other", "--workdir", str(workdir), env=env)
    assert refused.returncode == 2 and "expected NAME (local) or experiment NAME" in refused.stderr

    result = pykatib("delete", "local1", "--workdir", str(workdir), env=env)  # PYKATIB_SERVER plays no part
    assert result.returncode == 0, result.stderr
    assert "experiment default/local1 deleted" in result.stdout
    assert not (workdir / "experiments" / "default" / "local1").exists()
    again = pykatib("delete", "local1", "--workdir", str(workdir), env=env)
    assert again.returncode == 1 and "not found" in again.stderr


def test_delete_experiment_goes_to_the_server(tmp_path: Path, stand_in: tuple[str, int]) -> None:
    url, _ = stand_in
    env = clean_env(tmp_path / "home")
    result = pykatib("delete", "experiment", "gone", "--server", url, "--token", "good", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == 'Error from server (NotFound): experiments.kubeflow.org "gone" not found'
    result = pykatib("delete", "exp/gone", "--server", url, "--token", "good", env=env)
    assert result.returncode == 1 and "NotFound" in result.stderr
    port = closed_port()
    result = pykatib("delete", "experiments", "x", "--server", f"http://127.0.0.1:{port}", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot reach the pykatib server at http://127.0.0.1:{port}: ")
    assert len(result.stderr.strip().splitlines()) == 1


# --- finding the server -----------------------------------------------------------------------------------------


def test_no_server_anywhere_is_one_line(tmp_path: Path) -> None:
    result = pykatib("get", "experiments", env=clean_env(tmp_path / "home"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: no pykatib server is running") and "pykatib server" in result.stderr
    assert not (tmp_path / "home" / "server.log").exists()  # only apply starts one


def test_resolution_order(tmp_path: Path, stand_in: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    url, pid = stand_in
    home = tmp_path / "home"
    for name in ("PYKATIB_SERVER", "PYKATIB_TOKEN", "PYKATIB_HOME"):
        monkeypatch.delenv(name, raising=False)
    options = ServerOptions(home=home)
    assert find_server(options) is None  # no server file

    write_server_file(home, url, dead_pid(), "good")
    assert find_server(options) is None  # its pid is dead

    write_server_file(home, url, os.getpid(), "good")
    write_server_file(home, f"http://127.0.0.1:{closed_port()}", os.getpid(), "good")
    assert find_server(options) is None  # alive, but nothing answers /healthz at its URL

    write_server_file(home, url, pid, "good")
    found = find_server(options)
    assert found is not None and (found.url, found.token) == (url, "good")
    found.close()

    monkeypatch.setenv("PYKATIB_SERVER", "http://127.0.0.1:1")
    monkeypatch.setenv("PYKATIB_TOKEN", "from-env")
    found = find_server(options)
    assert found is not None and (found.url, found.token) == ("http://127.0.0.1:1", "from-env")  # env first
    found.close()
    found = find_server(ServerOptions(server=url, home=home))  # --server first; PYKATIB_TOKEN still applies
    assert found is not None and (found.url, found.token) == (url, "from-env")
    found.close()
    monkeypatch.delenv("PYKATIB_TOKEN")
    found = find_server(ServerOptions(server=url.replace("127.0.0.1", "localhost"), home=home))
    assert found is not None and found.token == "good"  # the local server's URL given: its file's token
    found.close()


def test_tokens_as_the_server_sees_them(
    tmp_path: Path, stand_in: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, pid = stand_in
    for name in ("PYKATIB_SERVER", "PYKATIB_TOKEN", "PYKATIB_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    write_server_file(home, url, pid, "good")
    result = pykatib("get", "experiments", "x", env=clean_env(home))  # the token of server.json
    assert result.returncode == 1 and "NotFound" in result.stderr
    result = pykatib("get", "experiments", "x", "--token", "bad", env=clean_env(home))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: the server refused the token: pass --token or set PYKATIB_TOKEN"
    result = pykatib("describe", "experiment", "x", env=clean_env(tmp_path / "elsewhere", PYKATIB_SERVER=url))
    assert result.returncode == 1 and "asks for a token" in result.stderr
    assert run_verb(["logs", "t1", "--home", str(home), "--token", "bad"]) == 1  # in process, too


# --- apply checks the file first ------------------------------------------------------------------------------


def test_apply_of_a_yaml_syntax_error_exits_2_and_contacts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubeflow.org/v1beta1\nkind: Experiment\nmetadata: {name: [x\n")
    home = tmp_path / "home"
    result = pykatib("apply", "-f", str(bad), env=clean_env(home))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}: YAML syntax error: line ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not home.exists()  # no server was looked for in it, nor started


def test_apply_refuses_what_it_cannot_apply_before_contacting_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    experiment = make_experiment(["python3", "-c", "print('loss=1')"], name="ok")
    cases = [
        ([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}], "Pod (v1) cannot be applied"),
        ([{**experiment, "metadata": {}}], "metadata.name is missing"),
        ([experiment, "just text"], "(document 2): expected an object"),
        ([], "no objects passed to apply"),
    ]
    for documents, message in cases:
        path = tmp_path / "file.yaml"
        path.write_text(yaml.safe_dump_all(documents))
        result = pykatib("apply", "-f", str(path), env=clean_env(home))
        assert result.returncode == 2 and message in result.stderr, (message, result.stderr)
    path = tmp_path / "other-ns.yaml"
    path.write_text(yaml.safe_dump({**experiment, "metadata": {"name": "ok", "namespace": "a"}}))
    result = pykatib("apply", "-f", str(path), "-n", "b", env=clean_env(home))
    assert result.returncode == 2 and "You must pass '--namespace=a'" in result.stderr
    result = pykatib("apply", "-f", str(tmp_path / "missing.yaml"), env=clean_env(home))
    assert result.returncode == 2 and "missing.yaml" in result.stderr and "Traceback" not in result.stderr
    assert not home.exists()


def test_apply_says_why_the_server_it_started_did_not_come_up(tmp_path: Path) -> None:
    """No server running: apply starts one in the home directory; when that one fails (here its store is a
    directory), the error quotes the end of its log."""
    home = tmp_path / "home"
    (home / "pykatib.db").mkdir(parents=True)
    path = write_experiment(tmp_path, make_experiment(["python3", "-c", "print('loss=1')"], name="ok"))
    result = pykatib("apply", "-f", str(path), env=clean_env(home))
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: the pykatib server did not start (exit status 2; log {home / 'server.log'}): ")
    assert "is a directory" in line
    assert not (home / "server.json").exists()
