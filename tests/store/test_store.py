"""The Store API on every backend (the ``store`` fixture is parametrized: SQLite file, PostgreSQL, MariaDB)."""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from pykatib.store import (
    DEFAULT_URL,
    ExperimentExistsError,
    ExperimentNotFoundError,
    MetricStats,
    NewTrial,
    ObservationRow,
    Store,
    TrialExistsError,
    TrialNotFoundError,
    TrialPhase,
)
from pykatib.store.models import trials

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
SPEC = {"objective": {"type": "minimize", "objectiveMetricName": "loss"}, "maxTrialCount": 3}


def count_rows(store: Store, table: str) -> int:
    with store._engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def make_trials(store: Store, experiment_id: int, *names: str) -> list[int]:
    created = store.create_trials(experiment_id, [NewTrial(name, {"lr": "0.1"}) for name in names])
    return [trial.id for trial in created]


# experiments


def test_experiment_crud(store: Store) -> None:
    created = store.create_experiment("mnist", "kubeflow", SPEC)
    assert created.name == "mnist" and created.namespace == "kubeflow"
    assert created.spec == SPEC and created.status == {}
    assert created.created_at.tzinfo == UTC and created.created_at == created.updated_at

    assert store.get_experiment("mnist", "kubeflow") == created
    assert store.get_experiment("mnist") is None  # namespace defaults to "default"
    assert store.get_experiment("absent", "kubeflow") is None

    other = store.create_experiment("cifar", "default", {})
    assert [e.name for e in store.list_experiments()] == ["mnist", "cifar"]
    assert store.list_experiments("default") == [other]
    assert store.list_experiments("nowhere") == []

    status = {"conditions": [{"type": "Running", "status": "True"}], "trials": 2}
    store.update_experiment(created.id, status=status)
    updated = store.get_experiment("mnist", "kubeflow")
    assert updated is not None
    assert updated.status == status and updated.spec == SPEC
    assert updated.created_at == created.created_at and updated.updated_at > created.updated_at

    store.update_experiment(created.id, spec={**SPEC, "maxTrialCount": 10})
    updated = store.get_experiment("mnist", "kubeflow")
    assert updated is not None and updated.spec["maxTrialCount"] == 10 and updated.status == status

    with pytest.raises(ExperimentNotFoundError):
        store.update_experiment(created.id + 1000, status={})

    store.delete_experiment(created.id)
    assert store.get_experiment("mnist", "kubeflow") is None
    assert store.list_experiments() == [other]
    with pytest.raises(ExperimentNotFoundError):
        store.delete_experiment(created.id)


def test_experiment_name_is_unique_per_namespace(store: Store) -> None:
    first = store.create_experiment("random", "kubeflow", SPEC)
    with pytest.raises(ExperimentExistsError, match="kubeflow/random"):
        store.create_experiment("random", "kubeflow", {"other": True})
    # Same name elsewhere, and names that differ only in case (MySQL's default collation would equate them).
    store.create_experiment("random", "default", SPEC)
    store.create_experiment("Random", "kubeflow", SPEC)
    assert store.get_experiment("random", "kubeflow") == first
    assert len(store.list_experiments()) == 3


def test_json_documents_round_trip_with_unicode(store: Store) -> None:
    spec = {
        "name": "ünïcödé 实验 🧪",
        "quotes": 'he said "hi" \\ and left',
        "nested": {"list": [1, 2.5, None, True, "ελληνικά"], "empty": {}},
        "control": "tab\tnewline\n",
    }
    created = store.create_experiment("unicode-😀", "名前空間", spec)
    # A status with long name lists: over MySQL's 64 KiB TEXT limit, hence LONGTEXT there.
    status = {"succeededTrialList": [f"unicode-trial-{i:06d}-✓" for i in range(5000)]}
    store.update_experiment(created.id, status=status)

    read = store.get_experiment("unicode-😀", "名前空間")
    assert read is not None
    assert read.spec == spec and read.status == status
    assert created.spec == spec

    trial = store.create_trials(created.id, [NewTrial("t-ü", {"optimizer": "адам"}, labels={"ключ": "値"})])[0]
    assert store.get_trial("t-ü") == trial
    assert trial.parameter_assignments == {"optimizer": "адам"} and trial.labels == {"ключ": "値"}

    state = {"brackets": [[1, 2], [3]], "rng": "état", "best": 0.125}
    store.save_algorithm_state(created.id, state)
    assert store.load_algorithm_state(created.id) == state


