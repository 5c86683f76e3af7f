"""A trial's Kubernetes object, rendered from the experiment's template and one assignment.

v1beta1: ``${trialParameters.X}`` placeholders replaced inside each string (pykatib.trial.template).
v1alpha3: the Go template rendered with ``.Trial``, ``.NameSpace``, ``.Experiment``, ``.HyperParameters``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from pykatib.spec import safe_yaml
from pykatib.spec.limits import MAX_FILE_BYTES
from pykatib.spec.loader import sample_go_template_data
from pykatib.spec.models import Experiment
from pykatib.trial.gotemplate import render_go_template
from pykatib.trial.template import parse_meta_reference, substitute

TRIAL_NAME_ALPHABET = string.ascii_lowercase + string.digits
TRIAL_NAME_SUFFIX_LENGTH = 8


class TrialRenderError(ValueError):
    """The template cannot produce a runnable object for this assignment."""


def new_trial_name(experiment_name: str) -> str:
    """``<experiment>-<8 random chars>`` as Katib names trials (lower-case letters and digits)."""
    # One system-random read per name (secrets.choice reads once per character).
    raw = secrets.token_bytes(TRIAL_NAME_SUFFIX_LENGTH)
    suffix = "".join(TRIAL_NAME_ALPHABET[b % len(TRIAL_NAME_ALPHABET)] for b in raw)
    return f"{experiment_name}-{suffix}"


def render_trial(
    experiment: Experiment,
    trial_name: str,
    assignment: Mapping[str, str],
    *,
    labels: Mapping[str, str] | None = None,
    trial_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The trial's object. ``trial_spec`` overrides the template (a ConfigMap's template read at load time)."""
    template = experiment.spec.trial_template
    if template is None:
        raise TrialRenderError("the experiment has no trialTemplate")
    if template.go_template is not None and template.go_template.raw_template is not None:
        data = sample_go_template_data(experiment, trial_name, assignment)
        rendered = render_go_template(template.go_template.raw_template, data, limit=MAX_FILE_BYTES)
        obj = safe_yaml.load(rendered)
        if not isinstance(obj, dict):
            raise TrialRenderError("the rendered Go template is not a Kubernetes object")
        return obj
    source = trial_spec if trial_spec is not None else template.trial_spec
    if source is None:
        raise TrialRenderError("the experiment's trial template could not be resolved")
    kind = str(source.get("kind", ""))
    api_version = str(source.get("apiVersion", ""))
    values: dict[str, str] = {}
    for parameter in template.trial_parameters or ():
        meta = parse_meta_reference(parameter.reference)
        if meta is None:
            if parameter.reference not in assignment:
                raise TrialRenderError(f"no value for parameter {parameter.reference!r}")
            values[parameter.name] = assignment[parameter.reference]
            continue
        key, index = meta
        if key == "Name":
            values[parameter.name] = trial_name
        elif key == "Namespace":
            values[parameter.name] = experiment.metadata.namespace or "default"
        elif key == "Kind":
            values[parameter.name] = kind
        elif key == "APIVersion":
            values[parameter.name] = api_version
        elif key == "Labels":
            values[parameter.name] = (labels or {}).get(index or "", "")
        else:  # Annotations: trials carry none of their own here
            values[parameter.name] = ""
    rendered = substitute(source, values)
    assert isinstance(rendered, dict)
    return rendered
