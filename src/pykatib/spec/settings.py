"""Katib's algorithm registry (name -> settings rules -> implementation) and its settings validation.

Katib asks each suggestion service to validate its own ``algorithmSettings`` and stops at the first
problem; here every algorithm is a table (``_settings_algorithms``) run by one validator that reports
every problem at once, each with the path of the field to fix. All setting values are strings, as in
Katib; nothing here raises on bad input except :func:`algorithm_settings` and
:func:`early_stopping_settings`, which are meant for settings that already validated.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from pykatib.spec._settings_algorithms import ALGORITHMS, EARLY_STOPPING
from pykatib.spec._settings_base import AlgorithmRules, ParsedSettings, SettingsContext, SettingValueError
from pykatib.spec.errors import SpecError
from pykatib.spec.models import AlgorithmSetting

__all__ = [
    "ALGORITHM_NAMES",
    "EARLY_STOPPING_NAMES",
    "SettingsContext",
    "algorithm_implementation",
    "algorithm_settings",
    "early_stopping_implementation",
    "early_stopping_settings",
    "validate_algorithm_settings",
    "validate_early_stopping_settings",
]

ALGORITHM_NAMES: tuple[str, ...] = tuple(ALGORITHMS)
EARLY_STOPPING_NAMES: tuple[str, ...] = tuple(EARLY_STOPPING)

_ALGORITHM = "spec.algorithm"
_EARLY_STOPPING = "spec.earlyStopping"
_NAS_ALGORITHMS = ", ".join(name for name, rules in ALGORITHMS.items() if rules.nas)


def _unknown(kind: str, name: str, known: Sequence[str]) -> str:
    return f'unknown {kind} "{name}"; known algorithms: {", ".join(known)}'


def _parse(
    algorithm_name: str, rules: AlgorithmRules, settings: Sequence[AlgorithmSetting], base_path: str
) -> tuple[ParsedSettings, list[SpecError]]:
    """Check each setting against the table; collect every error rather than stopping at the first."""
    errors: list[SpecError] = []
    values = {name: setting.default for name, setting in rules.settings.items() if not setting.required}
    index: dict[str, int] = {}
    for i, given in enumerate(settings):
        name = given.name
        if name in index:
            # Katib turns the list into a dict and the last one silently wins; say so instead.
            errors.append(
                SpecError(
                    f"{base_path}[{i}].name",
                    f"duplicate setting {name} (already set at {base_path}[{index[name]}])",
                )
            )
            continue
        index[name] = i
        setting = rules.settings.get(name)
        if setting is None:
            errors.append(SpecError(f"{base_path}[{i}].name", f"unknown setting {name} for algorithm {algorithm_name}"))
            continue
        try:
            values[name] = setting.parse(name, given.value)
        except SettingValueError as error:
            values.pop(name, None)
            errors.append(SpecError(f"{base_path}[{i}].value", str(error)))
    missing = [name for name, setting in rules.settings.items() if setting.required and name not in index]
    if missing:
        errors.append(SpecError(base_path, rules.missing_message(missing)))
    return ParsedSettings(base_path, values, index), errors


def _check_nas(algorithm_name: str, rules: AlgorithmRules, ctx: SettingsContext) -> list[SpecError]:
    if rules.nas and not ctx.has_nas_config:
        return [
            SpecError(
                "spec.nasConfig",
                f"algorithm {algorithm_name} searches a neural architecture and needs spec.nasConfig",
            )
        ]
    # With both parameters and nasConfig the "exactly one of" rule of spec validation already speaks.
    if not rules.nas and ctx.has_nas_config and not ctx.parameter_specs:
        return [
            SpecError(
                "spec.nasConfig",
                f"nasConfig is only read by the NAS algorithms ({_NAS_ALGORITHMS}); "
                f"algorithm {algorithm_name} needs spec.parameters",
            )
        ]
    return []


def validate_algorithm_settings(
    algorithm_name: str, settings: Sequence[AlgorithmSetting], ctx: SettingsContext
) -> list[SpecError]:
    """Every problem with ``spec.algorithm`` (settings and the rules each algorithm sets on the experiment)."""
    rules = ALGORITHMS.get(algorithm_name)
    if rules is None:
        return [SpecError(f"{_ALGORITHM}.algorithmName", _unknown("algorithm", algorithm_name, ALGORITHM_NAMES))]
    parsed, errors = _parse(algorithm_name, rules, settings, f"{_ALGORITHM}.algorithmSettings")
    errors.extend(_check_nas(algorithm_name, rules, ctx))
    if rules.check is not None:
        errors.extend(rules.check(parsed, ctx))
    return errors


def validate_early_stopping_settings(algorithm_name: str, settings: Sequence[AlgorithmSetting]) -> list[SpecError]:
    """Every problem with ``spec.earlyStopping``."""
    rules = EARLY_STOPPING.get(algorithm_name)
    if rules is None:
        return [
            SpecError(
                f"{_EARLY_STOPPING}.algorithmName",
                _unknown("early stopping algorithm", algorithm_name, EARLY_STOPPING_NAMES),
            )
        ]
    _, errors = _parse(algorithm_name, rules, settings, f"{_EARLY_STOPPING}.algorithmSettings")
    return errors


def _typed(
    registry: dict[str, AlgorithmRules], algorithm_name: str, settings: Sequence[AlgorithmSetting], base_path: str
) -> dict[str, object]:
    rules = registry.get(algorithm_name)
    if rules is None:
        raise ValueError(_unknown("algorithm", algorithm_name, tuple(registry)))
    parsed, errors = _parse(algorithm_name, rules, settings, base_path)
    if errors:
        # A caller that skipped validation gets the same messages validation would have given.
        raise ValueError("; ".join(str(error) for error in errors))
    # Table order, so that a printed settings dict reads the same for every experiment.
    return {name: parsed.values[name] for name in rules.settings if name in parsed.values}


def algorithm_settings(algorithm_name: str, settings: Sequence[AlgorithmSetting]) -> dict[str, object]:
    """The typed settings with Katib's defaults filled in, e.g. tpe ->
    ``{"gamma": 0.25, "prior_weight": 1.0, "n_EI_candidates": 24, "random_state": None}``.

    Meant for settings that passed :func:`validate_algorithm_settings`; raises ``ValueError`` otherwise.
    """
    return _typed(ALGORITHMS, algorithm_name, settings, f"{_ALGORITHM}.algorithmSettings")


def early_stopping_settings(algorithm_name: str, settings: Sequence[AlgorithmSetting]) -> dict[str, object]:
    """The typed early-stopping settings with defaults, e.g. medianstop ->
    ``{"min_trials_required": 3, "start_step": 4}``. Raises ``ValueError`` on invalid settings.
    """
    return _typed(EARLY_STOPPING, algorithm_name, settings, f"{_EARLY_STOPPING}.algorithmSettings")


def algorithm_implementation(algorithm_name: str) -> str | None:
    """``"module:Class"`` of the suggester that runs a Katib algorithm; None when pykatib cannot run it yet
    (ValueError for a name Katib does not know)."""
    rules = ALGORITHMS.get(algorithm_name)
    if rules is None:
        raise ValueError(_unknown("algorithm", algorithm_name, ALGORITHM_NAMES))
    return rules.implementation


def early_stopping_implementation(algorithm_name: str) -> str | None:
    """``"module:Class"`` of the rule that runs a Katib early-stopping algorithm; None when pykatib cannot
    run it yet."""
    rules = EARLY_STOPPING.get(algorithm_name)
    if rules is None:
        raise ValueError(_unknown("early stopping algorithm", algorithm_name, EARLY_STOPPING_NAMES))
    return rules.implementation


def load_implementation(path: str) -> type:
    """The class named by ``"module:Class"`` (imported now: Optuna and scikit-optimize take a second or two,
    so a run imports only the algorithm it uses). The classes live in higher layers (suggest, earlystop):
    spec names them and never imports them itself; their packages call this."""
    module, _, attribute = path.partition(":")
    loaded = getattr(import_module(module), attribute)
    assert isinstance(loaded, type), path
    return loaded
