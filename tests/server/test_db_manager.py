"""Katib's DBManager gRPC service of a real ``pykatib server``, through gRPC clients (pykatib's generated stubs on
this environment's grpcio): reports to a running trial reach its observations through the Push collector, logs
are read back filtered as Katib filters them, deleted once the trial has ended, and every wrong request gets
its gRPC status. The port also answers HTTP CONNECT: Katib's cluster names reach the service, other targets are
tunnelled.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from e2e_support import make_experiment
from pykatib.api import api_pb2, api_pb2_grpc
from pykatib.dbmanager import DEFAULT_PORT as DB_MANAGER_PORT
from pykatib.dbmanager import PORT_FILE, DBManager, trial_resolver
from pykatib.metrics.pushed import PUSH_METRICS_FILE
from pykatib.server.main import _db_manager
from pykatib.store import Store
from server_support import Server, clean_env, running_server, server_command

GUARD = 120.0  # how long a loop waits for what must happen (a guard, not a figure)
# A trial that waits until the directory argv[1] (an existing path: the trial sees it as it is) holds "gate";
# its metrics come from the DB manager (Push collector).
GATED = "import os, sys, time\nwhile not os.path.exists(os.path.join(sys.argv[1], 'gate')):\n    time.sleep(0.05)"
KATIB_ADDRESS = "katib-db-manager.kubeflow:6789"  # the SDK's default, which only a cluster resolves
LOSS_1 = ("2024-01-02T03:04:05Z", "0.5")  # Katib's SDK format
ACCURACY = ("2024-01-02T04:04:06.25+01:00", "0.75")  # a fraction and an offset: 03:04:06.25 UTC
LOSS_2 = ("2024-01-02T03:04:07.000001Z", "0.25")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("db-manager") / "home") as started:
        yield started


@pytest.fixture(scope="module")
def stub(server: Server) -> Iterator[Any]:
    with grpc.insecure_channel(server.db_manager) as channel:
        yield api_pb2_grpc.DBManagerStub(channel)


@pytest.fixture(scope="module")
def proxied(server: Server) -> Iterator[Any]:
    """Katib's default address, through the DB manager's port as an HTTP proxy (what trials get as grpc_proxy)."""
    options = [("grpc.http_proxy", f"http://{server.db_manager}")]
    with grpc.insecure_channel(KATIB_ADDRESS, options=options) as channel:
        yield api_pb2_grpc.DBManagerStub(channel)


def _experiment(name: str, gates: Path) -> dict[str, Any]:
    return make_experiment(
        ["python3", "-c", GATED, str(gates), "${trialParameters.x}"],
        name=name,
        objective={"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": ["accuracy"]},
        metricsCollectorSpec={"collector": {"kind": "Push"}},
        maxTrialCount=1,
        parallelTrialCount=1,
    )


def _running_trial(server: Server, experiment: str) -> str:
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        for trial in server.trials(experiment):
            true = {c["type"] for c in trial.get("status", {}).get("conditions", []) if c["status"] == "True"}
            if "Running" in true:
                return str(trial["metadata"]["name"])
        time.sleep(0.1)
    raise AssertionError(f"no trial of {experiment} running after {GUARD:.0f} s\n{server.log_tail()}")


def _report(trial: str, *logs: tuple[str, str, str]) -> Any:
    metric_logs = [api_pb2.MetricLog(time_stamp=stamp, metric=api_pb2.Metric(name=name, value=value))
                   for name, stamp, value in logs]  # fmt: skip
    return api_pb2.ReportObservationLogRequest(trial_name=trial, observation_log=api_pb2.ObservationLog(
        metric_logs=metric_logs))  # fmt: skip


def _logs(stub: Any, trial: str, **filters: str) -> list[tuple[str, str, str]]:
    reply = stub.GetObservationLog(api_pb2.GetObservationLogRequest(trial_name=trial, **filters), timeout=30)
    return [(m.metric.name, m.time_stamp, m.metric.value) for m in reply.observation_log.metric_logs]


def _refused(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value


def test_reports_reach_a_running_trial_and_are_read_back_as_katib_filters_them(
    server: Server, stub: Any, proxied: Any, tmp_path: Path
) -> None:
    assert server.db_manager.startswith("127.0.0.1:"), server.db_manager
    assert json.loads((server.home / "server.json").read_text())["db_manager"] == server.db_manager
    gate = tmp_path / "gate"
    server.create(_experiment("dbm-report", tmp_path))
    trial = _running_trial(server, "dbm-report")

    # Through Katib's own address, as report_metrics sends them: every metric checked before any is written.
    proxied.ReportObservationLog(_report(trial, ("loss", *LOSS_1), ("accuracy", *ACCURACY)), timeout=30)
    bad = _refused(proxied.ReportObservationLog, _report(trial, ("loss", *LOSS_2), ("accuracy", LOSS_2[0], "abc")))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad.details() == "metric 'accuracy': value 'abc' is not a float"
    stub.ReportObservationLog(_report(trial, ("loss", *LOSS_2), ("ignored", LOSS_2[0], "1")), timeout=30)

    expected = [
        ("loss", "2024-01-02T03:04:05Z", "0.5"),
        ("accuracy", "2024-01-02T03:04:06.25Z", "0.75"),
        ("loss", "2024-01-02T03:04:07.000001Z", "0.25"),
    ]
    deadline = time.monotonic() + GUARD
    while _logs(stub, trial) != expected and time.monotonic() < deadline:
        time.sleep(0.1)  # the controller stores what the trial's Push file received
    assert _logs(stub, trial) == expected, server.log_tail()
    assert _logs(proxied, trial, metric_name="loss") == [expected[0], expected[2]]
    assert _logs(stub, trial, start_time="2024-01-02T03:04:06Z") == expected[1:]
    assert _logs(stub, trial, end_time="2024-01-02T03:04:06.25Z") == expected[:2]  # both bounds included
    assert _logs(stub, trial, start_time="2024-01-02T04:04:06+01:00", end_time="2024-01-02T03:04:07Z") == [expected[1]]

    running = _refused(stub.DeleteObservationLog, api_pb2.DeleteObservationLogRequest(trial_name=trial))
    assert running.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert running.details() == f"trial {trial} is Running: its observations are deleted only once it has ended"

    gate.touch()
    done = server.wait_for("dbm-report")
    assert done["status"]["currentOptimalTrial"]["bestTrialName"] == trial
    metrics = {m["name"]: m for m in done["status"]["currentOptimalTrial"]["observation"]["metrics"]}
    assert (float(metrics["loss"]["min"]), float(metrics["loss"]["latest"])) == (0.25, 0.25)
    assert float(metrics["accuracy"]["latest"]) == 0.75

    ended = _refused(stub.ReportObservationLog, _report(trial, ("loss", *LOSS_1)))
    assert ended.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert ended.details() == f"trial {trial} has ended (Succeeded): its metrics are no longer collected"
    stub.DeleteObservationLog(api_pb2.DeleteObservationLogRequest(trial_name=trial), timeout=30)
    assert _logs(stub, trial) == []


def test_wrong_requests_get_their_status(stub: Any, server: Server) -> None:
    unknown = _refused(stub.ReportObservationLog, _report("no-such-trial", ("loss", *LOSS_1)))
    assert (unknown.code(), unknown.details()) == (grpc.StatusCode.NOT_FOUND, "trial no-such-trial not found")
    for call, request in [
        (stub.GetObservationLog, api_pb2.GetObservationLogRequest(trial_name="no-such-trial")),
        (stub.DeleteObservationLog, api_pb2.DeleteObservationLogRequest(trial_name="no-such-trial")),
    ]:
        assert _refused(call, request).code() == grpc.StatusCode.NOT_FOUND
    empty = _refused(stub.GetObservationLog, api_pb2.GetObservationLogRequest())
    assert (empty.code(), empty.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "trial_name is empty")

    with grpc.insecure_channel(server.db_manager) as channel:
        suggestion = api_pb2_grpc.SuggestionStub(channel)
        other = _refused(suggestion.GetSuggestions, api_pb2.GetSuggestionsRequest())
    assert other.code() == grpc.StatusCode.UNIMPLEMENTED
    assert other.details().startswith("/api.v1.beta1.Suggestion/GetSuggestions is not served: pykatib's DB manager "
                                      "serves only Katib's DBManager service")  # fmt: skip


def test_times_and_values_are_checked(server: Server, stub: Any, tmp_path: Path) -> None:
    server.create(_experiment("dbm-checks", tmp_path))
    trial = _running_trial(server, "dbm-checks")
    cases = {
        ("loss", "yesterday", "1"): "metric 'loss': time_stamp 'yesterday' is not an RFC 3339 time",
        ("loss", "2024-01-02", "1"): "metric 'loss': time_stamp '2024-01-02' is not an RFC 3339 time",
        ("loss", LOSS_1[0], "1_000"): "metric 'loss': value '1_000' is not a float",
        ("loss", LOSS_1[0], ""): "metric 'loss': value '' is not a float",
        ("timestamp", LOSS_1[0], "1"): "metric 'timestamp': the name is reserved for the report's time",
        ("", LOSS_1[0], "1"): "a metric without a name",
    }
    for log, details in cases.items():
        refused = _refused(stub.ReportObservationLog, _report(trial, log))
        assert (refused.code(), refused.details()) == (grpc.StatusCode.INVALID_ARGUMENT, details)
    window = _refused(stub.GetObservationLog, api_pb2.GetObservationLogRequest(trial_name=trial, start_time="today"))
    assert window.details() == "start_time 'today' is not an RFC 3339 time"
    assert _logs(stub, trial) == []  # nothing refused was written
    (tmp_path / "gate").touch()
    server.wait_for("dbm-checks")


def test_non_finite_values_are_written_as_report_metrics_writes_them(server: Server, stub: Any, tmp_path: Path) -> None:
    """Katib's SDK and DB manager accept NaN and infinities: so does this one, writing them to the Push file as
    report_metrics does (``str(float(value))``); the collector skips them there, as in any file."""
    server.create(_experiment("dbm-nan", tmp_path))
    trial = _running_trial(server, "dbm-nan")
    stub.ReportObservationLog(_report(trial, ("loss", LOSS_1[0], "nan"), ("accuracy", LOSS_1[0], "Infinity")),
                              timeout=30)  # fmt: skip
    stub.ReportObservationLog(_report(trial, ("loss", *LOSS_2), ("accuracy", LOSS_2[0], "-inf")), timeout=30)
    stored = [("loss", LOSS_2[0], LOSS_2[1])]
    deadline = time.monotonic() + GUARD
    while _logs(stub, trial) != stored and time.monotonic() < deadline:
        time.sleep(0.1)  # the second line is stored once the controller has read past the first
    assert _logs(stub, trial) == stored, server.log_tail()
    pushed = server.workdir / "experiments" / "default" / "dbm-nan" / "trials" / trial / PUSH_METRICS_FILE
    assert [json.loads(line) for line in pushed.read_text().splitlines()] == [
        {"loss": "nan", "accuracy": "inf", "timestamp": 1704164645.0},
        {"loss": "0.25", "accuracy": "-inf", "timestamp": 1704164647.000001},
    ]
    (tmp_path / "gate").touch()
    done = server.wait_for("dbm-nan")
    metrics = {m["name"]: m for m in done["status"]["currentOptimalTrial"]["observation"]["metrics"]}
    assert float(metrics["loss"]["latest"]) == 0.25


def test_a_connection_that_says_nothing_is_closed(tmp_path: Path) -> None:
    """A connection that sends nothing, or half a CONNECT head, is closed once the head timeout has passed
    (instead of being held for ever); the port keeps serving."""
    with (
        Store(f"sqlite:///{tmp_path}/pykatib.db") as store,
        DBManager(store, trial_resolver(store, tmp_path), 0, head_timeout=0.2) as db_manager,
    ):
        for sent in [b"", b"CONNECT katib-db-manager.kubeflow:6789 HTTP/1.1\r\n"]:
            with socket.create_connection(("127.0.0.1", db_manager.port), timeout=GUARD) as sock:
                sock.sendall(sent)
                assert sock.recv(1) == b"", sent  # closed by the server (a timeout here raises)
        with grpc.insecure_channel(db_manager.address) as channel:
            refused = _refused(api_pb2_grpc.DBManagerStub(channel).GetObservationLog,
                               api_pb2.GetObservationLogRequest(trial_name="nope"))  # fmt: skip
        assert refused.code() == grpc.StatusCode.NOT_FOUND


def test_trials_keep_the_users_direct_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gRPC reads no_proxy only while no_grpc_proxy is unset: the trials' no_grpc_proxy holds the entries of both
    (NO_PROXY too), after the loopback names."""
    monkeypatch.setenv("no_grpc_proxy", "grpc.example")
    monkeypatch.setenv("no_proxy", "corp.example, .internal,")
    monkeypatch.setenv("NO_PROXY", "corp.example,other.example")
    with Store(f"sqlite:///{tmp_path}/pykatib.db") as store:
        db_manager = DBManager(store, trial_resolver(store, tmp_path))
        db_manager.stop()
    direct = db_manager.trial_env()["no_grpc_proxy"].split(",")
    assert direct == ["localhost", "127.0.0.1", "::1", "grpc.example", "corp.example", ".internal", "other.example"]


