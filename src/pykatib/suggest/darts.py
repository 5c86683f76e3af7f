"""Katib's ``darts`` algorithm (pkg/suggestion/v1beta1/nas/darts/service.py).

DARTS searches inside the trial: the suggestion only hands every trial the same three assignments, the
algorithm settings (Katib's defaults merged with the ones given, as written), the search space (the
operation names derived from ``nasConfig.operations``) and the number of layers, formatted exactly as
Katib's service formats them. Katib answers every request, however many trials it asks for, with those
same assignments; so does this suggester: ``maxTrialCount`` above 1 runs the same search again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pykatib.spec.models import AlgorithmSetting, NasConfig
from pykatib.spec.nas import darts_errors
from pykatib.spec.settings import algorithm_settings
from pykatib.suggest.base import Suggester, Suggestion, TrialResult
from pykatib.suggest.registry import AlgorithmRefusedError

# The keys under which the registry hands a NAS algorithm the experiment's nasConfig and its settings as
# written (Katib's services read both from the experiment, not from typed settings).
NAS_CONFIG = "nasConfig"
RAW_SETTINGS = "algorithmSettings"
_PATH = "spec.nasConfig"

# Katib's get_algorithm_settings defaults, in its order (the order shows in the formatted string): the
# settings table's (spec/_settings_algorithms.py, DARTS), which lists them as Katib's service does.
DEFAULT_SETTINGS: dict[str, object] = algorithm_settings("darts", ())


class NasConfigError(ValueError):
    """A nasConfig Katib's darts service refuses (validate_operations) or cannot turn into a search space."""


def nas_config_problems(nas_config: NasConfig) -> list[str]:
    """Katib's darts checks of the nasConfig (:func:`pykatib.spec.nas.darts_errors`), each as ``path: message``."""
    return [str(error) for error in darts_errors(nas_config)]


def search_space(nas_config: NasConfig) -> list[str]:
    """Katib's get_search_space: ``skip_connection`` as is, any other operation once per value of its first
    parameter's list, named ``{operationType}_{v}x{v}`` (``max_pooling_3x3``)."""
    names: list[str] = []
    for operation in nas_config.operations or []:
        kind = operation.operation_type or ""
        if kind == "skip_connection":
            names.append(kind)
            continue
        values = operation.parameters[0].feasible_space.list if operation.parameters else None
        names.extend(f"{kind}_{size}x{size}" for size in values or ())
    return names


def merged_settings(settings: Sequence[AlgorithmSetting]) -> dict[str, object]:
    """Katib's get_algorithm_settings: the defaults, each given setting replacing its default by the string as
    written ("None" becomes None); a given name keeps the default's place."""
    merged = dict(DEFAULT_SETTINGS)
    for setting in settings:
        merged[setting.name] = None if setting.value == "None" else setting.value
    return merged


def _katib_str(value: object) -> str:
    # service.py: str(json.dumps(x)).replace('\"', '\'')
    return str(json.dumps(value)).replace('"', "'")


def darts_assignments(nas_config: NasConfig, settings: Sequence[AlgorithmSetting]) -> dict[str, str]:
    """The three assignments every DARTS trial gets, as Katib's GetSuggestions builds them; NasConfigError
    naming every problem of a nasConfig Katib's service refuses."""
    problems = nas_config_problems(nas_config)
    if problems:
        raise NasConfigError("; ".join(problems))
    graph = nas_config.graph_config
    assert graph is not None
    return {
        "algorithm-settings": _katib_str(merged_settings(settings)),
        "search-space": _katib_str(search_space(nas_config)),
        "num-layers": str(graph.num_layers),
    }


class DartsSuggester(Suggester):
    """The same three assignments for every trial asked for; no state."""

    inline = True

    def setup(self, state: Mapping[str, Any]) -> None:
        # Refused before any trial starts (pykatib run exits 2 naming the field), as Katib's service refuses it.
        nas_config = self.settings.get(NAS_CONFIG)
        if not isinstance(nas_config, NasConfig):
            raise AlgorithmRefusedError("darts", f"{_PATH}: algorithm darts needs spec.nasConfig")
        raw = self.settings.get(RAW_SETTINGS) or ()
        assert isinstance(raw, Sequence)
        try:
            self._assignment = darts_assignments(nas_config, raw)
        except NasConfigError as error:
            raise AlgorithmRefusedError("darts", str(error)) from error

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        return [Suggestion(dict(self._assignment)) for _ in range(n)]
