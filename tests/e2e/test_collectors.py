"""Every metrics collector on real output of real trial processes, through ``pykatib run``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from e2e_support import (
    categorical,
    end_condition,
    make_experiment,
    observations_of,
    run_pykatib,
    trial_dir,
    trials_of,
    write_experiment,
    write_script,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def run_ok(tmp_path: Path, workdir: Path, doc: dict[str, Any]) -> dict[str, Any]:
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert rc == 0, stderr
    assert status is not None
    return status


def rows(workdir: Path, trial: str) -> list[tuple[str, float, datetime]]:
    return sorted((m, v, t.astimezone(UTC)) for m, v, t in observations_of(workdir, trial))


STDOUT_TRIAL = """
import sys
if sys.argv[1] == "stamped":
    print("2024-01-01T00:00:01Z loss=0.5")
    print("2024-01-01T00:00:03Z loss=0.2 accuracy=0.7")
    print("2024-01-01T00:00:02Z loss=0.9")
    print("2024-01-01T00:00:04.250+02:00 loss=0.15", file=sys.stderr)  # stderr is collected too
else:
    print("epoch=1 loss=0.8")
    print("epoch=2 loss = 0.4")
    print("loss=1e-1 accuracy=0.93")
print("epoch 3: val_loss=0.0001 train-loss=0.0002")  # names must equal a metric exactly
print("a line with no metric at all")
"""


def test_stdout_default_filter_with_and_without_timestamps(tmp_path: Path, workdir: Path) -> None:
    script = write_script(tmp_path, "trial.py", STDOUT_TRIAL)
    doc = make_experiment(
        ["python3", str(script), "${trialParameters.kind}"],
        parameters=[categorical("kind", ["stamped", "plain"])],
        objective={"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": ["accuracy"],
                   "metricStrategies": [{"name": "loss", "value": "latest"}]},
        algorithm={"algorithmName": "grid"},
        maxTrialCount=None,
    )  # fmt: skip
    status = run_ok(tmp_path, workdir, doc)
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    trials = {t.parameter_assignments["kind"]: t for t in trials_of(workdir, "e2e")}
    stamped = rows(workdir, trials["stamped"].name)
    assert stamped == sorted([
        ("loss", 0.5, at("2024-01-01T00:00:01Z")),
        ("loss", 0.2, at("2024-01-01T00:00:03Z")),
        ("accuracy", 0.7, at("2024-01-01T00:00:03Z")),
        ("loss", 0.9, at("2024-01-01T00:00:02Z")),
        ("loss", 0.15, at("2024-01-01T00:00:04.250+02:00")),
    ])  # fmt: skip
    # latest is by time, not by printing order: 00:00:04.25+02:00 is 22:00:04 on Dec 31, before the others.
    assert trials["stamped"].objective_value == pytest.approx(0.2)
    plain = rows(workdir, trials["plain"].name)
    assert sorted((m, v) for m, v, _ in plain) == [("accuracy", 0.93), ("loss", 0.1), ("loss", 0.4), ("loss", 0.8)]
    # No timestamp on the line: the time of collection.
    assert all(abs((datetime.now(UTC) - t).total_seconds()) < 120 for _, _, t in plain)
    assert trials["plain"].objective_value == pytest.approx(0.1)  # latest: the last line printed


def test_stdout_custom_metrics_format(tmp_path: Path, workdir: Path) -> None:
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import sys
        x = float(sys.argv[1])
        print(f"{{metricName: loss, metricValue: {x}}};{{metricName: accuracy, metricValue: {1 - x:.4f}}}")
        print("loss=0.0001")  # the default format: not looked for when a filter is given
        """,
    )
    doc = make_experiment(
        ["python3", str(script), "${trialParameters.x}"],
        objective={"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": ["accuracy"]},
        metricsCollectorSpec={
            "source": {"filter": {"metricsFormat": [r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"]}},
            "collector": {"kind": "StdOut"},
        },
        maxTrialCount=2,
    )
    status = run_ok(tmp_path, workdir, doc)
    assert status["trialsSucceeded"] == 2
    for trial in trials_of(workdir, "e2e"):
        x = float(trial.parameter_assignments["x"])
        found = rows(workdir, trial.name)
        assert sorted((m, v) for m, v, _ in found) == sorted([("loss", x), ("accuracy", round(1 - x, 4))])
        assert trial.objective_value == pytest.approx(x)


def test_file_text_collector_at_a_container_path(tmp_path: Path, workdir: Path) -> None:
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument("--log-path")
        parser.add_argument("--x", type=float)
        args = parser.parse_args()
        with open(args.log_path, "w") as log:
            for epoch in (1, 2, 3):
                print(f"epoch={epoch} loss={args.x * epoch}", file=log, flush=True)
        print("loss=0.0001")  # stdout: not the collector's source
        """,
    )
    doc = make_experiment(
        ["python3", str(script), "--log-path=/katib/metrics.log", "--x=${trialParameters.x}"],
        metricsCollectorSpec={
            "source": {"fileSystemPath": {"path": "/katib/metrics.log", "kind": "File"}},
            "collector": {"kind": "File"},
        },
        maxTrialCount=3,
        parallelTrialCount=3,
    )
    status = run_ok(tmp_path, workdir, doc)
    assert status["trialsSucceeded"] == 3
    contents = set()
    for trial in trials_of(workdir, "e2e"):
        x = float(trial.parameter_assignments["x"])
        # Redirected into the trial's own root: parallel trials never share the file.
        log = trial_dir(workdir, "e2e", trial.name) / "rootfs" / "katib" / "metrics.log"
        assert log.is_file()
        contents.add(log.read_text())
        assert sorted(v for _, v, _ in rows(workdir, trial.name)) == pytest.approx([x, 2 * x, 3 * x])
        assert trial.objective_value == pytest.approx(x)
    assert len(contents) == 3
    assert not Path("/katib/metrics.log").exists()


def test_file_json_collector(tmp_path: Path, workdir: Path) -> None:
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import json, sys
        path, x = sys.argv[1], float(sys.argv[2])
        with open(path, "w") as out:
            # cloudml-hypertune's lines: string values, epoch timestamp.
            for step, loss in ((1, x + 0.5), (2, x)):
                line = {"loss": str(loss), "global_step": str(step), "timestamp": 1700000000.5 + step, "trial": "0"}
                out.write(json.dumps(line) + "\\n")
            out.write(json.dumps({"accuracy": "0.75", "timestamp": "2024-01-01T00:00:00Z"}) + "\\n")
            out.write("not json {\\n")
        """,
    )
    doc = make_experiment(
        ["python3", str(script), "/var/log/katib/hypertune.json", "${trialParameters.x}"],
        objective={"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": ["accuracy"]},
        metricsCollectorSpec={
            "source": {"fileSystemPath": {"path": "/var/log/katib/hypertune.json", "kind": "File", "format": "JSON"}},
            "collector": {"kind": "File"},
        },
        maxTrialCount=2,
    )
    status = run_ok(tmp_path, workdir, doc)
    assert status["trialsSucceeded"] == 2
    for trial in trials_of(workdir, "e2e"):
        x = float(trial.parameter_assignments["x"])
        found = rows(workdir, trial.name)
        assert len(found) == 3
        by_metric = {(m, t): v for m, v, t in found}
        assert by_metric[("loss", epoch(1700000001.5))] == pytest.approx(x + 0.5)
        assert by_metric[("loss", epoch(1700000002.5))] == pytest.approx(x)
        assert by_metric[("accuracy", at("2024-01-01T00:00:00Z"))] == 0.75
        assert trial.objective_value == pytest.approx(x)
        assert (trial_dir(workdir, "e2e", trial.name) / "rootfs/var/log/katib/hypertune.json").is_file()


TFEVENT_TRIAL = """
import os, sys
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

log_dir, x = sys.argv[1].split("=", 1)[1], float(sys.argv[2])

def write(subdir, values):
    writer = EventFileWriter(os.path.join(log_dir, subdir))
    for step, (tag, value) in enumerate(values):
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
        writer.add_event(Event(wall_time=1700000000 + step, step=step, summary=summary))
    writer.close()

write("train", [("loss", x + 1), ("loss", x), ("accuracy", 0.5)])
write("test", [("accuracy", 0.8), ("accuracy", 0.875), ("loss", 9.0)])
"""


def test_tensorflow_event_collector(tmp_path: Path, workdir: Path) -> None:
    script = write_script(tmp_path, "trial.py", TFEVENT_TRIAL)
    doc = make_experiment(
        ["python3", str(script), "--log-dir=/train", "${trialParameters.x}"],
        objective={"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": ["test/accuracy"]},
        metricsCollectorSpec={
            "source": {"fileSystemPath": {"path": "/train", "kind": "Directory"}},
            "collector": {"kind": "TensorFlowEvent"},
        },
        maxTrialCount=2,
    )
    status = run_ok(tmp_path, workdir, doc)
    assert status["trialsSucceeded"] == 2
    for trial in trials_of(workdir, "e2e"):
        x = float(trial.parameter_assignments["x"])
        root = trial_dir(workdir, "e2e", trial.name) / "rootfs" / "train"
        assert list((root / "train").glob("events.out.tfevents.*"))
        found = rows(workdir, trial.name)
        # `loss` matches the tag in every directory; `test/accuracy` only the tag under .../test.
        # (simple_value is a float32: compared approximately.)
        assert sorted(m for m, _, _ in found) == ["loss", "loss", "loss", "test/accuracy", "test/accuracy"]
        assert sorted(v for m, v, _ in found if m == "loss") == pytest.approx([x, x + 1, 9.0], rel=1e-6)
        assert sorted(v for m, v, _ in found if m != "loss") == pytest.approx([0.8, 0.875], rel=1e-6)
        assert {t for _, _, t in found} <= {epoch(1700000000 + step) for step in range(3)}
        assert trial.objective_value == pytest.approx(x, rel=1e-6)


@pytest.mark.parametrize("kind", ["Push", "None"])
def test_push_collector(tmp_path: Path, workdir: Path, kind: str) -> None:
    script = write_script(
        tmp_path,
        "trial.py",
        """
        import sys
        from pykatib import report_metrics
        x = float(sys.argv[1])
        report_metrics({"loss": x})
        report_metrics({"loss": x / 2, "accuracy": "0.9"})
        print("loss=0.0001")  # stdout is not collected with Push
        """,
    )
    doc = make_experiment(
        ["python3", str(script), "${trialParameters.x}"],
        objective={"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": ["accuracy"]},
        metricsCollectorSpec={"collector": {"kind": kind}},
        maxTrialCount=2,
    )
    status = run_ok(tmp_path, workdir, doc)
    assert status["trialsSucceeded"] == 2
    for trial in trials_of(workdir, "e2e"):
        x = float(trial.parameter_assignments["x"])
        found = rows(workdir, trial.name)
        assert sorted((m, v) for m, v, _ in found) == sorted([("loss", x), ("loss", x / 2), ("accuracy", 0.9)])
        assert trial.objective_value == pytest.approx(x / 2)
    best = min(trials_of(workdir, "e2e"), key=lambda t: t.objective_value or 0)
    assert status["currentOptimalTrial"]["bestTrialName"] == best.name


# Katib's custom-metrics-collector example, with the stand-in collector's command spelled out: the trial writes
# `{metricName: ..., metricValue: ...}` lines to /katib/mnist.log; the collector follows that file and reports
# each value to Katib's DB manager over gRPC at Katib's in-cluster address.
CUSTOM_TRIAL = """
import sys, time
x = float(sys.argv[1])
with open(sys.argv[2], "a") as log:
    for step in (3, 2, 1):
        log.write(f"{{metricName: accuracy, metricValue: {x / step}}}\\n")
        log.flush()
        time.sleep(0.2)
    log.write(f"accuracy={x}")  # the last line, without its newline: read once the trial has ended
"""


def custom_collector(**container: Any) -> dict[str, Any]:
    base = {
        "name": "custom-metrics-logger-and-collector",
        "image": "ghcr.io/kubeflow/katib/custom-metrics-collector:latest",
        "command": ["python3", "/opt/katib/custom_metrics_collector.py"],
        "args": ["-m", "accuracy", "-s", "katib-db-manager.kubeflow:6789", "-path", "/katib/mnist.log"],
        "env": [{"name": "TrialNamePrefix", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    }
    return {**base, **container}


def custom_experiment(script: Path, collector: dict[str, Any]) -> dict[str, Any]:
    return make_experiment(
        ["python3", str(script), "${trialParameters.x}", "/katib/mnist.log"],
        objective={"type": "maximize", "objectiveMetricName": "accuracy"},
        metricsCollectorSpec={
            "source": {"fileSystemPath": {"path": "/katib/mnist.log", "kind": "File"}},
            "collector": {"kind": "Custom", "customCollector": collector},
        },
        maxTrialCount=2,
    )


def test_custom_collector_runs_beside_each_trial_and_reports_over_grpc(tmp_path: Path, workdir: Path) -> None:
    """Once, Katib's custom-metrics-collector example validated and then died with a traceback at run time."""
    script = write_script(tmp_path, "trial.py", CUSTOM_TRIAL)
    status = run_ok(tmp_path, workdir, custom_experiment(script, custom_collector()))
    assert status["trialsSucceeded"] == 2
    for trial in trials_of(workdir, "e2e"):
        x = float(trial.parameter_assignments["x"])
        values = sorted(v for m, v, _ in rows(workdir, trial.name) if m == "accuracy")
        assert values == pytest.approx(sorted([x / 3, x / 2, x, x]))
        assert trial.objective_value == pytest.approx(x)
        # The collector is a process of the trial's own: its log is in the trial's directory.
        log = (trial_dir(workdir, "e2e", trial.name) / "metrics-collector-0.log").read_text()
        assert f"for {trial.name}" in log


def test_custom_collector_without_a_command_is_refused_before_any_trial(tmp_path: Path, workdir: Path) -> None:
    script = write_script(tmp_path, "trial.py", CUSTOM_TRIAL)
    doc = custom_experiment(script, custom_collector(command=None, image="example/collector"))
    code, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert (code, status) == (2, None), stderr
    assert "Traceback" not in stderr
    assert "customCollector: the container sets no command" in stderr
    assert trials_of(workdir, "e2e") == []


def test_a_collector_kind_that_cannot_run_here_is_refused_before_any_trial(tmp_path: Path, workdir: Path) -> None:
    source = {"httpGet": {"port": 8080, "path": "/metrics"}}
    doc = make_experiment(
        ["sh", "-c", "echo loss=0.1"],
        metricsCollectorSpec={"collector": {"kind": "PrometheusMetric"}, "source": source},
    )
    code, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert (code, status) == (2, None), stderr
    assert "Traceback" not in stderr
    assert "metrics collector kind PrometheusMetric cannot run locally yet" in stderr
    assert trials_of(workdir, "e2e") == []


# A collector that reports only once told the trial has ended, and takes its time: SIGTERM, 4 s, then report.
SLOW_COLLECTOR = """
import os, signal, sys, time
import grpc
from pykatib.api import api_pb2, api_pb2_grpc
ended = False
def end(*_):
    global ended
    ended = True
signal.signal(signal.SIGTERM, end)
while not ended:
    time.sleep(0.05)
time.sleep(4)  # longer than a replica's leftovers get (3 s) and than the trial's deadline left
value = open(sys.argv[1]).read().strip()
stub = api_pb2_grpc.DBManagerStub(grpc.insecure_channel("katib-db-manager.kubeflow:6789"))
metric = api_pb2.MetricLog(time_stamp="", metric=api_pb2.Metric(name="accuracy", value=value))
stub.ReportObservationLog(api_pb2.ReportObservationLogRequest(
    trial_name=os.environ["KATIB_TRIAL_NAME"], observation_log=api_pb2.ObservationLog(metric_logs=[metric])))
"""


def test_a_sidecar_has_its_grace_period_after_the_trial_ends_and_no_deadline(tmp_path: Path, workdir: Path) -> None:
    """The trial's deadline and early stopping end with its processes; the collector then gets its 30 s."""
    collector = write_script(tmp_path, "collector.py", SLOW_COLLECTOR)
    doc = make_experiment(
        # The trial outlives the collector's start-up (a SIGTERM before its handler is set would end it at once).
        ["sh", "-c", 'echo "$1" > "$2"; sleep 1', "sh", "${trialParameters.x}", "/katib/out.txt"],
        objective={"type": "maximize", "objectiveMetricName": "accuracy"},
        metricsCollectorSpec={
            "source": {"fileSystemPath": {"path": "/katib/out.txt", "kind": "File"}},
            "collector": {
                "kind": "Custom",
                "customCollector": {"name": "c", "command": ["python3", str(collector), "/katib/out.txt"]},
            },
        },
        job_spec={"activeDeadlineSeconds": 3},
        maxTrialCount=2,
    )
    status = run_ok(tmp_path, workdir, doc)
    assert status["trialsSucceeded"] == 2, status
    for trial in trials_of(workdir, "e2e"):
        assert trial.objective_value == pytest.approx(float(trial.parameter_assignments["x"]))
