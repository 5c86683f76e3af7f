"""The Store's bulk reads for live views (the web UI): the trials changed since a time plus those still
running, and one metric's reports of many trials in one query, on every backend."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from pykatib.store import NewTrial, ObservationRow, Store, TrialPhase

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
SPEC = {"objective": {"type": "minimize", "objectiveMetricName": "loss"}, "maxTrialCount": 3}


def test_trials_changed_since_are_the_changed_and_the_active(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    other = store.create_experiment("other", "default", SPEC)
    done, running, _, later = store.create_trials(
        experiment.id, [NewTrial(f"exp-{n}", {"x": "1"}) for n in ("done", "running", "pending", "later")]
    )
    store.create_trials(other.id, [NewTrial("other-running", {"x": "1"}, phase=TrialPhase.RUNNING)])
    store.update_trial(done.id, phase=TrialPhase.SUCCEEDED, objective_value=0.5)
    store.update_trial(running.id, phase=TrialPhase.RUNNING)
    store.update_trial(later.id, phase=TrialPhase.FAILED)
    everything = store.trials_changed_since(experiment.id, datetime(2000, 1, 1, tzinfo=UTC))
    assert [t.name for t in everything] == ["exp-done", "exp-running", "exp-pending", "exp-later"]

    time.sleep(0.01)  # a time after every write so far (the database's clock has microseconds)
    cut = datetime.now(UTC)
    time.sleep(0.01)
    store.update_trial(later.id, message="changed after the cut")
    changed = store.trials_changed_since(experiment.id, cut)
    # later: changed; running and pending: active (their reports do not change their rows); done: neither
    assert [t.name for t in changed] == ["exp-running", "exp-pending", "exp-later"]
    assert changed[2].message == "changed after the cut"
    assert store.trials_changed_since(experiment.id + other.id + 1000, cut) == []


def test_observation_series_in_report_order_per_trial(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    other = store.create_experiment("other", "default", SPEC)
    a, b, silent = (t.id for t in store.create_trials(experiment.id, [NewTrial(f"exp-{n}", {}) for n in "abs"]))
    (foreign,) = (t.id for t in store.create_trials(other.id, [NewTrial("other-a", {})]))
    t1, t2, t3 = (T0 + timedelta(seconds=s) for s in (1, 2, 3))
    store.add_observations([
        ObservationRow(b, "loss", 0.8, t2),
        ObservationRow(a, "loss", 0.3, t3),  # stored first, reported last
        ObservationRow(a, "loss", 0.1, t1),
        ObservationRow(a, "accuracy", 0.9, t1),
        ObservationRow(b, "loss", 0.4, t1),
        ObservationRow(b, "loss", 0.6, t2),  # a time tie: the row stored later comes later
        ObservationRow(foreign, "loss", 100.0, t1),
    ])  # fmt: skip
    store.add_observations([ObservationRow(a, "loss", 0.2, t2)])

    assert store.observation_series(experiment.id, "loss") == ([a, a, a, b, b, b], [0.1, 0.2, 0.3, 0.4, 0.8, 0.6])
    assert store.observation_series(experiment.id, "accuracy") == ([a], [0.9])
    assert store.observation_series(experiment.id, "loss", [b, silent]) == ([b, b, b], [0.4, 0.8, 0.6])
    assert store.observation_series(experiment.id, "loss", []) == ([], [])
    assert store.observation_series(experiment.id, "loss", [foreign]) == ([], [])  # not this experiment's
    many = [*range(max(a, b, foreign) + 1, max(a, b, foreign) + 1500), a]  # past the IN-list limit
    assert store.observation_series(experiment.id, "loss", many) == ([a, a, a], [0.1, 0.2, 0.3])
