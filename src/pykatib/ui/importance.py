"""Parameter importance for the experiment page: Optuna's PED-ANOVA evaluator (``optuna.importance``) over the
succeeded trials, once there are MIN_TRIALS of them.

PED-ANOVA compares where the top trials' values lie with where all of them do; it needs no model, so 10,000
trials take ~0.1 s, but building an Optuna study of them costs ~0.5 s: above SAMPLE trials a seeded uniform
sample of them is evaluated (a sample keeps the quantiles PED-ANOVA compares). Results are kept per experiment
while its count of succeeded trials is the same. ``preload`` imports Optuna (~1 s) in the background when the
server starts, so that the first page does not wait for it.
"""

from __future__ import annotations

import random
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from pykatib.spec.conditions import TrialPhase
from pykatib.spec.models import ExperimentSpec, ParameterType
from pykatib.spec.space import Parameter, parse_search_space
from pykatib.store import ExperimentRecord, TrialRecord

MIN_TRIALS = 5
SAMPLE = 2000
EVALUATOR = "PedAnovaImportanceEvaluator"


def preload() -> None:
    """Import Optuna's importance module in a daemon thread (the first request then finds it imported)."""
    threading.Thread(target=_import, name="pykatib-ui-optuna", daemon=True).start()


def _import() -> None:
    import optuna.importance  # noqa: F401


KEPT_EXPERIMENTS = 64  # importances kept, one per experiment


class ImportanceCache:
    """The last importance computed per experiment, by its count of succeeded trials (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (id, created_at): a deleted experiment's row id may be handed to the next one created.
        self._kept: dict[tuple[int, Any], tuple[int, dict[str, Any]]] = {}
        self._computing: dict[tuple[int, Any], threading.Lock] = {}  # one computation per experiment at a time

    def get(self, record: ExperimentRecord, trials: Callable[[], Sequence[TrialRecord]]) -> dict[str, Any]:
        """The importance of ``record``'s succeeded trials; ``trials()`` (its trials, read from the store: about
        0.2 s for 10,000) is called only when its status counts another number of succeeded trials. Pages
        asking at once for the same experiment wait for one computation."""
        key = (record.id, record.created_at)
        succeeded = (record.status or {}).get("trialsSucceeded")
        count = succeeded if isinstance(succeeded, int) else -1
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                kept = self._kept.get(key)
            if kept is not None and count >= 0 and kept[0] == count:
                return kept[1]
            done = [t for t in trials() if t.phase == TrialPhase.SUCCEEDED and t.objective_value is not None]
            result = importance(record, done)
            with self._lock:
                self._kept.pop(key, None)
                self._kept[key] = (count, result)
                while len(self._kept) > KEPT_EXPERIMENTS:
                    dropped = next(iter(self._kept))  # the least recently computed
                    del self._kept[dropped]
                    if dropped != key:
                        self._computing.pop(dropped, None)
            return result


def importance(record: ExperimentRecord, done: Sequence[TrialRecord]) -> dict[str, Any]:
    """``{"trials": N, "used": n, "importances": {parameter: share}}`` over the succeeded trials ``done``;
    ``importances`` is empty below MIN_TRIALS, or when no parameter varies."""
    answer: dict[str, Any] = {
        "trials": len(done),
        "used": 0,
        "minTrials": MIN_TRIALS,
        "evaluator": EVALUATOR,
        "importances": {},
    }
    if len(done) < MIN_TRIALS:
        return answer
    spec = ExperimentSpec.model_validate(record.spec.get("spec") or {})
    space, _ = parse_search_space(spec.parameters or [])
    used = list(done)
    if len(used) > SAMPLE:
        used = random.Random(0).sample(used, SAMPLE)
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {p.name: _distribution(p) for p in space}
    frozen = []
    for trial in used:
        params = {}
        for name, value in trial.parameter_assignments.items():
            parameter = space.by_name(name)
            if parameter is not None:
                params[name] = _value(parameter, value)
        if set(params) != set(distributions) or any(v is None for v in params.values()):
            continue
        try:
            frozen.append(optuna.trial.create_trial(params=params, distributions=distributions,
                                                    value=trial.objective_value))  # fmt: skip
        except ValueError:
            continue  # a value outside its range (a space edited since): left out
    answer["used"] = len(frozen)
    if len(frozen) < MIN_TRIALS:
        return answer
    maximize = spec.objective is not None and spec.objective.type == "maximize"
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    study.add_trials(frozen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PED-ANOVA is marked experimental
        try:
            found = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
        except (ValueError, RuntimeError):
            return answer
    answer["importances"] = {name: float(value) for name, value in found.items()}
    return answer


def _distribution(parameter: Parameter) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if parameter.type is ParameterType.DOUBLE:
        assert parameter.min is not None and parameter.max is not None
        return FloatDistribution(parameter.min, parameter.max, log=parameter.distribution.value.startswith("log"))
    if parameter.type is ParameterType.INT:
        assert parameter.min is not None and parameter.max is not None
        return IntDistribution(int(parameter.min), int(parameter.max))
    return CategoricalDistribution(list(parameter.values))


def _value(parameter: Parameter, value: str) -> Any:
    try:
        if parameter.type is ParameterType.DOUBLE:
            return float(value)
        if parameter.type is ParameterType.INT:
            return round(float(value))
    except ValueError:
        return None
    return value if value in parameter.values else None