def test_the_server_listens_on_its_port_of_last_time_again(tmp_path: Path) -> None:
    """Trials of the last start keep its DB manager's port (grpc_proxy): the next start listens there again (here
    a free port: Katib's is held), recorded in the home; only when that port is taken does it move, and records
    the new one."""
    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as katib, Store(f"sqlite:///{tmp_path}/pykatib.db") as store:
        with contextlib.suppress(OSError):
            katib.bind(("127.0.0.1", DB_MANAGER_PORT))
            katib.listen()
        first = _db_manager(store, tmp_path, None, home)
        first.stop()
        assert first.port != DB_MANAGER_PORT
        assert (home / PORT_FILE).read_text().strip() == str(first.port)
        with _db_manager(store, tmp_path, None, home) as again:
            assert again.port == first.port
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", first.port))
            taken.listen()
            moved = _db_manager(store, tmp_path, None, home)
            moved.stop()
        assert moved.port not in (first.port, DB_MANAGER_PORT)
        assert (home / PORT_FILE).read_text().strip() == str(moved.port)


def test_grpc_is_imported_only_with_a_db_manager() -> None:
    """``pykatib run`` and the server import grpc (about 40 ms) when they make their DB manager, not with their
    modules: a run refused before it (a wrong file, an experiment already ended) does not pay for it."""
    code = "import sys, pykatib.cli_run, pykatib.server.main; print(sorted(m for m in sys.modules if 'grpc' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean_env())
    assert done.stdout.strip() == "[]", done.stdout


