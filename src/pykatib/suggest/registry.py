"""Katib's ``algorithmName`` -> the class that runs it. Adding an algorithm: one module, one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pykatib.spec.models import ObjectiveType
from pykatib.spec.space import SearchSpace
from pykatib.suggest.base import AlgorithmNotAvailableError, Suggester
from pykatib.suggest.grid import GridSuggester
from pykatib.suggest.random import RandomSuggester
from pykatib.suggest.settings import ALGORITHM_NAMES

SUGGESTERS: dict[str, type[Suggester]] = {
    "random": RandomSuggester,
    "grid": GridSuggester,
}


def create_suggester(
    algorithm_name: str,
    space: SearchSpace,
    objective: ObjectiveType,
    settings: Mapping[str, object],
    state: Mapping[str, Any] | None = None,
) -> Suggester:
    """A suggester for one experiment; ``settings`` are the typed ones from ``algorithm_settings``.

    Raises :class:`AlgorithmNotAvailableError` for a Katib algorithm not implemented yet (its settings
    still validate) and ``ValueError`` for a name Katib does not know.
    """
    suggester = SUGGESTERS.get(algorithm_name)
    if suggester is not None:
        return suggester(space, objective, settings, state)
    if algorithm_name in ALGORITHM_NAMES:
        raise AlgorithmNotAvailableError(algorithm_name)
    raise ValueError(f'unknown algorithm "{algorithm_name}"; known algorithms: {", ".join(ALGORITHM_NAMES)}')
