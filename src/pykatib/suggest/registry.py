"""Katib's ``algorithmName`` -> the class that runs it. Adding an algorithm: one module, one line here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

from pykatib.spec.models import ExperimentSpec, ObjectiveType
from pykatib.spec.space import SearchSpace, hyperband_resource, parse_search_space
from pykatib.suggest.base import AlgorithmNotAvailableError, Suggester
from pykatib.suggest.grid import GridSuggester
from pykatib.suggest.random import RandomSuggester
from pykatib.suggest.settings import ALGORITHM_NAMES, algorithm_settings

# The library-backed algorithms' packages are dependencies of pykatib itself: a missing one is a broken install.
_REINSTALL = "reinstall pykatib with its dependencies: pip install pykatib"


class _Suggesters(Mapping[str, type[Suggester]]):
    """name -> class; a class given as ``"module:Class"`` is imported on first use.

    Optuna, scikit-optimize and scikit-learn take a second or two to import: a command that runs no such
    algorithm (``pykatib validate``, a random search) never imports them.
    """

    def __init__(self, entries: Mapping[str, type[Suggester] | str]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> type[Suggester]:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = getattr(import_module(module), attribute)
            self._entries[name] = entry
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


SUGGESTERS: Mapping[str, type[Suggester]] = _Suggesters(
    {
        "random": RandomSuggester,
        "grid": GridSuggester,
        "tpe": "pykatib.suggest.tpe:TpeSuggester",
        "multivariate-tpe": "pykatib.suggest.multivariate_tpe:MultivariateTpeSuggester",
        "cmaes": "pykatib.suggest.cmaes:CmaesSuggester",
        "sobol": "pykatib.suggest.sobol:SobolSuggester",
        "bayesianoptimization": "pykatib.suggest.bayesianoptimization:BayesianOptimizationSuggester",
        "hyperband": "pykatib.suggest.hyperband:HyperbandSuggester",
        "pbt": "pykatib.suggest.pbt:PbtSuggester",
    }
)


def _unavailable(name: str, reason: str) -> AlgorithmNotAvailableError:
    error = AlgorithmNotAvailableError(name)
    error.args = (f"algorithm {name} is not available: {reason}",)
    return error


def create_suggester(
    algorithm_name: str,
    space: SearchSpace,
    objective: ObjectiveType,
    settings: Mapping[str, object],
    state: Mapping[str, Any] | None = None,
) -> Suggester:
    """A suggester for one experiment; ``settings`` are the typed ones from ``algorithm_settings``.

    Raises :class:`AlgorithmNotAvailableError` for a Katib algorithm not implemented yet (its settings
    still validate) or whose library is not installed, and ``ValueError`` for a name Katib does not know.
    """
    if algorithm_name in SUGGESTERS:
        try:
            suggester = SUGGESTERS[algorithm_name]
        except ImportError as error:
            missing = f"it needs {error.name or error}, not installed ({_REINSTALL})"
            raise _unavailable(algorithm_name, missing) from error
        return suggester(space, objective, settings, state)
    if algorithm_name in ALGORITHM_NAMES:
        raise AlgorithmNotAvailableError(algorithm_name)
    raise ValueError(f'unknown algorithm "{algorithm_name}"; known algorithms: {", ".join(ALGORITHM_NAMES)}')


def experiment_suggester(spec: ExperimentSpec, state: Mapping[str, Any] | None = None) -> Suggester:
    """The suggester of a validated experiment: its algorithm, parameters, objective type and settings."""
    assert spec.algorithm is not None and spec.algorithm.algorithm_name
    assert spec.objective is not None and spec.objective.type is not None
    name = spec.algorithm.algorithm_name
    space, _ = parse_search_space(spec.parameters or [], fixed_range=hyperband_resource(spec))
    settings = algorithm_settings(name, spec.algorithm.algorithm_settings or [])
    return create_suggester(name, space, spec.objective.type, settings, state)