def _connect(server: Server, target: str) -> tuple[socket.socket, bytes]:
    """A CONNECT request to the DB manager's port: the socket and the reply's head."""
    host, port = server.db_manager.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def test_other_connect_targets_are_tunnelled_or_refused(server: Server) -> None:
    api = server.local_url.removeprefix("http://")
    sock, head = _connect(server, api)
    with sock:
        assert head == b"HTTP/1.1 200 Connection established\r\n\r\n"
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    sock, head = _connect(server, f"127.0.0.1:{closed}")
    sock.close()
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n"), head
    sock, head = _connect(server, "no-port")
    sock.close()
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), head


def test_a_grpc_port_taken_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        home = tmp_path / "home"
        proc = subprocess.run([*server_command(home), "--grpc-port", str(port)], capture_output=True, text=True,
                              timeout=60, env=clean_env(), check=False)  # fmt: skip
    assert proc.returncode == 2, proc
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: Katib's DB manager cannot listen on 127.0.0.1:{port}: ")
    ), proc.stderr
    assert not (home / "server.json").exists()


def test_katibs_port_taken_falls_back_to_a_free_one(tmp_path: Path) -> None:
    """Without --grpc-port the server tries Katib's 6789; held (here, or already by another process: as good)
    it listens on a free port instead, which server.json names."""
    with socket.socket() as katib, Store(f"sqlite:///{tmp_path}/pykatib.db") as store:
        with contextlib.suppress(OSError):
            katib.bind(("127.0.0.1", DB_MANAGER_PORT))
            katib.listen()
        db_manager = _db_manager(store, tmp_path, None, tmp_path)
        with db_manager:
            assert db_manager.address.startswith("127.0.0.1:")
            assert db_manager.port not in (0, DB_MANAGER_PORT)
