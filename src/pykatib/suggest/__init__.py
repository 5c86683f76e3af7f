"""Suggestion algorithms: the registry of Katib's algorithm names, their settings, and the suggesters."""

from pykatib.spec.settings import (
    ALGORITHM_NAMES,
    EARLY_STOPPING_NAMES,
    SettingsContext,
    algorithm_settings,
    early_stopping_settings,
    validate_algorithm_settings,
    validate_early_stopping_settings,
)
from pykatib.suggest.base import AlgorithmNotAvailableError, Suggester, Suggestion, TrialResult
from pykatib.suggest.registry import SUGGESTERS, create_suggester

__all__ = [
    "ALGORITHM_NAMES",
    "EARLY_STOPPING_NAMES",
    "SUGGESTERS",
    "AlgorithmNotAvailableError",
    "SettingsContext",
    "Suggester",
    "Suggestion",
    "TrialResult",
    "algorithm_settings",
    "create_suggester",
    "early_stopping_settings",
    "validate_algorithm_settings",
    "validate_early_stopping_settings",
]
