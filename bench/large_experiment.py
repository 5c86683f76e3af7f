"""A large finished experiment written straight into a new store, and `pykatib server` started on it: what
bench/api_load.py and bench/ui_load.py measure the server with.

`seed` writes the rows the controller leaves (trials with their times, phases and objective values, the
objective metric's reports, a trial.log each when asked, the status block with its conditions, counts, name
lists and optimal trial, computed by the controller's own `status_block`); a `Design` says what the experiment
is (its spec) and what each trial did. `server` runs `pykatib server --port 0 --home HOME` for a block.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "katib" / "hp-tuning" / "random.yaml"


# --- seeding ----------------------------------------------------------------------------------------


@dataclass
class Seeded:
    namespace: str
    name: str
    trials: list[str]


@dataclass
class Outcome:
    """What one trial did: its assignment, the objective metric's reports (one a second from its start), how it
    ended and its objective value (None: none, as a trial that failed before its last report)."""

    assignment: dict[str, str]
    reports: list[float]
    objective: float | None
    phase: str = "Succeeded"
    duration: float | None = None  # seconds from start to end; by default one a report, plus 2


class Design(Protocol):
    def document(self, document: dict[str, Any], count: int) -> None:
        """Edit the experiment (Katib's document, from examples/katib/hp-tuning/random.yaml) in place."""

    def trial(self, rng: random.Random, index: int, observations: int) -> Outcome: ...

    def started(self, index: int) -> float:
        """Seconds from the experiment's start to trial ``index``'s start."""


class Succeeding:
    """random.yaml's lr and momentum, every trial Succeeded with OBSERVATIONS losses falling as 1/epoch, one
    trial every 30 s (bench/api_load.py's experiment)."""

    def document(self, document: dict[str, Any], count: int) -> None:
        document["spec"]["maxTrialCount"] = count

    def trial(self, rng: random.Random, index: int, observations: int) -> Outcome:
        assignment = {"lr": repr(rng.uniform(0.01, 0.05)), "momentum": repr(rng.uniform(0.5, 0.9))}
        losses = [1.0 / (epoch + 1) + rng.random() * 0.1 for epoch in range(observations)]
        return Outcome(assignment, losses, losses[-1])

    def started(self, index: int) -> float:
        return 30.0 * index


REASONS = {
    "Succeeded": ("TrialSucceeded", "Trial has succeeded", 0),
    "Failed": ("TrialFailed", "Trial has failed", 1),
    "EarlyStopped": ("TrialEarlyStopped", "Trial is early stopped", 0),
    "Killed": ("TrialKilled", "Trial has been killed", None),
    "MetricsUnavailable": ("MetricsUnavailable", "Metrics are not available", 0),
}


def seed(home: Path, count: int, observations: int, design: Design | None = None, *, logs: bool = True) -> Seeded:
    """A finished experiment of ``count`` trials in ``home``'s store, as the controller leaves one: trial rows
    with times, phase and objective, their reports of the objective metric (at most ``observations`` each), a
    trial.log per trial when ``logs``, the status block with its conditions, counts, name lists and optimal
    trial. ``design``: Succeeding() unless given."""
    from pykatib.control.status import TrialView, condition, status_block
    from pykatib.metrics.strategy import MetricSummary
    from pykatib.spec.conditions import ExperimentCondition, ExperimentReason, TrialPhase
    from pykatib.spec.loader import load_experiment
    from pykatib.spec.models import Experiment
    from pykatib.store import NewTrial, ObservationRow, Store, experiment_dir

    design = design or Succeeding()
    document = load_experiment(EXAMPLE).to_dict()
    design.document(document, count)
    experiment = Experiment.model_validate(document)
    metric = document["spec"]["objective"]["objectiveMetricName"]
    namespace = document["metadata"].get("namespace") or "default"
    name = document["metadata"]["name"]
    rng = random.Random(13)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    names: list[str] = []
    taken: set[str] = set()
    while len(names) < count:
        trial = f"{name}-{''.join(rng.choices(alphabet, k=8))}"
        if trial not in taken:
            taken.add(trial)
            names.append(trial)
    root = experiment_dir(home, namespace, name) / "trials"
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    last_end = start
    store = Store(f"sqlite:///{home / 'pykatib.db'}")
    try:
        record = store.create_experiment(name, namespace, document)
        outcomes = [design.trial(rng, i, observations) for i in range(count)]
        views = []
        with store.transaction():
            new = [
                NewTrial(t, o.assignment, {}, TrialPhase(o.phase), str(root / t))
                for t, o in zip(names, outcomes, strict=True)
            ]
            created = store.create_trials(record.id, new)
            rows = []
            for i, (trial_record, outcome) in enumerate(zip(created, outcomes, strict=True)):
                began = start + timedelta(seconds=design.started(i))
                for step, value in enumerate(outcome.reports):
                    rows.append(ObservationRow(trial_record.id, metric, value, began + timedelta(seconds=step + 1)))
                took = outcome.duration if outcome.duration is not None else len(outcome.reports) + 2
                ended = began + timedelta(seconds=took)
                last_end = max(last_end, ended)
                reason, message, exit_code = REASONS[outcome.phase]
                store.update_trial(
                    trial_record.id,
                    phase=TrialPhase(outcome.phase),
                    reason=reason,
                    message=message,
                    start_time=began,
                    completion_time=ended,
                    exit_code=exit_code,
                    objective_value=outcome.objective,
                )
                summaries = {}
                if outcome.reports:
                    reports = outcome.reports
                    summaries[metric] = MetricSummary(metric, min(reports), max(reports), reports[-1], ended)
                phase = TrialPhase(outcome.phase)
                views.append(
                    TrialView(trial_record.name, phase, reason, outcome.assignment, summaries, outcome.objective)
                )
                if logs:
                    _write_log(Path(trial_record.work_dir or ""), outcome.assignment, outcome.reports)
            store.add_observations(rows)
        began_at = _stamp(start)
        ended_at = _stamp(last_end)
        reason = ExperimentReason.MAX_TRIALS_REACHED
        message = "Experiment has succeeded because max trial count has reached"
        base = {
            "startTime": began_at,
            "completionTime": ended_at,
            "lastReconcileTime": ended_at,
            "conditions": [
                condition(
                    ExperimentCondition.CREATED, True, ExperimentReason.CREATED, "Experiment is created", began_at
                ),
                condition(ExperimentCondition.RUNNING, False, reason, message, ended_at),
                condition(ExperimentCondition.SUCCEEDED, True, reason, message, ended_at),
            ],
        }
        store.update_experiment(record.id, status=status_block(experiment, views, base))
    finally:
        store.close()
    return Seeded(namespace, name, names)


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_log(directory: Path, assignment: dict[str, str], losses: list[float]) -> None:
    directory.mkdir(parents=True)
    shown = " ".join(f"{key}={value}" for key, value in assignment.items())
    lines = [f"Train parameters: {shown}\n"]
    for epoch, loss in enumerate(losses):
        lines.append(
            f"{datetime(2024, 5, 1, tzinfo=UTC).isoformat()} INFO Train Epoch: {epoch + 1} [60000/60000 (100%)]"
            f"\tbatches 3750\tsamples/s 2481.7\tlr {assignment.get('lr', '')[:8]}\n"
        )
        lines.append(f"{epoch + 1:4d}/{len(losses)} loss={loss:.6f}\n")
    (directory / "trial.log").write_text("".join(lines))


# --- the server -------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    token: str | None
    ca: str | None  # the certificate of an https server (self-signed: it has a token)
    process: subprocess.Popen[bytes]
    log: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self, timeout: float = 30.0, **options: Any) -> httpx.Client:
        verify: Any = ssl.create_default_context(cafile=self.ca) if self.ca else True
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=timeout, verify=verify, **options)


@contextlib.contextmanager
def server(home: Path, token: str | None, log: Path, *extra: str) -> Iterator[Server]:
    """`pykatib server --port 0 --home HOME EXTRA` until the block ends (SIGTERM, then SIGKILL after 15 s)."""
    command = [sys.executable, "-m", "pykatib.cli", "server", "--port", "0", "--home", str(home), *extra]
    if token:
        command += ["--token", token]
    info = home / "server.json"
    info.unlink(missing_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=home)
    try:
        deadline = time.monotonic() + 60
        found: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if info.exists():
                with contextlib.suppress(ValueError, OSError, httpx.HTTPError):
                    found = json.loads(info.read_text())
                    srv = Server(found["url"], token, found.get("ca"), process, log)
                    with srv.client(timeout=2) as http:
                        if http.get("/healthz").text == "ok":
                            break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the server did not answer /healthz within 60 s:\n{log.read_text()[-3000:]}")
        yield srv
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
