"""Katib's cmaes: Goptuna's CMA-ES semantics on Optuna's CmaEsSampler and the cmaes library."""

from __future__ import annotations

import random
import warnings
from dataclasses import replace

import numpy as np
import pytest

from pykatib.suggest import TrialResult
from pykatib.suggest.cmaes import CmaesSuggester, decode_optimizer, encode_optimizer
from suggest_support import Controller, make, param, saved, space_of


def plane(**extra: str) -> CmaesSuggester:
    space = space_of(
        param("x", "double", min="0", max="10"),
        param("y", "double", min="0", max="1"),
        param("c", "categorical", list=["a", "b", "c"]),
    )
    suggester = make("cmaes", space, random_state="2", **extra)
    assert isinstance(suggester, CmaesSuggester)
    return suggester


def flat(_: object) -> float:
    return 1.0


def test_no_warnings_from_deprecated_optuna_arguments() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Controller(plane(restart_strategy="ipop", sigma="0.5"), parallel=2).run(5)


def test_cma_es_starts_at_once_and_steps_a_generation_per_population() -> None:
    suggester = plane()
    controller = Controller(suggester)
    controller.run(1)
    optimizer = suggester.sampler.optimizer
    assert optimizer is not None  # the first trial already comes from CMA-ES (Goptuna: no startup trials)
    population = optimizer.population_size
    controller.run(population)
    assert suggester.sampler.optimizer.generation == 1
    # Categorical parameters are drawn independently (Goptuna and Optuna alike) and take every value.
    controller.run(30)
    assert {t.assignment["c"] for t in controller.trials} == {"a", "b", "c"}


def test_sigma_is_read_in_units_of_the_narrowest_range() -> None:
    default = plane()
    Controller(default).run(1)
    assert default.sampler.optimizer._sigma == pytest.approx(1 / 6)  # Goptuna's: the narrowest range / 6
    given = plane(sigma="0.25")
    Controller(given).run(1)
    assert given.sampler.optimizer._sigma == pytest.approx(0.25)  # y's range is 1


@pytest.mark.parametrize(("strategy", "factor"), [("ipop", 2), ("bipop", None), ("none", 1)])
def test_restart_strategies(strategy: str, factor: int | None) -> None:
    # A flat objective stalls CMA-ES within a few dozen generations.
    suggester = plane(restart_strategy=strategy)
    controller = Controller(suggester, flat)
    controller.run(1)
    initial = suggester.sampler.optimizer.population_size
    controller.run(250)
    sampler = suggester.sampler
    if strategy == "none":
        assert sampler.n_restarts == 0
        return
    assert sampler.n_restarts >= 1
    if factor is not None:
        assert sampler.optimizer.population_size == initial * factor**sampler.n_restarts
    else:
        assert sampler.restart_state()["poptype"] in ("small", "large")
    # The restarted run survives a rebuild like any other.
    state = saved(suggester)
    assert state["cma"]["restarts"]["n_restarts"] == sampler.n_restarts
    rebuilt = make("cmaes", suggester.space, state=state, random_state="2", restart_strategy=strategy)
    controller.finish()
    expected = [s.assignment for s in rebuilt.suggest(1, list(controller.trials))]
    assert controller.ask() == expected


def test_optimizer_encodes_to_json_and_back_exactly() -> None:
    suggester = plane()
    Controller(suggester).run(20)
    optimizer = suggester.sampler.optimizer
    encoded = encode_optimizer(optimizer)
    assert encoded is not None
    restored = decode_optimizer(saved(suggester)["cma"]["optimizer"])
    for name, value in vars(optimizer).items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, getattr(restored, name), equal_nan=True), name
        elif not isinstance(value, np.random.RandomState):
            assert value == getattr(restored, name), name
    restored.reseed_rng(5)
    optimizer.reseed_rng(5)
    assert np.array_equal(restored.ask(), optimizer.ask())


class RandomOrder:
    """parallelTrialCount 4 with trials ending in a random (seeded) order, as real trials of varying length do."""

    def __init__(self, controller: Controller, rng: random.Random) -> None:
        self.controller = controller
        self.rng = rng

    def step(self, full: bool | None = None) -> list[dict[str, str]]:
        """End a random trial if the controller is full (or ``full`` says so), then ask."""
        controller = self.controller
        if controller.full() if full is None else full:
            # Controller.finish ends the oldest running trial: move a random one to the front first.
            controller.running.insert(0, controller.running.pop(self.rng.randrange(len(controller.running))))
            controller.finish(force=True)
        return controller.ask()