def test_non_json_values_are_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(ValueError):
        store.create_experiment("nan", "default", {"goal": math.nan})
    assert store.list_experiments() == []
    experiment = store.create_experiment("ok", "default", {})
    with pytest.raises(TypeError):
        store.update_experiment(experiment.id, status={"when": object()})
    read = store.get_experiment("ok")
    assert read is not None and read.status == {}


# trials


def test_trial_crud(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    created = store.create_trials(
        experiment.id,
        [
            NewTrial("exp-aaaa", {"lr": "0.01", "momentum": "0.9"}),
            NewTrial("exp-bbbb", {"lr": "0.02", "momentum": "0.8"}, labels={"katib": "yes"}, work_dir="/tmp/b"),
            NewTrial("exp-cccc", {"lr": "0.03", "momentum": "0.7"}, phase="Running"),
        ],
    )
    assert [t.name for t in created] == ["exp-aaaa", "exp-bbbb", "exp-cccc"]
    assert created[0].id < created[1].id < created[2].id
    assert created[1].labels == {"katib": "yes"} and created[1].work_dir == "/tmp/b"
    assert [t.phase for t in created] == [TrialPhase.CREATED, TrialPhase.CREATED, TrialPhase.RUNNING]
    assert all(t.created_at.tzinfo == UTC and t.experiment_id == experiment.id for t in created)
    assert store.list_trials(experiment.id) == created
    assert store.get_trial("exp-bbbb") == created[1]
    assert store.get_trial("absent") is None
    assert store.create_trials(experiment.id, []) == []

    start = datetime(2024, 5, 1, 14, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))  # 12:00:00.000001 UTC
    store.update_trial(created[0].id, phase=TrialPhase.RUNNING, start_time=start, pid=4242, work_dir="/w/a")
    store.update_trial(
        created[0].id,
        phase="Succeeded",
        reason="TrialSucceeded",
        message="Trial has succeeded ✓",
        completion_time=start + timedelta(minutes=5),
        exit_code=0,
        objective_value=0.0123456789012345,
        labels={"best": "true"},
    )
    trial = store.get_trial("exp-aaaa")
    assert trial is not None
    assert trial.phase == TrialPhase.SUCCEEDED and trial.phase == "Succeeded"
    assert (trial.reason, trial.message) == ("TrialSucceeded", "Trial has succeeded ✓")
    assert trial.start_time == start and trial.start_time.tzinfo == UTC
    assert trial.start_time.hour == 12 and trial.start_time.microsecond == 1
    assert trial.completion_time == start + timedelta(minutes=5)
    assert (trial.exit_code, trial.pid, trial.work_dir) == (0, 4242, "/w/a")
    assert trial.objective_value == 0.0123456789012345  # a double, not MySQL's single-precision FLOAT
    assert trial.labels == {"best": "true"} and trial.parameter_assignments == {"lr": "0.01", "momentum": "0.9"}

    # Setting the same values again is not "no such trial" (MySQL counts changed rows unless told otherwise).
    store.update_trial(created[0].id, exit_code=0)
    store.update_trial(created[0].id, pid=None, exit_code=None)
    trial = store.get_trial("exp-aaaa")
    assert trial is not None and trial.pid is None and trial.exit_code is None and trial.reason == "TrialSucceeded"
    assert store.list_trials(experiment.id)[1:] == created[1:]


def test_trial_update_is_validated(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    (trial_id,) = make_trials(store, experiment.id, "exp-a")
    with pytest.raises(ValueError):
        store.update_trial(trial_id, phase="Pending")
    with pytest.raises(TypeError, match="name"):
        store.update_trial(trial_id, name="renamed")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="timezone-aware"):
        store.update_trial(trial_id, start_time=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="finite"):
        store.update_trial(trial_id, objective_value=math.inf)
    with pytest.raises(TrialNotFoundError):
        store.update_trial(trial_id + 1000, phase="Running")
    with pytest.raises(ValueError):
        store.create_trials(experiment.id, [NewTrial("exp-b", {}, phase="Pending")])
    trial = store.get_trial("exp-a")
    assert trial is not None and trial.phase == TrialPhase.CREATED and trial.start_time is None
    assert trial.objective_value is None


