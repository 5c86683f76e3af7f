"""Katib's multivariate-tpe: Optuna's TPESampler, multivariate and with the constant liar; and the way the
Optuna-backed suggesters keep their study in step with the experiment."""

from __future__ import annotations

from optuna.trial import TrialState

from pykatib.suggest import TrialResult
from pykatib.suggest.multivariate_tpe import MultivariateTpeSuggester
from suggest_support import Controller, make, param, saved, space_of


def plane() -> list:
    return [param("x", "double", min="-5", max="5"), param("y", "double", min="-5", max="5")]


def test_settings_reach_the_sampler() -> None:
    suggester = make("multivariate-tpe", space_of(*plane()), n_startup_trials="4", n_ei_candidates="9")
    assert isinstance(suggester, MultivariateTpeSuggester)
    sampler = suggester.sampler
    assert sampler.startup_trials == 4
    # Optuna keeps these privately (test_library_internals checks the names).
    assert (sampler._n_startup_trials, sampler._n_ei_candidates) == (4, 9)
    assert sampler._multivariate is True
    assert sampler._constant_liar is True


def test_running_trials_are_running_in_the_study_and_results_reach_their_own_trial() -> None:
    suggester = make("multivariate-tpe", space_of(*plane()), random_state="3")
    controller = Controller(suggester, parallel=3)
    controller.run(6)  # 8 trials: 5 ended, 3 running
    states = [t.state for t in suggester.study.trials]
    assert states.count(TrialState.RUNNING) == 3
    assert states.count(TrialState.COMPLETE) == 5
    for trial, frozen in zip(controller.trials, suggester.study.trials, strict=True):
        assert {k: str(v) for k, v in frozen.params.items()} == trial.assignment  # exactly the Katib values
        assert frozen.value == trial.objective


def test_phases_map_to_states_and_foreign_trials_are_added_once() -> None:
    suggester = make("multivariate-tpe", space_of(*plane()), random_state="3")
    trials = [
        TrialResult("a", {"x": "1.0", "y": "2"}, "Succeeded", 4.0),
        TrialResult("b", {"x": "2", "y": "2"}, "EarlyStopped", 3.0),
        TrialResult("c", {"x": "3", "y": "2"}, "Failed"),
        TrialResult("d", {"x": "4", "y": "2"}, "MetricsUnavailable"),
        TrialResult("e", {"x": "4.5", "y": "2"}, "Running"),
    ]
    suggester.suggest(1, trials)
    states = [t.state for t in suggester.study.trials]
    assert states[:5] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL] * 2 + [TrialState.RUNNING]
    trials[4] = TrialResult("e", {"x": "4.5", "y": "2"}, "Killed")
    suggester.suggest(1, trials)
    # Nothing is added twice; the running trial that was killed is now failed.
    assert [t.state for t in suggester.study.trials][:5] == [*states[:4], TrialState.FAIL]
    assert len(suggester.study.trials) == 7


def test_a_call_reads_only_what_is_new() -> None:
    suggester = make("multivariate-tpe", space_of(*plane()), random_state="3")
    controller = Controller(suggester)
    controller.run(30)
    count = len(suggester.study.trials)
    controller.run(1)
    assert len(suggester.study.trials) == count + 1
    # A rebuilt suggester adds the whole history once, then goes on one trial per call as well.
    rebuilt = make("multivariate-tpe", space_of(*plane()), state=saved(suggester), random_state="3")
    controller.suggester = rebuilt
    controller.run(2)
    assert len(rebuilt.study.trials) == len(controller.trials)


def model_based(suggester: MultivariateTpeSuggester) -> list[bool]:
    """For each Optuna trial, whether TPE's model chose it (the sampler records its relative params then)."""
    return [any(k.startswith("tpe:relative_params") for k in t.system_attrs) for t in suggester.study.trials]


def test_the_first_n_startup_trials_suggested_are_random_at_any_parallelism() -> None:
    # Optuna counts finished trials only: at parallelTrialCount 3 the 6th and 7th suggestions, made with 3 and
    # 4 results in, were random too. Here the first five suggested are, as at parallelTrialCount 1.
    for parallel in (1, 3):
        suggester = make("multivariate-tpe", space_of(*plane()), n_startup_trials="5", random_state="3")
        assert isinstance(suggester, MultivariateTpeSuggester)
        Controller(suggester, parallel=parallel).run(10)
        assert model_based(suggester) == [False] * 5 + [True] * (len(suggester.study.trials) - 5), parallel


def test_a_batch_before_any_result_is_random() -> None:
    # Nothing finished: no model, however many suggestions are out (n_startup_trials 2 < batch of 4).
    suggester = make("multivariate-tpe", space_of(*plane()), n_startup_trials="2", random_state="3")
    assert isinstance(suggester, MultivariateTpeSuggester)
    Controller(suggester, parallel=4).ask()
    assert model_based(suggester) == [False] * 4
