"""Helpers for the suggestion-algorithm tests: spaces, a stand-in controller, checks on suggested values."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pykatib.spec.models import AlgorithmSetting, ObjectiveType, ParameterSpec, ParameterType
from pykatib.spec.space import SearchSpace, parse_search_space
from pykatib.suggest import Suggester, TrialResult, algorithm_settings, create_suggester

Objective = Callable[[Mapping[str, str]], float]


def param(name: str, kind: str, **feasible: Any) -> ParameterSpec:
    return ParameterSpec.model_validate({"name": name, "parameterType": kind, "feasibleSpace": feasible})


def space_of(*specs: ParameterSpec) -> SearchSpace:
    space, errors = parse_search_space(list(specs))
    assert errors == []
    return space


def make(
    algorithm: str,
    space: SearchSpace,
    objective: ObjectiveType = ObjectiveType.MINIMIZE,
    state: Mapping[str, Any] | None = None,
    **settings: str,
) -> Suggester:
    """A suggester as the controller builds one: Katib string settings, typed and defaulted."""
    given = [AlgorithmSetting(name=name, value=value) for name, value in settings.items()]
    return create_suggester(algorithm, space, objective, algorithm_settings(algorithm, given), state)


def saved(suggester: Suggester) -> dict[str, Any]:
    """The suggester's state as the store gives it back (JSON, strict: no NaN or infinity)."""
    return json.loads(json.dumps(suggester.state(), allow_nan=False))


def quadratic(assignment: Mapping[str, str]) -> float:
    """(x - 1)^2 + (y + 2)^2, plus 1 for categorical c != "a" when there is one."""
    value = (float(assignment["x"]) - 1) ** 2 + (float(assignment["y"]) + 2) ** 2
    return value + (0.0 if assignment.get("c", "a") == "a" else 1.0)


def wide_plane() -> SearchSpace:
    """The 2-d space of the learning tests: the quadratic's minimum is a small target in it."""
    return space_of(param("x", "double", min="-20", max="20"), param("y", "double", min="-20", max="20"))


class Controller:
    """What pykatib's controller does with a suggester, reduced to the calls: ``parallel`` trials at a
    time, each ending with ``objective(assignment)``, in the order ``finish`` picks."""

    def __init__(
        self,
        suggester: Suggester,
        objective: Objective = quadratic,
        parallel: int = 1,
        *,
        newest_first: bool = False,
        maximize: bool = False,
    ) -> None:
        self.suggester = suggester
        self.objective = objective
        self.parallel = parallel
        self.newest_first = newest_first
        self.sign = -1.0 if maximize else 1.0
        self.trials: list[TrialResult] = []
        self.running: list[int] = []

    def full(self) -> bool:
        """Whether a trial must end before the next suggestion: every slot taken, or the suggester waits."""
        return len(self.running) == self.parallel or bool(self.running and self.suggester.waiting())

    def finish(self, force: bool = False) -> None:
        """End one running trial when :meth:`full` or forced (the oldest, or the newest)."""
        if not (self.running and force) and not self.full():
            return
        i = self.running.pop(-1 if self.newest_first else 0)
        trial = self.trials[i]
        self.trials[i] = replace(trial, phase="Succeeded", objective=self.sign * self.objective(trial.assignment))

    def ask(self, suggester: Suggester | None = None) -> list[dict[str, str]]:
        """One suggest call for the free slots; the suggestions become running trials."""
        batch = (suggester or self.suggester).suggest(self.parallel - len(self.running), self.trials)
        for suggestion in batch:
            self.running.append(len(self.trials))
            self.trials.append(TrialResult(f"t-{len(self.trials)}", suggestion.assignment, "Running"))
        return [s.assignment for s in batch]

    def step(self) -> list[dict[str, str]]:
        self.finish()
        return self.ask()

    def run(self, calls: int) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for _ in range(calls):
            out.extend(self.step())
        return out

    def best(self) -> float:
        return min(self.sign * t.objective for t in self.trials if t.objective is not None)


def best_of(algorithm: str, seed: int, trials: int = 40, **settings: str) -> float:
    """The best quadratic value an algorithm finds on the wide plane, one trial at a time."""
    controller = Controller(make(algorithm, wide_plane(), **settings, random_state=str(seed)))
    controller.run(trials)
    controller.finish()
    return controller.best()


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(max(v, 1e-12)) for v in values) / len(values))


def assert_in_space(space: SearchSpace, assignment: Mapping[str, str]) -> None:
    """Every value is a Katib string inside its feasible space, on its step lattice, ints without ".0"."""
    assert set(assignment) == {p.name for p in space.parameters}
    for parameter in space.parameters:
        text = assignment[parameter.name]
        assert isinstance(text, str)
        if not parameter.is_numeric:
            assert text in parameter.values, (parameter.name, text)
            continue
        assert parameter.min is not None and parameter.max is not None
        if parameter.type is ParameterType.INT:
            assert text.lstrip("-").isdigit(), (parameter.name, text)
        value = float(text)
        assert parameter.min <= value <= parameter.max, (parameter.name, text)
        assert text == parameter.format(value), (parameter.name, text)  # Katib's formatting, no binary noise
        step = parameter.step or (1.0 if parameter.type is ParameterType.INT else None)
        if step is not None:
            steps = (value - parameter.min) / step
            assert math.isclose(steps, round(steps), abs_tol=1e-6), (parameter.name, text)


def key(assignment: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(assignment.items()))


class StagedDriver:
    """The controller's calls for the staged algorithms (hyperband, pbt), labels and waits included:
    ``parallel`` slots, trials end oldest first, those at the indices in ``fail`` fail."""

    def __init__(self, suggester: Suggester, parallel: int, score: Objective, fail: set[int] | None = None) -> None:
        self.suggester = suggester
        self.parallel = parallel
        self.score = score
        self.fail = fail or set()
        self.trials: list[TrialResult] = []
        self.asked: list[tuple[int, int, bool]] = []  # (asked, got, waiting) per call

    def active(self) -> list[int]:
        return [i for i, t in enumerate(self.trials) if t.phase == "Running"]

    def ask(self, limit: int | None = None) -> int:
        """One suggest call for the free slots, never beyond ``limit`` trials in all (maxTrialCount)."""
        want = self.parallel - len(self.active())
        if limit is not None:
            want = min(want, limit - len(self.trials))
        if want <= 0:
            return 0
        batch = self.suggester.suggest(want, self.trials)
        self.asked.append((want, len(batch), self.suggester.waiting()))
        for s in batch:
            self.trials.append(TrialResult(f"t-{len(self.trials)}", s.assignment, "Running", labels=s.labels))
        return len(batch)

    def finish_one(self) -> None:
        i = self.active()[0]
        trial = self.trials[i]
        if i in self.fail:
            self.trials[i] = replace(trial, phase="Failed")
        else:
            self.trials[i] = replace(trial, phase="Succeeded", objective=self.score(trial.assignment))

    def run(self, limit: int | None = None) -> None:
        """Until the algorithm ends (nothing more, not waiting) or ``limit`` trials have ended."""
        while True:
            got = self.ask(limit)
            if not self.active():
                assert got == 0 and (limit is not None or not self.suggester.waiting())
                return
            self.finish_one()
