"""hyperband: Katib's bracket arithmetic, rungs that wait for their predecessors, queueing, resume."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from pykatib.spec.models import ObjectiveType
from pykatib.suggest import Suggester, TrialResult
from pykatib.suggest.hyperband import (
    BRACKET_LABEL,
    PARENT_LABEL,
    RUNG_LABEL,
    SLOT_LABEL,
    Rung,
    schedule,
)
from suggest_support import StagedDriver, make, param, saved, space_of

SPACE = space_of(
    param("lr", "double", min="0.001", max="0.1"),
    param("layers", "int", min="1", max="8"),
    param("opt", "categorical", list=["sgd", "adam"]),
    param("epochs", "int", min="1", max="100"),
)


class KatibHyperband:
    """Katib's hyperband service (pkg/suggestion/v1beta1/hyperband/service.py) reduced to its bookkeeping:
    the counters it keeps in the experiment's algorithm settings between GetSuggestions calls, asked for
    exactly the bracket's size each time as its controller does when parallelTrialCount equals it. Returns
    (s, i, number of trials, resource) per call: the numbers the service produces."""

    def __init__(self, r_l: float, eta: float) -> None:
        self.eta, self.r_l = eta, r_l
        self.s_max = int(math.log(r_l) / math.log(eta))
        self.current_s, self.current_i, self.evaluating = self.s_max, 0, 0
        self.n = math.ceil(float(self.s_max + 1) * (float(eta**self.current_s) / float(self.current_s + 1)))
        self.r = r_l * eta ** (-self.current_s)

    def _new_bracket(self) -> None:
        self.current_s -= 1
        self.current_i = 0
        if self.current_s >= 0:
            self.n = math.ceil(float(self.s_max + 1) * (float(self.eta**self.current_s) / (self.current_s + 1)))
            self.r = self.r_l * self.eta ** (-self.current_s)

    def calls(self) -> list[tuple[int, int, int, int]]:
        out = []
        while self.current_s >= 0:
            # Each call starts from the settings of the service's previous reply, which convert() reads with
            # int(float(...)): r loses its fraction between calls.
            self.r = int(float(self.r))
            s = self.current_s
            if self.evaluating == 0:  # master bracket: n random trials
                count, resource, i = self.n, int(self.r), self.current_i
            else:  # child bracket: the top of the evaluated trials
                n_i = math.ceil(self.n * self.eta ** (-self.current_i))
                count = math.ceil(n_i / self.eta)
                self.current_i += 1
                if self.current_i > self.current_s:
                    self._new_bracket()
                resource, i = int(self.r * self.eta**self.current_i), self.current_i
            out.append((s, i, count, resource))
            self.evaluating = count if self.current_i < self.current_s else 0
            if self.evaluating == 0:
                self._new_bracket()
        return out


@pytest.mark.parametrize(
    ("r_l", "eta", "expected"),
    [
        # Katib's own example: one bracket of two one-epoch trials and their best at two epochs, then two at 2.
        (2, 2, [(1, 0, 2, 1), (1, 1, 1, 2), (0, 0, 2, 2)]),
        # r_l not a power of eta: r is truncated before it grows, so the last rungs get 9, not 10.
        (10, 3, [(2, 0, 9, 1), (2, 1, 3, 3), (2, 2, 1, 9), (1, 0, 5, 3), (1, 1, 2, 9), (0, 0, 3, 10)]),
        (9, 3, [(2, 0, 9, 1), (2, 1, 3, 3), (2, 2, 1, 9), (1, 0, 5, 3), (1, 1, 2, 9), (0, 0, 3, 9)]),
        # The paper's R=81 example; Katib rounds each rung up (34 -> 12 -> 4 -> 2 where the paper has 11, 3, 1).
        (
            81,
            3,
            [
                (4, 0, 81, 1),
                (4, 1, 27, 3),
                (4, 2, 9, 9),
                (4, 3, 3, 27),
                (4, 4, 1, 81),
                (3, 0, 34, 3),
                (3, 1, 12, 9),
                (3, 2, 4, 27),
                (3, 3, 2, 81),
                (2, 0, 15, 9),
                (2, 1, 5, 27),
                (2, 2, 2, 81),
                (1, 0, 8, 27),
                (1, 1, 3, 81),
                (0, 0, 5, 81),
            ],
        ),
    ],
)
def test_schedule_is_katibs_table(r_l: float, eta: float, expected: list[tuple[int, int, int, int]]) -> None:
    assert [(r.bracket, r.index, r.trials, r.resource) for r in schedule(r_l, eta)] == expected


@pytest.mark.parametrize(
    ("r_l", "eta"), [(2, 2), (9, 3), (27, 3), (81, 3), (16, 4), (100, 3), (1000, 10), (5, 2.5), (30, 2), (0.5, 3)]
)
def test_schedule_matches_katibs_service_step_by_step(r_l: float, eta: float) -> None:
    # Closed form (pykatib) against the incremental counters of Katib's service, float quirks included:
    # int(log(1000) / log(10)) is 2 there, so 1000/10 has three brackets, not four.
    assert [(r.bracket, r.index, r.trials, r.resource) for r in schedule(r_l, eta)] == KatibHyperband(r_l, eta).calls()


def test_float_truncation_is_katibs() -> None:
    assert schedule(1000, 10)[0] == Rung(2, 0, 100, 10)


# --- the suggester --------------------------------------------------------------------------------------


def score(assignment: Mapping[str, str]) -> float:
    """Lower is better; more epochs help, as a real resource does."""
    return (
        abs(math.log10(float(assignment["lr"])) + 2) + int(assignment["layers"]) / 10 - int(assignment["epochs"]) / 100
    )


def Driver(suggester: Suggester, parallel: int, fail: set[int] | None = None) -> StagedDriver:
    return StagedDriver(suggester, parallel, score, fail)


def rung_of(trial: TrialResult) -> tuple[int, int]:
    return int(trial.labels[BRACKET_LABEL]), int(trial.labels[RUNG_LABEL])


def hyperband(state: dict[str, Any] | None = None, **settings: str) -> Suggester:
    given = {"r_l": "9", "eta": "3", "resource_name": "epochs", "random_state": "5", **settings}
    return make("hyperband", SPACE, ObjectiveType.MINIMIZE, state, **given)


@pytest.mark.parametrize("parallel", [1, 2, 4, 9, 20])
def test_every_rung_runs_in_turn_whatever_the_parallelism(parallel: int) -> None:
    driver = Driver(hyperband(), parallel)
    driver.run()
    plan = schedule(9, 3)
    # The trials come rung by rung, each rung complete, in Katib's order, with the rung's resource.
    rungs = [rung_of(t) for t in driver.trials]
    assert rungs == [(r.bracket, r.index) for r in plan for _ in range(r.trials)]
    for rung in plan:
        members = [t for t in driver.trials if rung_of(t) == (rung.bracket, rung.index)]
        assert {t.assignment["epochs"] for t in members} == {str(rung.resource)}
        assert sorted(int(t.labels[SLOT_LABEL]) for t in members) == list(range(rung.trials))
    # Never more trials at once than asked for, and a short answer before the end is always a wait.
    for want, got, waiting in driver.asked[:-1]:
        assert got <= want
        assert got == want or waiting
    assert driver.asked[-1] == (parallel, 0, False)  # the end: nothing more, and not waiting


def test_a_rung_reruns_the_best_of_the_rung_before_with_more_resource() -> None:
    driver = Driver(hyperband(), parallel=3)
    driver.run()
    by_name = {t.name: t for t in driver.trials}
    for rung in schedule(9, 3):
        if rung.index == 0:
            continue
        previous = [t for t in driver.trials if rung_of(t) == (rung.bracket, rung.index - 1)]
        best = sorted(previous, key=lambda t: t.objective)[: rung.trials]  # type: ignore[arg-type, return-value]
        members = [t for t in driver.trials if rung_of(t) == (rung.bracket, rung.index)]
        assert [by_name[t.labels[PARENT_LABEL]] for t in members] == best
        for child in members:
            parent = by_name[child.labels[PARENT_LABEL]]
            assert {**parent.assignment, "epochs": str(rung.resource)} == dict(child.assignment)


def test_the_next_rung_waits_for_every_trial_of_the_rung_before() -> None:
    suggester = hyperband()
    driver = Driver(suggester, parallel=20)
    assert driver.ask() == 9  # the first bracket's nine one-epoch trials, even with room for more
    assert suggester.waiting()
    for _ in range(8):
        driver.finish_one()
        assert driver.ask() == 0 and suggester.waiting()
    driver.finish_one()
    assert driver.ask() == 3  # all nine ended: the best three, at three epochs
    assert [t.assignment["epochs"] for t in driver.trials[9:]] == ["3", "3", "3"]


def test_failed_trials_rank_last_and_an_all_failed_rung_closes_its_bracket() -> None:
    # Bracket 2's first rung: 7 of 9 fail, so only 2 survivors can go on to the 3-slot rung.
    driver = Driver(hyperband(), parallel=9, fail=set(range(7)))
    driver.run()
    second = [t for t in driver.trials if rung_of(t) == (2, 1)]
    assert len(second) == 2
    assert {t.labels[PARENT_LABEL] for t in second} == {"t-7", "t-8"}
    # Every trial of bracket 1's first rung fails: its second rung has nothing to rank and is skipped.
    first_of_bracket_1 = next(i for i, t in enumerate(driver.trials) if rung_of(t) == (1, 0))
    fail = set(range(7)) | set(range(first_of_bracket_1, first_of_bracket_1 + 5))
    driver = Driver(hyperband(), parallel=9, fail=fail)
    driver.run()
    assert (1, 1) not in {rung_of(t) for t in driver.trials}
    assert [rung_of(t) for t in driver.trials][-3:] == [(0, 0)] * 3  # the last bracket still runs


def test_maximize_keeps_the_largest() -> None:
    suggester = make("hyperband", SPACE, ObjectiveType.MAXIMIZE, None, r_l="9", eta="3", resource_name="epochs")
    driver = Driver(suggester, parallel=9)
    for _ in range(9):
        driver.ask()
        driver.finish_one()
    driver.ask()
    best = sorted(driver.trials[:9], key=lambda t: -t.objective)[:3]  # type: ignore[operator]
    assert [t.labels[PARENT_LABEL] for t in driver.trials[9:]] == [t.name for t in best]


def test_a_restart_mid_bracket_continues_the_same_bracket() -> None:
    whole = Driver(hyperband(), parallel=2)
    whole.run()
    # The same experiment, its controller killed after 13 trials; a new one is built from the saved state.
    first = Driver(hyperband(), parallel=2)
    while len(first.trials) < 13:
        first.ask()
        first.finish_one()
    second = Driver(hyperband(saved(first.suggester)), parallel=2)
    second.trials = list(first.trials)
    second.run()
    assert [dict(t.assignment) for t in second.trials] == [dict(t.assignment) for t in whole.trials]
    assert [t.labels for t in second.trials] == [t.labels for t in whole.trials]


def test_suggestions_lost_before_their_trials_were_created_are_handed_out_again() -> None:
    driver = Driver(hyperband(), parallel=4)
    driver.ask()
    driver.finish_one()
    driver.ask()  # one more suggestion...
    state = saved(driver.suggester)
    lost = driver.trials.pop()  # ...whose trial the store never got (the controller died in between)
    rebuilt = Driver(hyperband(state), parallel=4)
    rebuilt.trials = list(driver.trials)
    rebuilt.ask()
    assert rebuilt.trials[-1].assignment == lost.assignment
    assert rebuilt.trials[-1].labels == lost.labels


def test_a_replaced_trial_stands_for_its_slot() -> None:
    # A trial lost in a restart is replaced by the controller with the same assignment and labels; the
    # rung then counts the replacement, not the lost one.
    driver = Driver(hyperband(), parallel=9)
    driver.ask()
    lost = driver.trials[0]
    driver.trials[0] = replace(lost, phase="Killed")
    driver.trials.append(replace(lost, name="t-replacement", labels={**lost.labels, "replaces": lost.name}))
    for _ in range(9):
        driver.finish_one()
    assert driver.ask() == 3
    assert driver.suggester.waiting()


def test_reproducible_with_random_state() -> None:
    runs = []
    for _ in range(2):
        driver = Driver(hyperband(), parallel=3)
        driver.run()
        runs.append([dict(t.assignment) for t in driver.trials])
    assert runs[0] == runs[1]
    other = Driver(hyperband(random_state="6"), parallel=3)
    other.run()
    assert [dict(t.assignment) for t in other.trials] != runs[0]


def test_random_draws_stay_in_the_space_and_leave_the_resource_to_the_bracket() -> None:
    driver = Driver(hyperband(r_l="2", eta="2"), parallel=2)
    driver.run()
    for trial in driver.trials:
        assert 0.001 <= float(trial.assignment["lr"]) <= 0.1
        assert trial.assignment["opt"] in ("sgd", "adam")
        assert 1 <= int(trial.assignment["layers"]) <= 8
    assert [t.assignment["epochs"] for t in driver.trials] == ["1", "1", "2", "2", "2"]


def test_a_trial_that_did_not_succeed_ranks_nowhere_even_with_a_result() -> None:
    # A trial that crashed after a good first report has a (partial) objective: it must not go on.
    driver = Driver(hyperband(), parallel=9)
    driver.ask()
    for _ in range(9):
        driver.finish_one()
    crashed = driver.trials[0]
    driver.trials[0] = replace(crashed, phase="Failed", objective=-100.0)  # the best value of all, but failed
    driver.ask()
    assert crashed.name not in {t.labels[PARENT_LABEL] for t in driver.trials[9:]}
    assert len(driver.trials) == 12


def test_a_small_discrete_space_still_fills_the_bracket() -> None:
    # Two points to draw from, nine slots: Katib's independent draws repeat points, and so does pykatib.
    space = space_of(param("opt", "categorical", list=["sgd", "adam"]), param("epochs", "int", min="1", max="9"))
    suggester = make("hyperband", space, ObjectiveType.MINIMIZE, None, r_l="9", eta="3", resource_name="epochs")
    batch = suggester.suggest(20, [])
    assert len(batch) == 9 and {s.assignment["opt"] for s in batch} == {"sgd", "adam"}
