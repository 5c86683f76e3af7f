"""The optimal trial and the status of trials whose objective is text (DARTS' Best-Genotype), as Katib's
experiment controller has them: updateTrialsSummary makes "for string metrics values ... the latest" trial the
best, getMetrics leaves min and max "unavailable", and a text objective never reaches a goal."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from e2e_support import make_experiment
from pykatib.control.status import TrialTally, TrialView, end_reason, optimal_trial, status_block
from pykatib.metrics.strategy import MetricSummary
from pykatib.spec.conditions import ExperimentReason, TrialPhase
from pykatib.spec.loader import parse_experiment
from pykatib.spec.models import Experiment

GENOTYPE = "Genotype(normal=[[('max_pooling_3x3',0),('max_pooling_3x3',1)]],normal_concat=range(2,3),reduce=[])"


def experiment(**objective: Any) -> Experiment:
    objective = {"type": "maximize", "objectiveMetricName": "loss", **objective}
    return parse_experiment(
        make_experiment(["sh", "-c", "true"], objective=objective, maxTrialCount=None, maxFailedTrialCount=None)
    )


def view(name: str, phase: str, value: float | str | None) -> TrialView:
    if value is None:
        return TrialView(name, TrialPhase(phase), None, {"x": "0.5"})
    number = None if isinstance(value, str) else value
    summary = MetricSummary("loss", number, number, value, datetime.now(UTC))
    return TrialView(name, TrialPhase(phase), None, {"x": "0.5"}, {"loss": summary}, number)


def test_a_text_objective_makes_the_trial_optimal_with_unavailable_min_and_max() -> None:
    exp = experiment()
    status = status_block(exp, [view("a", "Succeeded", GENOTYPE)], {"conditions": []})
    optimal = status["currentOptimalTrial"]
    assert optimal["bestTrialName"] == "a"
    assert optimal["observation"]["metrics"] == [
        {"name": "loss", "min": "unavailable", "max": "unavailable", "latest": GENOTYPE}
    ]


def test_of_text_objectives_the_latest_trial_wins_and_numbers_rank_below() -> None:
    exp = experiment()
    trials = [view("a", "Succeeded", "x"), view("b", "Succeeded", 0.9), view("c", "Succeeded", "y")]
    best = optimal_trial(exp, trials)
    assert best is not None and (best[0].name, best[1]) == ("c", "y")
    best = optimal_trial(exp, trials[:2])
    assert best is not None and best[0].name == "a"
    # Unfinished trials are not ranked, text or not.
    best = optimal_trial(exp, [view("a", "Succeeded", "x"), view("b", "Running", "z")])
    assert best is not None and best[0].name == "a"


def test_a_text_objective_never_reaches_the_goal() -> None:
    exp = experiment(goal=0.5)
    assert end_reason(exp, [view("a", "Succeeded", GENOTYPE)], suggestion_end=False) is None
    assert end_reason(exp, [view("a", "Succeeded", 0.6)], suggestion_end=False) is ExperimentReason.GOAL_REACHED


@pytest.mark.parametrize("seed", range(5))
def test_tally_agrees_with_optimal_trial_with_text_objectives(seed: int) -> None:
    exp = experiment()
    rng = random.Random(seed)
    tally = TrialTally(exp)
    trials: dict[str, TrialView] = {}
    for _ in range(300):
        name = f"t{rng.randrange(20)}"
        value = rng.choice([None, 0.25, 0.5, "g1", "g2", rng.random()])
        trials[name] = view(name, rng.choice(["Running", "Succeeded", "Failed", "EarlyStopped"]), value)
        tally.update(trials[name])
        assert tally.best() == optimal_trial(exp, list(trials.values()))
