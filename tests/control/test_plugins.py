"""The controller runs with any executor and any early-stopping rule written against the contracts
(``execute.base``, ``earlystop.base``) without a change to ``control/``: here, trials as threads of this
process and a threshold rule, both written only against the protocols.

A thread trial is the container command's ``python3 -c CODE ARGS``: CODE runs in a thread with ``argv``
(ARGS), ``log`` (the trial's log file, which the StdOut collector reads) and ``stop`` (an Event the
executor sets to stop it) in scope.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from e2e_support import categorical, end_condition, make_experiment, observations_of, opened_store, trials_of
from pykatib.control.runner import ExperimentController
from pykatib.execute.base import LaunchSpec
from pykatib.spec.loader import parse_experiment

pytestmark = pytest.mark.usefixtures("store_backend")  # on SQLite, PostgreSQL and MariaDB


class ThreadTrial:
    """A trial's replicas as threads (a TrialHandle)."""

    def __init__(self, launches: list[LaunchSpec]) -> None:
        self.launches = launches
        self._stop = threading.Event()
        self._runs = {spec.key: asyncio.ensure_future(asyncio.to_thread(self._run, spec)) for spec in launches}

    def _run(self, spec: LaunchSpec) -> int:
        code = spec.argv[spec.argv.index("-c") + 1]
        with open(spec.log_file, "a") as log:
            try:
                exec(code, {"argv": spec.argv[spec.argv.index("-c") + 2 :], "log": log, "stop": self._stop})
            except Exception as error:
                log.write(f"{type(error).__name__}: {error}\n")
                return 1
        return 0

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def primary_key(self) -> str:
        return next(spec.key for spec in self.launches if spec.primary)

    @property
    def pid(self) -> int | None:
        return None  # no process of its own

    @property
    def replicas_ended(self) -> bool:
        return all(run.done() for run in self._runs.values())  # no sidecars here

    async def wait(self) -> dict[str, int | None]:
        return {key: await run for key, run in self._runs.items()}

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._runs.values())


class ThreadExecutor:
    """Trials as threads of this process (an Executor); threads do not outlive a restart."""

    def __init__(self) -> None:
        self.started: list[str] = []

    async def start(self, name: str, trial_dir: Path, launches: list[LaunchSpec]) -> ThreadTrial:
        trial_dir.mkdir(parents=True, exist_ok=True)
        self.started.append(name)
        return ThreadTrial(launches)

    def reattach(self, name: str, trial_dir: Path) -> ThreadTrial | None:
        return None

    def remove(self, trial_dir: Path) -> None:
        shutil.rmtree(trial_dir, ignore_errors=True)


class Threshold:
    """Stops a trial as soon as its objective reports a value above ``limit`` (an EarlyStopper)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.succeeded_trials: list[str] = []

    def observe(self, trial: str, values: Sequence[float]) -> bool:
        return any(value > self.limit for value in values)

    def succeeded(self, trial: str) -> None:
        self.succeeded_trials.append(trial)

    def forget(self, trial: str) -> None:
        pass


XS = ["0.0", "0.5", "0.9"]
# Reports loss = x, x + 0.1, ... ten times, 0.1 s apart, unless stopped.
CODE = """
import time
x = float(argv[0])
for step in range(10):
    if stop.is_set():
        break
    log.write(f"loss={x + step / 10:.3f}\\n")
    log.flush()
    time.sleep(0.1)
"""


def run(doc: dict[str, Any], workdir: Path, **plugins: Any) -> dict[str, Any]:
    with opened_store(workdir) as store:
        controller = ExperimentController(parse_experiment(doc), store, workdir=workdir, **plugins)
        return asyncio.run(controller.run())


def test_the_controller_runs_trials_as_threads_with_a_threshold_rule(tmp_path: Path) -> None:
    doc = make_experiment(["python3", "-c", CODE, "${trialParameters.x}"], parameters=[categorical("x", XS)],
                          algorithm={"algorithmName": "grid"}, parallelTrialCount=2, maxTrialCount=None)  # fmt: skip
    executor, rule = ThreadExecutor(), Threshold(limit=1.0)
    status = run(doc, tmp_path, executor=executor, early_stopper=rule)
    assert end_condition(status) == ("Succeeded", "ExperimentSuggestionEndReached")
    trials = {t.parameter_assignments["x"]: t for t in trials_of(tmp_path, "e2e")}
    assert sorted(executor.started) == sorted(t.name for t in trials.values()) and sorted(trials) == XS
    values = {x: [value for _, value, _ in observations_of(tmp_path, t.name)] for x, t in trials.items()}
    # 0.0 never crosses the limit: it runs its ten reports. 0.5 and 0.9 cross it at their 7th and 3rd report:
    # stopped there (the rule is asked as reports arrive), their reports up to then kept.
    assert trials["0.0"].phase == "Succeeded" and len(values["0.0"]) == 10
    for x in ("0.5", "0.9"):
        assert (trials[x].phase, trials[x].reason) == ("EarlyStopped", "TrialEarlyStopped"), values[x]
        assert max(values[x]) > 1.0 and len(values[x]) < 10, values[x]
    assert all(t.pid is None for t in trials.values())  # no process of its own
    assert rule.succeeded_trials == [trials["0.0"].name]
    assert (status["trialsSucceeded"], status["trialsEarlyStopped"]) == (1, 2)


def test_a_thread_trial_that_raises_fails_alone(tmp_path: Path) -> None:
    code = "if float(argv[0]) > 0.5: raise RuntimeError('boom')\nlog.write('loss=0.1\\n')"
    doc = make_experiment(["python3", "-c", code, "${trialParameters.x}"], parallelTrialCount=2, maxTrialCount=4,
                          maxFailedTrialCount=4)  # fmt: skip
    status = run(doc, tmp_path, executor=ThreadExecutor())
    trials = trials_of(tmp_path, "e2e")
    for trial in trials:
        failed = float(trial.parameter_assignments["x"]) > 0.5
        assert trial.phase == ("Failed" if failed else "Succeeded"), trial
    assert status["trials"] == 4
