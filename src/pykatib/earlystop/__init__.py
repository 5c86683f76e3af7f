"""Early stopping: rules that stop trials from their objective reports as they stream in (``base``), and
Katib's medianstop (``medianstop``). ``create_early_stopper`` builds an experiment's rule from the one
algorithm registry (``spec.settings``), which names each rule's class."""

from __future__ import annotations

from pykatib.earlystop.base import EarlyStopper
from pykatib.earlystop.medianstop import MedianStop
from pykatib.spec.models import ExperimentSpec
from pykatib.spec.settings import early_stopping_implementation, early_stopping_settings, load_implementation

__all__ = ["EarlyStopper", "MedianStop", "create_early_stopper", "early_stopping_available"]


def early_stopping_available(algorithm_name: str) -> bool:
    """Whether pykatib runs this Katib early-stopping algorithm (its settings validate either way)."""
    return early_stopping_implementation(algorithm_name) is not None


def create_early_stopper(spec: ExperimentSpec) -> EarlyStopper | None:
    """The experiment's early-stopping rule, or None when it has none. Each rule is built from the
    objective's direction and its typed settings."""
    early = spec.early_stopping
    if early is None or not early.algorithm_name:
        return None
    objective = spec.objective
    assert objective is not None and objective.type is not None
    path = early_stopping_implementation(early.algorithm_name)
    assert path is not None, "session.check_runnable refuses a rule pykatib cannot run"
    rule: EarlyStopper = load_implementation(path)(
        objective.type, early_stopping_settings(early.algorithm_name, early.algorithm_settings or [])
    )
    return rule
