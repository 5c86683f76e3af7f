"""A store that fails under the controller ends the run with the store's error; it never hangs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from e2e_support import make_experiment, opened_store
from pykatib.control.runner import ExperimentController
from pykatib.spec.loader import parse_experiment
from pykatib.store import StoreError

pytestmark = pytest.mark.usefixtures("store_backend")  # on SQLite, PostgreSQL and MariaDB


def test_a_write_that_fails_ends_the_run_with_its_error(tmp_path: Path) -> None:
    doc = make_experiment(["sh", "-c", 'sleep 1; echo "loss=$1"', "sh", "${trialParameters.x}"],
                          parallelTrialCount=2, maxTrialCount=4)  # fmt: skip
    workdir = tmp_path / "state"

    async def run() -> None:
        with opened_store(workdir) as store, opened_store(workdir) as other:
            controller = ExperimentController(parse_experiment(doc), store, workdir=workdir)
            task = asyncio.create_task(controller.run())
            while not store.list_experiments() or not store.list_trials(store.list_experiments()[0].id):
                await asyncio.sleep(0.05)
            # Someone deletes the experiment under the running controller: the trials' next writes fail.
            other.delete_experiment(other.list_experiments()[0].id)
            # A liveness bound, not a timing claim: the trials end within seconds, and so must the run.
            done, _ = await asyncio.wait({task}, timeout=60)
            assert task in done, "the controller hangs after a failed store write"
            task.result()

    with pytest.raises(StoreError):
        asyncio.run(run())
