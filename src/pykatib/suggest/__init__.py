"""Suggestion algorithms: the registry of Katib's algorithm names and the validation of their settings."""

from pykatib.suggest.settings import (
    ALGORITHM_NAMES,
    EARLY_STOPPING_NAMES,
    SettingsContext,
    algorithm_settings,
    early_stopping_settings,
    validate_algorithm_settings,
    validate_early_stopping_settings,
)

__all__ = [
    "ALGORITHM_NAMES",
    "EARLY_STOPPING_NAMES",
    "SettingsContext",
    "algorithm_settings",
    "early_stopping_settings",
    "validate_algorithm_settings",
    "validate_early_stopping_settings",
]