def test_trial_phase_is_checked_by_the_database(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    (trial_id,) = make_trials(store, experiment.id, "exp-a")
    # IntegrityError, or OperationalError from MariaDB (error 4025): both are the constraint refusing the row.
    with pytest.raises(DBAPIError, match="phase"), store._engine.begin() as conn:
        conn.execute(text("UPDATE trials SET phase = 'Bogus' WHERE id = :id"), {"id": trial_id})
    trial = store.get_trial("exp-a")
    assert trial is not None and trial.phase == TrialPhase.CREATED


def test_create_trials_is_one_transaction(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    other = store.create_experiment("other", "default", SPEC)
    make_trials(store, other.id, "taken")
    with pytest.raises(TrialExistsError, match="taken"):
        store.create_trials(experiment.id, [NewTrial("fresh-1", {}), NewTrial("taken", {}), NewTrial("fresh-2", {})])
    assert store.list_trials(experiment.id) == []
    assert store.get_trial("fresh-1") is None

    with pytest.raises(TrialExistsError, match="twice"):
        store.create_trials(experiment.id, [NewTrial("twice", {}), NewTrial("twice", {})])
    assert store.get_trial("twice") is None

    with pytest.raises(ExperimentNotFoundError):
        store.create_trials(experiment.id + other.id + 1000, [NewTrial("orphan", {})])
    assert store.get_trial("orphan") is None
    assert [t.name for t in store.list_trials(other.id)] == ["taken"]


def test_delete_experiment_cascades(store: Store) -> None:
    doomed = store.create_experiment("doomed", "default", SPEC)
    kept = store.create_experiment("kept", "default", SPEC)
    doomed_trials = make_trials(store, doomed.id, "doomed-a", "doomed-b")
    (kept_trial,) = make_trials(store, kept.id, "kept-a")
    store.add_observations([ObservationRow(doomed_trials[0], "loss", float(i), T0) for i in range(10)])
    store.add_observations([ObservationRow(t, "loss", 1.0, T0) for t in [*doomed_trials, kept_trial]])
    for experiment in (doomed, kept):
        store.save_algorithm_state(experiment.id, {"of": experiment.name})

    store.delete_experiment(doomed.id)

    assert store.list_trials(doomed.id) == []
    assert all(store.list_observations(t) == [] for t in doomed_trials)
    assert store.load_algorithm_state(doomed.id) is None
    assert (
        count_rows(store, "trials"),
        count_rows(store, "observation_logs"),
        count_rows(store, "algorithm_state"),
    ) == (
        1,
        1,
        1,
    )
    assert [t.name for t in store.list_trials(kept.id)] == ["kept-a"]
    assert len(store.list_observations(kept_trial)) == 1
    assert store.load_algorithm_state(kept.id) == {"of": "kept"}


# observations


def test_ten_thousand_observations_in_one_call_read_back_in_order(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    trial_id, other_id = make_trials(store, experiment.id, "exp-a", "exp-b")
    rng = random.Random(7)
    rows = []
    for _ in range(10_000):
        # Out of time order, many equal times (ties keep insertion order), microseconds, two metrics.
        time = T0 + timedelta(seconds=rng.randrange(2_000), microseconds=rng.choice([0, 1, 999_999]))
        rows.append(ObservationRow(trial_id, rng.choice(["loss", "accuracy"]), rng.uniform(-1e6, 1e6), time))
    rows.append(ObservationRow(other_id, "loss", 1.0, T0))

    store.add_observations(rows)

    mine = [row for row in rows if row.trial_id == trial_id]
    expected = sorted(mine, key=lambda row: row.time)  # stable: equal times stay in insertion order
    read = store.list_observations(trial_id)
    assert len(read) == 10_000
    assert read == expected
    assert all(row.time.tzinfo == UTC for row in read)
    assert store.list_observations(trial_id, "loss") == [row for row in expected if row.metric_name == "loss"]
    assert store.list_observations(trial_id, "absent") == []
    assert store.list_observations(other_id) == [rows[-1]]


def test_observation_times_are_stored_as_utc_instants(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    (trial_id,) = make_trials(store, experiment.id, "exp-a")
    tokyo = datetime(2024, 5, 1, 21, 0, 0, 500, tzinfo=timezone(timedelta(hours=9)))
    utc_earlier = datetime(2024, 5, 1, 11, 59, 59, 999999, tzinfo=UTC)
    store.add_observations(
        [ObservationRow(trial_id, "loss", 1.0, tokyo), ObservationRow(trial_id, "loss", 2.0, utc_earlier)]
    )
    read = store.list_observations(trial_id)
    assert [row.value for row in read] == [2.0, 1.0]  # ordered as instants, not by wall-clock text
    assert read[1].time == tokyo and read[1].time.tzinfo == UTC and read[1].time.hour == 12


def test_values_converted_by_the_store_are_stored_exactly_like_typed_ones(store: Store) -> None:
    """The Store's frequent statements convert times and JSON documents themselves (no per-row type processing);
    they must store what the column types store, or the two would not compare equal in SQL and ordering against
    other times would break."""
    experiment = store.create_experiment("exp", "default", SPEC)
    times = [
        T0,
        datetime(2024, 5, 1, 21, 0, 0, 999999, tzinfo=timezone(timedelta(hours=9))),
        datetime(2024, 2, 29, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    labels = {"pykatib.kubeflow.org/replaces": "exp-0", "note": "ünïcode ✓"}
    trial_ids = make_trials(store, experiment.id, *(f"exp-{i}" for i in range(len(times))))
    with store._engine.begin() as conn:  # SQLAlchemy's typed path: the UTCDateTime and JSONText column types
        for trial_id, time in zip(trial_ids, times, strict=True):
            typed = update(trials).where(trials.c.id == trial_id)
            conn.execute(typed.values(completion_time=time, parameter_assignments=labels))
    for trial_id, time in zip(trial_ids, times, strict=True):
        store.update_trial(trial_id, start_time=time, labels=labels)
    store.add_observations([ObservationRow(t, "loss", 1.0, time) for t, time in zip(trial_ids, times, strict=True)])
    with store._engine.connect() as conn:
        matched = conn.execute(
            text(
                "SELECT COUNT(*) FROM observation_logs o JOIN trials t ON t.id = o.trial_id"
                " AND o.time = t.start_time AND t.start_time = t.completion_time AND t.labels = t.parameter_assignments"
            )
        ).scalar_one()
    assert matched == len(times)
    assert [store.list_observations(t)[0].time for t in trial_ids] == times
    stored = store.list_trials(experiment.id)
    assert [(t.start_time, t.labels) for t in stored] == [(time, labels) for time in times]


def test_values_that_cannot_be_stored_faithfully_are_refused(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    (trial_id,) = make_trials(store, experiment.id, "exp-a")
    with pytest.raises(ValueError, match="timezone-aware"):
        store.update_trial(trial_id, start_time=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="Out of range float values"):
        store.update_experiment(experiment.id, status={"best": math.nan})
    with pytest.raises(ValueError, match="Out of range float values"):
        store.save_algorithm_state(experiment.id, {"mean": math.inf})
    with pytest.raises(ValueError, match="finite"):
        store.update_trial(trial_id, objective_value=math.nan)
    (trial,) = store.list_trials(experiment.id)
    assert trial.start_time is None and trial.objective_value is None
    assert store.get_experiment("exp") == experiment
    assert store.load_algorithm_state(experiment.id) is None


def test_bad_observations_are_refused_and_nothing_is_written(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    (trial_id,) = make_trials(store, experiment.id, "exp-a")
    good = ObservationRow(trial_id, "loss", 1.0, T0)
    with pytest.raises(ValueError, match="finite"):
        store.add_observations([good, ObservationRow(trial_id, "loss", math.nan, T0)])
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_observations([good, ObservationRow(trial_id, "loss", 1.0, datetime(2024, 1, 1))])
    with pytest.raises(TrialNotFoundError, match=str(trial_id + 1000)):
        store.add_observations([good, ObservationRow(trial_id + 1000, "loss", 1.0, T0)])
    assert store.list_observations(trial_id) == []
    store.add_observations([])
    assert count_rows(store, "observation_logs") == 0


def test_metric_summaries(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    other = store.create_experiment("other", "default", SPEC)
    a, b, silent = make_trials(store, experiment.id, "exp-a", "exp-b", "exp-silent")
    (foreign,) = make_trials(store, other.id, "other-a")
    t1, t2, t3 = (T0 + timedelta(seconds=s) for s in (1, 2, 3))
    store.add_observations(
        [
            ObservationRow(a, "loss", 0.5, t3),  # the greatest time, stored first: latest goes by time
            ObservationRow(a, "loss", 0.1, t1),
            ObservationRow(a, "loss", 0.9, t2),
            ObservationRow(a, "accuracy", 0.7, t1),
            # b: a time tie at the end; the later row wins (Katib), even with a smaller value
            ObservationRow(b, "loss", 0.4, t1),
            ObservationRow(b, "loss", 0.8, t2),
            ObservationRow(b, "loss", 0.6, t2),
            ObservationRow(foreign, "loss", 100.0, t3),
        ]
    )
    # A tie across two calls: the row from the later call wins.
    store.add_observations([ObservationRow(a, "accuracy", 0.75, t1)])

    summaries = store.metric_summaries(experiment.id)

    assert summaries == {
        a: {"loss": MetricStats(0.1, 0.9, 0.5, 3), "accuracy": MetricStats(0.7, 0.75, 0.75, 2)},
        b: {"loss": MetricStats(0.4, 0.8, 0.6, 3)},
    }
    assert silent not in summaries
    assert store.metric_summaries(other.id) == {foreign: {"loss": MetricStats(100.0, 100.0, 100.0, 1)}}
    assert store.metric_summaries(other.id + experiment.id + 1000) == {}


# algorithm state


def test_algorithm_state_round_trip_and_overwrite(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    assert store.load_algorithm_state(experiment.id) is None
    first = {"bracket": 0, "history": [{"lr": "0.1", "loss": 0.5}], "seed": 42}
    store.save_algorithm_state(experiment.id, first)
    assert store.load_algorithm_state(experiment.id) == first
    second = {"bracket": 1, "history": [], "note": "überschrieben"}
    store.save_algorithm_state(experiment.id, second)
    assert store.load_algorithm_state(experiment.id) == second
    assert count_rows(store, "algorithm_state") == 1
    with pytest.raises(ExperimentNotFoundError):
        store.save_algorithm_state(experiment.id + 1000, first)
    assert store.load_algorithm_state(experiment.id + 1000) is None


# threads


def test_one_store_shared_by_threads(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    trial_ids = make_trials(store, experiment.id, *(f"exp-{i}" for i in range(8)))

    def work(trial_id: int) -> int:
        for step in range(20):
            store.add_observations([ObservationRow(trial_id, "loss", float(step), T0 + timedelta(seconds=step))] * 5)
            store.update_trial(trial_id, message=f"step {step}")
            store.metric_summaries(experiment.id)
        return len(store.list_observations(trial_id))

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(work, trial_ids))

    assert counts == [100] * 8
    summaries = store.metric_summaries(experiment.id)
    assert all(summaries[t]["loss"] == MetricStats(0.0, 19.0, 19.0, 100) for t in trial_ids)
    assert all(t.message == "step 19" for t in store.list_trials(experiment.id))


# transactions and batches


def test_transaction_commits_its_calls_together(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    with store.transaction():
        (trial,) = store.create_trials(experiment.id, [NewTrial("exp-a", {"lr": "0.1"})])
        store.update_trial(trial.id, phase=TrialPhase.RUNNING, start_time=T0)
        store.add_observations([ObservationRow(trial.id, "loss", 0.5, T0)])
        store.save_algorithm_state(experiment.id, {"step": 1})
        # Inside, the thread reads its own writes; another thread sees none of them before the commit.
        assert [t.phase for t in store.list_trials(experiment.id)] == [TrialPhase.RUNNING]
        with ThreadPoolExecutor(max_workers=1) as pool:
            assert pool.submit(store.list_trials, experiment.id).result() == []
    (stored,) = store.list_trials(experiment.id)
    assert (stored.phase, stored.start_time) == (TrialPhase.RUNNING, T0)
    assert [o.value for o in store.list_observations(trial.id)] == [0.5]
    assert store.load_algorithm_state(experiment.id) == {"step": 1}


def test_transaction_that_raises_leaves_nothing(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    with pytest.raises(RuntimeError, match="changed my mind"), store.transaction():
        with store.transaction():  # a nested block is part of the outer one
            make_trials(store, experiment.id, "exp-a")
        store.save_algorithm_state(experiment.id, {"step": 1})
        raise RuntimeError("changed my mind")
    assert store.list_trials(experiment.id) == []
    assert store.load_algorithm_state(experiment.id) is None
    # A failing call fails the whole block too (the database's own error: see Store.transaction).
    make_trials(store, experiment.id, "exp-b")
    with pytest.raises(DBAPIError), store.transaction():
        make_trials(store, experiment.id, "exp-c")
        make_trials(store, experiment.id, "exp-b")
    assert [t.name for t in store.list_trials(experiment.id)] == ["exp-b"]


def test_batch_returns_each_outcome_and_stops_at_the_first_failure(store: Store) -> None:
    experiment = store.create_experiment("exp", "default", SPEC)
    (trial_id,) = make_trials(store, experiment.id, "exp-a")
    outcomes = store.batch(
        [
            lambda: store.update_trial(trial_id, phase=TrialPhase.SUCCEEDED),
            lambda: store.create_trials(experiment.id, [NewTrial("exp-b", {})]),
            lambda: store.save_algorithm_state(experiment.id, {"step": 2}),
        ]
    )
    assert [o.error for o in outcomes] == [None, None, None]
    assert [t.name for t in outcomes[1].value] == ["exp-b"]
    assert [t.phase for t in store.list_trials(experiment.id)] == [TrialPhase.SUCCEEDED, TrialPhase.CREATED]

    outcomes = store.batch(
        [
            lambda: store.add_observations([ObservationRow(trial_id, "loss", 0.25, T0)]),
            lambda: store.create_trials(experiment.id, [NewTrial("exp-a", {})]),  # the name is taken
            lambda: store.update_trial(trial_id, message="not reached"),
            lambda: store.save_algorithm_state(experiment.id, {"step": 3}),
        ]
    )
    # As if made one by one by a caller that stops at the first failure: what came before lands, the failing
    # call raises its precise error, and nothing after it runs.
    assert [type(o.error) for o in outcomes] == [type(None), *[TrialExistsError] * 3]
    assert [o.value for o in store.list_observations(trial_id)] == [0.25]
    assert store.load_algorithm_state(experiment.id) == {"step": 2}
    assert [t.name for t in store.list_trials(experiment.id)] == ["exp-a", "exp-b"]
    assert store.list_trials(experiment.id)[0].message is None


def test_a_trial_end_never_lands_without_its_observations(store: Store) -> None:
    """A metric name longer than the column is refused on every backend (SQLite would have taken it), and the
    trial's end written after those observations does not land: the store never says Succeeded with its
    observations missing. (Once, PostgreSQL refused the row, the batch re-ran the end alone, and the valid
    loss=0.2 of the same trial was lost.)"""
    experiment = store.create_experiment("exp", "default", SPEC)
    (trial_id,) = make_trials(store, experiment.id, "exp-a")
    rows = [ObservationRow(trial_id, "loss", 0.2, T0), ObservationRow(trial_id, "x" * 10_000, 1.0, T0)]
    outcomes = store.batch(
        [
            lambda: store.add_observations(rows),
            lambda: store.update_trial(trial_id, phase=TrialPhase.SUCCEEDED, objective_value=0.2),
        ]
    )
    assert all(isinstance(o.error, ValueError) for o in outcomes), outcomes
    assert "longer than 255 characters" in str(outcomes[0].error)
    [trial] = store.list_trials(experiment.id)
    assert (trial.phase, trial.objective_value) == (TrialPhase.CREATED, None)
    assert store.list_observations(trial_id) == []


# not a database test: where the default store lives


def test_default_url_is_a_sqlite_file_under_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store() as store:
        assert store.url == DEFAULT_URL == "sqlite:///.pykatib/pykatib.db"
        store.create_experiment("exp", "default", SPEC)
    assert (tmp_path / ".pykatib" / "pykatib.db").is_file()
    with Store() as store:
        assert [e.name for e in store.list_experiments()] == ["exp"]
