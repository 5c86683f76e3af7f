"""Failover: several `pykatib server` on one PostgreSQL or MariaDB database and one work directory.

Each experiment is driven by one server at a time (the owner lease in the store). When the owner is SIGKILLed
mid-experiment, another server's rescan finds the lease of a dead process and takes the experiment over as
after a restart: the trials that were running are re-attached (not run again), none is created twice, and
every observation survives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from db_support import SERVERS, ServerDatabases, empty_database
from server_support import assert_exact, start_server, tiny_experiment, trial_phase, wait_trials

TRIALS, PARALLEL = 9, 3


@pytest.fixture(params=list(SERVERS))
def shared_db(request: pytest.FixtureRequest, server_databases: ServerDatabases) -> str:
    url = server_databases.url(request.param).render_as_string(hide_password=False)
    empty_database(url)
    return url


def test_another_server_finishes_the_experiment_of_a_killed_owner(tmp_path: Path, shared_db: str) -> None:
    shared = ["--db", shared_db, "--workdir", str(tmp_path / "work")]
    owner = start_server(tmp_path / "home-a", *shared)
    standby = start_server(tmp_path / "home-b", *shared)
    try:
        owner.create(tiny_experiment("failover", trials=TRIALS, parallel=PARALLEL, pause=1.5))
        before = wait_trials(
            owner,
            "failover",
            lambda ts: (
                sum(trial_phase(t) == "Succeeded" for t in ts) >= 2
                and sum(trial_phase(t) == "Running" for t in ts) >= 2
            ),
        )
        running = {t["metadata"]["name"] for t in before if trial_phase(t) == "Running"}
        owner.kill()
        # The standby's rescan (every 15 s) takes it over; the trials that ran on go on to Succeeded.
        standby.wait_for("failover", timeout=120)
        trials = assert_exact(standby, "failover", TRIALS)
        by_name = {t["metadata"]["name"]: t for t in trials}
        assert running <= set(by_name)  # re-attached, not replaced by new trials
        log = standby.log_tail(200)
        assert "Traceback" not in log, log
    finally:
        owner.kill()
        standby.stop()
