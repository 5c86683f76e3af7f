"""pbt: generations, truncation selection, exploit and explore, Katib's labels, restart and seeds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from pykatib.spec.models import ObjectiveType
from pykatib.suggest import Suggester, TrialResult
from pykatib.suggest.pbt import GENERATION_LABEL, PARENT_LABEL, SLOT_LABEL
from suggest_support import StagedDriver, make, param, saved, space_of

SPACE = space_of(
    param("lr", "double", min="0.0001", max="0.02", step="0.0001"),
    param("units", "int", min="10", max="100", step="10"),
    param("act", "categorical", list=["relu", "tanh", "gelu"]),
)
POPULATION = 6


def pbt(
    state: dict[str, Any] | None = None, objective: ObjectiveType = ObjectiveType.MAXIMIZE, **extra: str
) -> Suggester:
    settings = {
        "suggestion_trial_dir": "/var/log/katib/checkpoints/",
        "n_population": str(POPULATION),
        "truncation_threshold": "0.34",
        "random_state": "3",
        **extra,
    }
    return make("pbt", SPACE, objective, state, **settings)


def score(assignment: Mapping[str, str]) -> float:
    return -abs(float(assignment["lr"]) - 0.01) + int(assignment["units"]) / 1000


def Driver(suggester: Suggester, parallel: int, fail: set[int] | None = None) -> StagedDriver:
    return StagedDriver(suggester, parallel, score, fail)


def generation(trial: TrialResult) -> int:
    return int(trial.labels[GENERATION_LABEL])


def test_first_generation_is_random_on_the_grid_without_parents() -> None:
    driver = Driver(pbt(), parallel=POPULATION)
    assert driver.ask() == POPULATION
    for trial in driver.trials:
        assert generation(trial) == 0 and PARENT_LABEL not in trial.labels
        lr = float(trial.assignment["lr"])
        assert 0.0001 <= lr <= 0.02 and round(lr / 0.0001) == pytest.approx(lr / 0.0001)
        assert int(trial.assignment["units"]) in range(10, 101, 10)
        assert trial.assignment["act"] in ("relu", "tanh", "gelu")
    assert sorted(int(t.labels[SLOT_LABEL]) for t in driver.trials) == list(range(POPULATION))


@pytest.mark.parametrize("parallel", [1, 4, 6, 10])
def test_generations_follow_each_other_whole_whatever_the_parallelism(parallel: int) -> None:
    driver = Driver(pbt(), parallel=parallel)
    driver.run(4 * POPULATION)
    assert [generation(t) for t in driver.trials] == [g for g in range(4) for _ in range(POPULATION)]
    by_name = {t.name: t for t in driver.trials}
    for child in driver.trials[POPULATION:]:
        parent = by_name[child.labels[PARENT_LABEL]]
        assert generation(parent) == generation(child) - 1  # a child continues a member of the generation before


def test_weak_members_are_replaced_by_children_of_strong_ones() -> None:
    driver = Driver(pbt(), parallel=POPULATION)
    driver.run(2 * POPULATION)
    first, second = driver.trials[:POPULATION], driver.trials[POPULATION:]
    ranked = sorted(first, key=lambda t: -t.objective)  # type: ignore[operator]
    parents = [c.labels[PARENT_LABEL] for c in second]
    # 0.34 of 6: the two below the lower quantile exploit (each gets a child of one of the two at or above
    # the upper quantile); the other four each explore from their own checkpoint.
    strongest, rest, weakest = ranked[:2], ranked[:4], ranked[4:]
    assert not {t.name for t in weakest} & set(parents)
    for member in rest:
        parents.remove(member.name)
    assert len(parents) == 2 and set(parents) <= {t.name for t in strongest}


def test_explore_perturbs_each_value_by_a_fifth_or_moves_to_a_neighbour() -> None:
    driver = Driver(pbt(), parallel=POPULATION)
    driver.run(2 * POPULATION)
    by_name = {t.name: t for t in driver.trials}
    acts = ["relu", "tanh", "gelu"]
    for child in driver.trials[POPULATION:]:
        parent = by_name[child.labels[PARENT_LABEL]].assignment
        lr, parent_lr = float(child.assignment["lr"]), float(parent["lr"])
        assert lr in (pytest.approx(min(0.02, parent_lr * 0.8)), pytest.approx(min(0.02, parent_lr * 1.2)))
        expected_units = {min(100, max(10, int(int(parent["units"]) * f))) for f in (0.8, 1.2)}
        assert int(child.assignment["units"]) in expected_units
        i = acts.index(parent["act"])
        assert child.assignment["act"] in (acts[(i + 1) % 3], acts[(i - 1) % 3])


@pytest.mark.parametrize(("probability", "same"), [("0", True), ("1", False)])
def test_resample_probability(probability: str, same: bool) -> None:
    driver = Driver(pbt(resample_probability=probability), parallel=POPULATION)
    driver.run(3 * POPULATION)
    by_name = {t.name: t for t in driver.trials}
    children = driver.trials[POPULATION:]
    unchanged = [dict(c.assignment) == dict(by_name[c.labels[PARENT_LABEL]].assignment) for c in children]
    if same:
        assert all(unchanged)  # never resampled, never perturbed: the parent's hyperparameters, its checkpoint
    else:
        assert not all(unchanged)  # every value redrawn from the grid (a redraw may hit the same point)
        for child in children:
            assert float(child.assignment["lr"]) * 10000 == pytest.approx(round(float(child.assignment["lr"]) * 10000))


def test_minimize_ranks_the_smallest_first() -> None:
    driver = Driver(pbt(objective=ObjectiveType.MINIMIZE), parallel=POPULATION)
    driver.run(2 * POPULATION)
    ranked = sorted(driver.trials[:POPULATION], key=lambda t: t.objective)  # type: ignore[arg-type, return-value]
    parents = {c.labels[PARENT_LABEL] for c in driver.trials[POPULATION:]}
    assert not {t.name for t in ranked[-2:]} & parents  # the two largest are the weak ones


def test_failed_members_leave_the_population_its_size_and_an_all_failed_generation_is_redrawn() -> None:
    driver = Driver(pbt(), parallel=POPULATION, fail={0, 1, 2})
    driver.run(2 * POPULATION)
    survivors = {t.name for t in driver.trials[:POPULATION] if t.phase == "Succeeded"}
    second = driver.trials[POPULATION:]
    assert len(second) == POPULATION
    assert {c.labels[PARENT_LABEL] for c in second} <= survivors
    driver = Driver(pbt(), parallel=POPULATION, fail=set(range(POPULATION)))
    driver.run(2 * POPULATION)
    assert all(PARENT_LABEL not in c.labels and generation(c) == 1 for c in driver.trials[POPULATION:])


def test_a_restart_continues_the_same_population() -> None:
    whole = Driver(pbt(), parallel=4)
    whole.run(3 * POPULATION)
    first = Driver(pbt(), parallel=4)
    first.run(POPULATION + 3)
    second = Driver(pbt(saved(first.suggester)), parallel=4)
    second.trials = list(first.trials)
    second.run(3 * POPULATION)
    assert [(dict(t.assignment), t.labels) for t in second.trials] == [
        (dict(t.assignment), t.labels) for t in whole.trials
    ]


def test_reproducible_with_random_state() -> None:
    runs = []
    for seed in ("3", "3", "4"):
        driver = Driver(pbt(random_state=seed), parallel=3)
        driver.run(2 * POPULATION)
        runs.append([dict(t.assignment) for t in driver.trials])
    assert runs[0] == runs[1] != runs[2]


def test_with_members_failed_the_top_and_the_bottom_never_overlap() -> None:
    suggester = pbt(n_population="10", truncation_threshold="0.4")
    driver = StagedDriver(suggester, parallel=10, score=score, fail={0, 1, 2, 3})
    driver.run(20)
    survivors = sorted((t for t in driver.trials[:10] if t.phase == "Succeeded"), key=lambda t: -t.objective)  # type: ignore[operator]
    parents = [c.labels[PARENT_LABEL] for c in driver.trials[10:]]
    assert len(driver.trials[10:]) == 10
    # 6 ranked: a cut of min(4, 6 // 2) = 3; the bottom three get no child of their own.
    assert not {t.name for t in survivors[3:]} & set(parents)


def test_a_member_that_failed_with_a_partial_result_ranks_nowhere() -> None:
    driver = Driver(pbt(), parallel=POPULATION)
    driver.ask()
    for _ in range(POPULATION):
        driver.finish_one()
    crashed = driver.trials[0]
    driver.trials[0] = replace(crashed, phase="Failed", objective=100.0)  # best value of all, but it failed
    driver.ask()
    assert crashed.name not in {c.labels[PARENT_LABEL] for c in driver.trials[POPULATION:]}
