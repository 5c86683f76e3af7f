"""Early stopping: rules that stop trials from their objective reports as they stream in (``base``), and
Katib's medianstop (``medianstop``). ``create_early_stopper`` builds an experiment's rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pykatib.earlystop.base import EarlyStopper
from pykatib.earlystop.medianstop import MedianStop
from pykatib.spec.models import ExperimentSpec, ObjectiveType

__all__ = ["EARLY_STOPPERS", "EarlyStopper", "MedianStop", "create_early_stopper"]

# Katib's early-stopping algorithm names that pykatib runs -> the rule, built from the objective's direction
# and the typed settings. Adding a rule: one module implementing base.EarlyStopper, one line here.
EARLY_STOPPERS: dict[str, Callable[[ObjectiveType, Mapping[str, object]], EarlyStopper]] = {"medianstop": MedianStop}


def create_early_stopper(spec: ExperimentSpec) -> EarlyStopper | None:
    """The experiment's early-stopping rule, or None when it has none."""
    from pykatib.suggest.settings import early_stopping_settings

    early = spec.early_stopping
    if early is None or not early.algorithm_name:
        return None
    objective = spec.objective
    assert objective is not None and objective.type is not None
    build = EARLY_STOPPERS[early.algorithm_name]  # session.check_runnable refused any other name
    return build(objective.type, early_stopping_settings(early.algorithm_name, early.algorithm_settings or []))
