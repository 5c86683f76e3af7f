"""Katib's medianstop rule, case by case."""

from __future__ import annotations

import pytest

from pykatib.earlystop.medianstop import MedianStop
from pykatib.spec.models import ObjectiveType

MIN, MAX = ObjectiveType.MINIMIZE, ObjectiveType.MAXIMIZE


def test_defaults_are_katibs() -> None:
    rule = MedianStop(MIN, {})
    assert (rule.min_trials_required, rule.start_step) == (3, 4)


def test_too_few_succeeded_trials_give_no_rule() -> None:
    rule = MedianStop(MIN, {"min_trials_required": 2, "start_step": 2})
    rule.record_succeeded("a", [1.0, 1.0])
    assert rule.rule() is None
    assert not rule.should_stop(2, 100.0)


def test_rule_is_the_mean_of_the_first_start_step_reports() -> None:
    rule = MedianStop(MIN, {"min_trials_required": 2, "start_step": 2})
    rule.record_succeeded("a", [4.0, 2.0, 0.0])  # the third report is past start_step: left out
    rule.record_succeeded("b", [1.0])  # fewer reports than start_step: the mean of what there is
    assert rule.rule() == pytest.approx((3.0 + 1.0) / 2)
    rule.record_succeeded("a", [9.0, 9.0])  # a trial counts once
    assert rule.rule() == pytest.approx(2.0)
    rule.record_succeeded("c", [])  # no report: no mean
    assert rule.rule() == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("objective", "best", "stop"),
    [(MIN, 2.5, True), (MIN, 1.5, False), (MIN, 2.0, False), (MAX, 1.5, True), (MAX, 2.5, False), (MAX, 2.0, False)],
)
def test_worse_than_the_rule_stops(objective: ObjectiveType, best: float, stop: bool) -> None:
    rule = MedianStop(objective, {"min_trials_required": 1, "start_step": 3})
    rule.record_succeeded("a", [2.0, 2.0, 2.0])
    assert rule.should_stop(3, best) is stop


def test_checked_only_at_exactly_start_step_reports() -> None:
    rule = MedianStop(MIN, {"min_trials_required": 1, "start_step": 3})
    rule.record_succeeded("a", [1.0, 1.0, 1.0])
    assert [rule.should_stop(n, 5.0) for n in (1, 2, 3, 4, 10)] == [False, False, True, False, False]
