"""The suggester is told each result for the point that produced it, also when trials end out of order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from e2e_support import make_experiment, opened_store, write_script
from pykatib.control.runner import ExperimentController
from pykatib.spec.loader import parse_experiment

pytestmark = pytest.mark.usefixtures("store_backend")  # on SQLite, PostgreSQL and MariaDB

TRIAL = """
import random, sys, time

x = float(sys.argv[1])
time.sleep(random.uniform(0.0, 0.15))  # trials end in another order than they started
print(f"loss={(x - 0.3) ** 2}")
"""


def test_results_reach_the_suggester_for_their_own_points(tmp_path: Path) -> None:
    script = write_script(tmp_path, "trial.py", TRIAL)
    doc = make_experiment(
        ["python3", str(script), "${trialParameters.x}"],
        algorithm={"algorithmName": "multivariate-tpe", "algorithmSettings": [{"name": "random_state", "value": "1"}]},
        parallelTrialCount=4,
        maxTrialCount=40,
    )
    workdir = tmp_path / "state"
    with opened_store(workdir) as store:
        controller = ExperimentController(parse_experiment(doc), store, workdir=workdir)
        asyncio.run(controller.run())
        suggester = controller._suggester
        assert suggester is not None
        told = [t for t in suggester.study.trials if t.state.name == "COMPLETE"]  # type: ignore[attr-defined]
        assert len(told) >= 36
        for trial in told:
            (x,) = trial.params.values()
            assert trial.value == (float(x) - 0.3) ** 2, trial.params
