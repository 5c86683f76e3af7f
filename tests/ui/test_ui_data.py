"""The experiment page's answers built from a real store: every metric's min / max / latest as the store
computes them (from the objective's series alone when it is the only metric), and full answers kept only while
no trial changed."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from pykatib.store import NewTrial, ObservationRow, Store, TrialPhase
from pykatib.ui.data import ExperimentAnswers, experiment_row, summaries_of
from pykatib.ui.importance import ImportanceCache

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def document(*additional: str) -> dict[str, Any]:
    objective = {"type": "minimize", "objectiveMetricName": "loss", "additionalMetricNames": list(additional)}
    parameters = [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}]
    return {"metadata": {"name": "e"}, "spec": {"objective": objective, "parameters": parameters}}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'pykatib.db'}")


def seed(store: Store, *additional: str) -> tuple[int, list[int]]:
    record = store.create_experiment("e", "default", document(*additional))
    trials = store.create_trials(record.id, [NewTrial(f"e-{i}", {"lr": f"0.{i}"}) for i in range(1, 4)])
    rows = []
    for trial in trials:
        for step, value in enumerate((0.9, 0.3, 0.5)):
            rows.append(ObservationRow(trial.id, "loss", value + trial.id, T0 + timedelta(seconds=step)))
            rows.append(ObservationRow(trial.id, "accuracy", 1 - value, T0 + timedelta(seconds=step)))
    rows.append(ObservationRow(trials[0].id, "loss", 7.0, T0 + timedelta(seconds=2)))  # a tie: stored last wins
    store.add_observations(rows)
    for trial in trials:
        store.update_trial(trial.id, phase=TrialPhase.SUCCEEDED, objective_value=0.3 + trial.id)
    return record.id, [t.id for t in trials]


def test_summaries_from_the_series_are_the_stores(store: Store) -> None:
    experiment, _ = seed(store)
    ids, values = store.observation_series(experiment, "loss")
    wanted = {trial: {"loss": stats["loss"]} for trial, stats in store.metric_summaries(experiment).items()}
    assert summaries_of("loss", ids, values) == wanted
    assert summaries_of("loss", [], []) == {}


@pytest.mark.parametrize("additional", [(), ("accuracy",)])
def test_answers_carry_each_metric(store: Store, additional: tuple[str, ...]) -> None:
    experiment, ids = seed(store, *additional)
    record = store.get_experiment("e")
    assert record is not None
    answer = orjson.loads(ExperimentAnswers(store).answer(record, None))
    summaries = store.metric_summaries(experiment)
    metrics = answer["trials"]["metrics"]
    assert sorted(metrics) == sorted(["loss", *additional])
    for row, trial in enumerate(answer["trials"]["id"]):
        for name in metrics:
            stats = summaries[trial][name]
            assert [metrics[name][p][row] for p in ("min", "max", "latest")] == [stats.min, stats.max, stats.latest]
    assert answer["trials"]["id"] == ids and answer["trials"]["params"]["lr"] == [0.1, 0.2, 0.3]


def test_a_full_answer_is_kept_until_a_trial_changes(store: Store) -> None:
    _, ids = seed(store)
    record = store.get_experiment("e")
    assert record is not None
    answers = ExperimentAnswers(store)
    first = orjson.loads(answers.answer(record, None))
    assert orjson.loads(answers.answer(record, None))["trials"] == first["trials"]
    store.update_trial(ids[0], message="changed")  # within the slack of the last read: read again, whatever it is
    store.update_trial(ids[0], phase=TrialPhase.FAILED)
    again = orjson.loads(answers.answer(record, None))
    assert again["trials"]["phase"] == ["Failed", "Succeeded", "Succeeded"]


def test_a_text_objective_is_carried_as_text(store: Store) -> None:
    """DARTS's objective is a genotype: the trial's summary (from the store, not the numeric series) holds it as
    the latest value, and the experiments list shows the optimal trial's text."""
    doc = document()
    doc["spec"]["objective"] = {"type": "maximize", "objectiveMetricName": "Best-Genotype"}
    record = store.create_experiment("d", "default", doc)
    (trial,) = store.create_trials(record.id, [NewTrial("d-1", {"lr": "0.1"})])
    genotype = "Genotype(normal=[[('max_pooling_3x3',0)]], normal_concat=range(2, 3))"
    store.add_observations([ObservationRow(trial.id, "Best-Genotype", genotype, T0)])
    store.update_trial(trial.id, phase=TrialPhase.SUCCEEDED)
    metrics = [{"name": "Best-Genotype", "min": "unavailable", "max": "unavailable", "latest": genotype}]
    status = {"currentOptimalTrial": {"bestTrialName": "d-1", "observation": {"metrics": metrics}}}
    store.update_experiment(record.id, status=status)
    record = store.get_experiment("d")
    assert record is not None
    answer = orjson.loads(ExperimentAnswers(store).answer(record, None))
    stats = answer["trials"]["metrics"]["Best-Genotype"]
    assert (stats["min"], stats["max"], stats["latest"]) == ([None], [None], [genotype])
    assert answer["trials"]["objective"] == [None] and answer["series"]["trial"] == []
    assert experiment_row(record)["optimal"] == genotype
    metrics[0]["latest"] = "unavailable"
    store.update_experiment(record.id, status=status)
    assert experiment_row(store.get_experiment("d"))["optimal"] is None  # type: ignore[arg-type]


def test_importance_is_kept_while_the_status_counts_the_same_succeeded_trials(store: Store) -> None:
    """The experiment's trials are read again (0.2 s for 10,000) only when its count of succeeded trials moved."""
    record = store.create_experiment("i", "default", document())
    trials = store.create_trials(record.id, [NewTrial(f"i-{n}", {"lr": f"0.{n}"}) for n in range(1, 7)])
    for n, trial in enumerate(trials):
        store.update_trial(trial.id, phase=TrialPhase.SUCCEEDED, objective_value=float(n))
    reads: list[int] = []

    def read() -> list[Any]:
        reads.append(1)
        return store.list_trials(record.id)

    cache = ImportanceCache()
    for succeeded, expected_reads in ((6, 1), (6, 1), (7, 2)):
        store.update_experiment(record.id, status={"trialsSucceeded": succeeded})
        current = store.get_experiment("i")
        assert current is not None
        answer = cache.get(current, read)
        assert len(reads) == expected_reads and answer["trials"] == 6 and sorted(answer["importances"]) == ["lr"]


def test_pages_asking_at_once_share_one_importance_computation(store: Store) -> None:
    record = store.create_experiment("j", "default", document())
    trials = store.create_trials(record.id, [NewTrial(f"j-{n}", {"lr": f"0.{n}"}) for n in range(1, 7)])
    for n, trial in enumerate(trials):
        store.update_trial(trial.id, phase=TrialPhase.SUCCEEDED, objective_value=float(n))
    store.update_experiment(record.id, status={"trialsSucceeded": 6})
    current = store.get_experiment("j")
    assert current is not None
    reads: list[int] = []
    started = threading.Barrier(4)

    def read() -> list[Any]:
        reads.append(1)
        time.sleep(0.2)  # the others arrive while this one reads
        return store.list_trials(record.id)

    def ask() -> dict[str, Any]:
        started.wait()
        return cache.get(current, read)

    cache = ImportanceCache()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: ask(), range(4)))
    assert len(reads) == 1 and all(a == answers[0] for a in answers)