def test_at_parallel_four_a_generation_waits_for_its_members_and_samples_what_parallel_one_samples() -> None:
    serial = Controller(plane())
    serial.run(60)
    suggester = plane()
    driver = RandomOrder(Controller(suggester, parallel=4), random.Random(1))
    suggested: list[dict[str, str]] = []
    while len(suggested) < 60:
        suggested.extend(driver.step())
        # Never more members than the population: the generation's last members wait for room.
        assert len(suggester.sampler.members) <= suggester.sampler.optimizer.population_size
    # Same seed, same draws, same generations told (CMA-ES ranks a generation, so order does not matter).
    assert suggested[:60] == [t.assignment for t in serial.trials]
    sampler = suggester.sampler
    assert set(sampler.told_sizes) == {sampler.optimizer.population_size}
    assert len(sampler.told_sizes) == sampler.optimizer.generation >= 60 // sampler.optimizer.population_size - 1


def test_a_generation_has_a_member_for_every_parallel_slot() -> None:
    # The default population of a 2-d space is 6: at parallelTrialCount 8 it grows to 8, and survives a rebuild.
    suggester = plane()
    controller = Controller(suggester, parallel=8)
    assert len(controller.ask()) == 8 and not suggester.waiting()
    assert suggester.sampler.optimizer.population_size == 8
    rebuilt = make("cmaes", suggester.space, state=saved(suggester), random_state="2")
    rebuilt.suggest(1, controller.trials)
    assert rebuilt.sampler.optimizer.population_size == 8
    assert rebuilt.sampler.min_population == 8


def test_rebuilt_at_any_point_at_parallel_four_continues_exactly() -> None:
    # The generation's members, and whether it waits for them, are part of the state too.
    live = RandomOrder(Controller(plane(), parallel=4), random.Random(2))
    for call in range(45):
        controller = live.controller
        twin = Controller(
            make("cmaes", controller.suggester.space, state=saved(controller.suggester), random_state="2")
        )
        twin.parallel, twin.trials, twin.running = 4, list(controller.trials), list(controller.running)
        rng = random.Random()
        rng.setstate(live.rng.getstate())
        # A rebuilt suggester has not been asked yet: whether to wait first is the live one's answer.
        expected = RandomOrder(twin, rng).step(live.controller.full())
        assert live.step() == expected, f"call {call}"


def test_a_member_lost_in_a_crash_is_replaced_by_its_rerun() -> None:
    # The controller re-runs a TrialLost trial with the same values (a new trial): the re-run takes the lost
    # member's place, so the generation does not grow a member whose result it would never be told.
    suggester = plane()
    controller = Controller(suggester, parallel=4)
    controller.ask()
    population = suggester.sampler.optimizer.population_size
    lost = controller.trials[1]
    controller.trials[1] = replace(lost, phase="Killed")
    controller.trials.append(TrialResult("rerun", lost.assignment, "Running"))
    controller.running[1] = len(controller.trials) - 1
    # Room for the rest of the generation, and no more: the re-run is one of its members.
    batch = suggester.suggest(3, controller.trials)
    assert len(batch) == population - 4 == 2
    assert suggester.waiting()
    for suggestion in batch:
        controller.running.append(len(controller.trials))
        controller.trials.append(TrialResult(f"t-{len(controller.trials)}", suggestion.assignment, "Running"))
    # The generation is told once its members, the re-run among them, have completed: one trial more than
    # the population in all (the lost one), and none drawn beyond it.
    while controller.running:
        assert not suggester.sampler.told_sizes
        controller.finish(force=True)
    assert len(controller.trials) == population + 1
    controller.ask()
    assert list(suggester.sampler.told_sizes) == [population]


@pytest.mark.parametrize("strategy", ["ipop", "bipop"])
def test_rebuilt_just_before_a_restart_restarts_the_same_way(strategy: str) -> None:
    # The generation whose tell restarts CMA-ES is told before the call's first ask (to know the room left):
    # the restart's random mean and seed must come from the state and the asks, not from whatever the
    # sampler's generator was left at, or a suggester rebuilt just before it draws another run.
    suggester = plane(restart_strategy=strategy)
    controller = Controller(suggester, flat)
    for _ in range(250):
        controller.finish()
        state, trials = saved(suggester), list(controller.trials)
        restarts = suggester.sampler.n_restarts
        suggested = controller.ask()
        if suggester.sampler.n_restarts > restarts:
            break
    else:
        pytest.fail("no restart")
    rebuilt = make("cmaes", suggester.space, state=state, random_state="2", restart_strategy=strategy)
    assert [s.assignment for s in rebuilt.suggest(1, trials)] == suggested


def test_a_used_up_space_is_the_end_not_a_pause() -> None:
    # Fewer suggestions than the generation has room for means the finite space is used up: waiting() must
    # then say no, or the controller takes the end of the search space for a pause (and, with no trial left
    # active, ends the experiment as a suggester bug).
    space = space_of(param("n", "int", min="1", max="6"), param("m", "int", min="0", max="2"))
    suggester = make("cmaes", space, random_state="7")
    controller = Controller(suggester, lambda a: float(a["n"]), parallel=4)
    while len(controller.trials) < 18:
        controller.finish(force=True)
        controller.ask()
    while controller.running:
        controller.finish(force=True)
    population = suggester.sampler.optimizer.population_size
    assert suggester.suggest(population, controller.trials) == []
    assert not suggester.waiting()
