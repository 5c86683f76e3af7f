"""The Experiment spec: Katib's v1beta1 models, v1alpha3 conversion, defaults and validation."""

from pykatib.spec.errors import InvalidExperimentError, SpecError
from pykatib.spec.loader import LoadedDocument, SpecFileError, load_experiment, load_file, parse_experiment
from pykatib.spec.models import Experiment
from pykatib.spec.space import Assignment, Parameter, SearchSpace, parse_search_space

__all__ = [
    "Assignment",
    "Experiment",
    "InvalidExperimentError",
    "LoadedDocument",
    "Parameter",
    "SearchSpace",
    "SpecError",
    "SpecFileError",
    "load_experiment",
    "load_file",
    "parse_experiment",
    "parse_search_space",
]
