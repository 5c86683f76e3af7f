"""Read Experiment YAML (v1beta1, or v1alpha3 converted), apply Katib's defaults, validate.

A file may hold several documents; each Experiment in it is read on its own. ConfigMap documents in the
same file (or in files given with ``--configmap``) stand in for the cluster's ConfigMaps that
``trialTemplate.configMap`` points at.
"""

from __future__ import annotations

import difflib
import os
import stat
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pykatib.spec import safe_yaml
from pykatib.spec.defaults import apply_defaults
from pykatib.spec.errors import InvalidExperimentError, SpecError
from pykatib.spec.limits import MAX_FILE_BYTES
from pykatib.spec.models import API_VERSION, API_VERSION_V1ALPHA3, KIND, Experiment, ResumePolicy
from pykatib.spec.safe_yaml import YamlLimitError
from pykatib.spec.validation import validate
from pykatib.trial.gotemplate import GoTemplateError, render_go_template
from pykatib.trial.job import default_primary_container

ConfigMaps = Mapping[tuple[str, str], Mapping[str, str]]
SAMPLE_TRIAL_SUFFIX = "sample"


class SpecFileError(OSError):
    """The file cannot be read at all (missing, a directory, no permission): usage, not content."""


@dataclass
class LoadedDocument:
    """One YAML document of a file: an Experiment (defaulted) or the errors that stop it."""

    source: str
    index: int
    experiment: Experiment | None = None
    errors: list[SpecError] = field(default_factory=list)
    # The trial object as it would be rendered for a trial, when the template is not a plain trialSpec.
    sample_trial_spec: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.experiment is not None and not self.errors


def read_documents(path: str | Path) -> tuple[list[Any], SpecError | None]:
    """Every YAML document of the file, or the error that stops the reading: a syntax error, a file over
    MAX_FILE_BYTES, or aliases that expand it beyond MAX_ALIAS_NODES (see ``safe_yaml``)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                return [], _too_large(stream.fileno())
    except OSError as exc:  # missing, a directory, no permission: the file cannot be read at all
        raise SpecFileError(f"{path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], SpecError("", f"file is not UTF-8 text ({exc.reason} at byte {exc.start})")
    try:
        return safe_yaml.load_all(text), None
    except YamlLimitError as exc:
        return [], SpecError("", str(exc))
    except yaml.YAMLError as exc:
        return [], SpecError("", f"YAML syntax error: {_syntax_error(exc)}")
    except RecursionError:
        return [], SpecError("", "YAML document is nested too deeply")


def _syntax_error(exc: yaml.YAMLError) -> str:
    """'line L, column C: problem', with the construct it was in ('while parsing a flow sequence started
    at line 1, column 7'): libyaml places an unclosed bracket's error at the end of the file."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    text = f"{where}{getattr(exc, 'problem', None) or exc}"
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if (
        context
        and context_mark is not None
        and (mark is None or (context_mark.line, context_mark.column) != (mark.line, mark.column))
    ):
        text += f" ({context} started at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return text


def _too_large(fileno: int) -> SpecError:
    info = os.fstat(fileno)
    size = f"{info.st_size:,} bytes" if stat.S_ISREG(info.st_mode) else f"more than {MAX_FILE_BYTES:,} bytes"
    return SpecError(
        "",
        f"file is {size}: an Experiment file may have at most {MAX_FILE_BYTES:,} bytes (3 MiB, the Kubernetes "
        "API server's limit on a request)",
    )


def apply_overrides(document: Any, overrides: Sequence[str]) -> list[SpecError]:
    """``--set spec.maxTrialCount=4``: set a dotted path (``parameters.0`` or ``parameters[0]`` for lists)
    of the raw document to a YAML scalar, before defaults and validation, so the result is checked as if
    the user had written it in the file."""
    errors: list[SpecError] = []
    for override in overrides:
        path, sep, text = override.partition("=")
        if not sep or not path:
            errors.append(SpecError("", f"--set {override!r}: expected PATH=VALUE"))
            continue
        try:
            value = safe_yaml.load(text) if text else ""
        except (yaml.YAMLError, RecursionError):
            value = text
        parts = path.replace("[", ".").replace("]", "").split(".")
        target = document
        try:
            for part in parts[:-1]:
                target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
            if isinstance(target, list):
                target[int(parts[-1])] = value
            elif isinstance(target, dict):
                target[parts[-1]] = value
            else:
                raise TypeError(type(target).__name__)
        except (ValueError, IndexError, TypeError, AttributeError) as exc:
            errors.append(SpecError(path, f"--set cannot set this path: {exc}"))
    return errors


def load_file(
    path: str | Path, overrides: Sequence[str] = (), config_maps: ConfigMaps | None = None
) -> list[LoadedDocument]:
    """Load every Experiment of a file. ``config_maps``: ConfigMaps from elsewhere (``--configmap FILE``,
    see ``load_config_maps``); the file's own come first. Raises SpecFileError only when the file cannot be
    read."""
    source = str(path)
    documents, syntax_error = read_documents(path)
    if syntax_error is not None:
        return [LoadedDocument(source, 0, errors=[syntax_error])]
    override_errors = [e for doc in documents if not _is_config_map(doc) for e in apply_overrides(doc, overrides)]
    if override_errors:
        return [LoadedDocument(source, 0, errors=override_errors)]
    config_maps = {**(config_maps or {}), **_config_maps(documents)}
    loaded = [
        load_document(doc, source=source, index=i, config_maps=config_maps)
        for i, doc in enumerate(documents)
        if not _is_config_map(doc)
    ]
    if not loaded:
        return [LoadedDocument(source, 0, errors=[SpecError("", "no Experiment document found in the file")])]
    return loaded


def load_experiment(path: str | Path, *, name: str | None = None, overrides: Sequence[str] = ()) -> Experiment:
    """The one Experiment of a file (or the one called ``name``); InvalidExperimentError otherwise."""
    experiment = load_experiment_document(path, name=name, overrides=overrides).experiment
    assert experiment is not None  # load_experiment_document raises for a document without one
    return experiment


def load_config_maps(paths: Sequence[str | Path]) -> dict[tuple[str, str], Mapping[str, str]]:
    """The ConfigMap documents of these files (Katib's trial-template ConfigMaps, as ``kubectl apply``ed on a
    cluster), by (namespace, name). SpecFileError for a file that cannot be read or holds no ConfigMap."""
    found: dict[tuple[str, str], Mapping[str, str]] = {}
    for path in paths:
        documents, syntax_error = read_documents(path)
        if syntax_error is not None:
            raise SpecFileError(f"{path}: {syntax_error.message}")
        maps = _config_maps(documents)
        if not maps:
            raise SpecFileError(f"{path}: no ConfigMap document (apiVersion: v1, kind: ConfigMap) in the file")
        found.update(maps)
    return found


def load_experiment_document(
    path: str | Path,
    *,
    name: str | None = None,
    overrides: Sequence[str] = (),
    config_maps: ConfigMaps | None = None,
) -> LoadedDocument:
    """Like load_experiment, with the rendered sample trial (for a ConfigMap or Go template)."""
    documents = load_file(path, overrides, config_maps)
    if name is not None:
        documents = [
            d for d in documents if d.experiment is not None and d.experiment.metadata.name == name
        ] or documents
    for document in documents:
        if not document.ok:
            raise InvalidExperimentError(document.errors, _label(document))
    if len(documents) > 1:
        names = ", ".join(str(d.experiment.metadata.name) for d in documents if d.experiment)
        raise InvalidExperimentError(
            [SpecError("", f"the file holds {len(documents)} experiments ({names}): name one")], str(path)
        )
    assert documents[0].experiment is not None
    return documents[0]


def parse_experiment(data: Any, *, source: str = "<experiment>", config_maps: ConfigMaps | None = None) -> Experiment:
    """Default and validate one Experiment given as a dict (SDK, REST); InvalidExperimentError if invalid."""
    document = load_document(data, source=source, index=0, config_maps=config_maps or {})
    if not document.ok:
        raise InvalidExperimentError(document.errors, source)
    assert document.experiment is not None
    return document.experiment


def _label(document: LoadedDocument) -> str:
    return f"{document.source} (document {document.index + 1})" if document.index else document.source


def load_document(data: Any, *, source: str, index: int, config_maps: ConfigMaps) -> LoadedDocument:
    result = LoadedDocument(source, index)
    try:
        _load_into(result, data, config_maps)
    except RecursionError:
        result.errors = [SpecError("", "document is nested too deeply")]
    return result


def _load_into(result: LoadedDocument, data: Any, config_maps: ConfigMaps) -> None:
    if not isinstance(data, dict):
        result.errors.append(SpecError("", f"an Experiment must be a YAML mapping, got {type(data).__name__}"))
        return
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if kind != KIND:
        result.errors.append(SpecError("kind", f"must be {KIND}, got {kind!r}"))
        return
    v1alpha3 = api_version == API_VERSION_V1ALPHA3
    if api_version not in (API_VERSION, API_VERSION_V1ALPHA3):
        result.errors.append(
            SpecError("apiVersion", f"must be {API_VERSION} or {API_VERSION_V1ALPHA3}, got {api_version!r}")
        )
        return
    try:
        experiment = Experiment.model_validate({**data, "apiVersion": API_VERSION})
    except ValidationError as exc:
        result.errors.extend(_pydantic_errors(exc))
        return
    if v1alpha3 and experiment.spec.resume_policy is None:
        experiment.spec.resume_policy = ResumePolicy.LONG_RUNNING  # v1alpha3's own default
    trial_spec, template_errors = _external_trial_spec(experiment, config_maps)
    result.errors.extend(template_errors)
    trial_kind = trial_spec.get("kind") if isinstance(trial_spec, dict) else None
    template = experiment.spec.trial_template
    if template is not None and template.go_template is not None and not template.primary_container_name:
        # v1alpha3 had no primaryContainerName: Katib found the container by the job kind.
        template.primary_container_name = default_primary_container(trial_spec) if trial_spec else None
    experiment = apply_defaults(experiment, trial_kind=str(trial_kind) if trial_kind else None)
    result.errors.extend(validate(experiment, trial_spec=trial_spec))
    result.experiment = experiment
    result.sample_trial_spec = trial_spec


def _external_trial_spec(exp: Experiment, config_maps: ConfigMaps) -> tuple[dict[str, Any] | None, list[SpecError]]:
    """The trial object for a template held outside ``trialSpec``: ConfigMap text or a v1alpha3 Go template."""
    template = exp.spec.trial_template
    if template is None or template.trial_spec is not None:
        return None, []
    path = "spec.trialTemplate"
    if template.go_template is not None:
        go = template.go_template
        text = go.raw_template
        if text is None and go.template_spec is not None:
            text, error = _config_map_text(go.template_spec, f"{path}.goTemplate.templateSpec", config_maps)
            if error:
                return None, [error]
        if text is None:
            return None, [SpecError(f"{path}.goTemplate", "rawTemplate or templateSpec must be specified")]
        try:
            rendered = render_go_template(text, sample_go_template_data(exp), limit=MAX_FILE_BYTES)
        except GoTemplateError as exc:
            return None, [SpecError(f"{path}.goTemplate.rawTemplate", str(exc))]
        return _parse_trial_yaml(rendered, f"{path}.goTemplate.rawTemplate")
    if template.config_map is not None:
        text, error = _config_map_text(template.config_map, f"{path}.configMap", config_maps)
        if error:
            return None, [error]
        assert text is not None
        return _parse_trial_yaml(text, f"{path}.configMap")
    return None, []


def sample_go_template_data(
    exp: Experiment, trial_name: str | None = None, values: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The data Katib's v1alpha3 controller gave a Go template; sample values unless ``values`` is given."""
    name = exp.metadata.name or "experiment"
    hyper = []
    for parameter in exp.spec.parameters or ():
        fs = parameter.feasible_space
        value = values[parameter.name] if values else (fs.min or (fs.list[0] if fs.list else "") or "")
        hyper.append({"Name": parameter.name, "Value": value})
    return {
        "Trial": trial_name or f"{name}-{SAMPLE_TRIAL_SUFFIX}",
        "Experiment": name,
        "NameSpace": exp.metadata.namespace or "default",
        "HyperParameters": hyper,
    }


def _parse_trial_yaml(text: str, path: str) -> tuple[dict[str, Any] | None, list[SpecError]]:
    try:
        obj = safe_yaml.load(text)
    except YamlLimitError as exc:
        return None, [SpecError(path, f"the rendered trial template: {exc}")]
    except yaml.YAMLError as exc:
        return None, [SpecError(path, f"the rendered trial template is not valid YAML: {exc}")]
    if not isinstance(obj, dict):
        return None, [SpecError(path, "the rendered trial template must be a Kubernetes object (a mapping)")]
    if not obj.get("apiVersion") or not obj.get("kind"):
        return obj, [SpecError(path, "APIVersion and Kind in the trial template must be specified")]
    return obj, []


def _config_map_text(source: Any, path: str, config_maps: ConfigMaps) -> tuple[str | None, SpecError | None]:
    key = (source.config_map_namespace or "", source.config_map_name or "")
    data = config_maps.get(key)
    if data is None:
        return None, SpecError(
            path,
            f"ConfigMap {key[0]}/{key[1]} not found: pykatib reads ConfigMaps from documents in the same file "
            "and from --configmap FILE",
        )
    text = data.get(source.template_path or "")
    if not isinstance(text, str):
        return None, SpecError(path, f"ConfigMap {key[0]}/{key[1]} has no key {source.template_path!r}")
    return text, None


def _is_config_map(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "ConfigMap" and doc.get("apiVersion") == "v1"


def _config_maps(documents: list[Any]) -> dict[tuple[str, str], Mapping[str, str]]:
    found: dict[tuple[str, str], Mapping[str, str]] = {}
    for doc in documents:
        if _is_config_map(doc):
            meta = doc.get("metadata") or {}
            data = doc.get("data") or {}
            if isinstance(meta, dict) and isinstance(data, dict):
                found[(str(meta.get("namespace", "default")), str(meta.get("name", "")))] = data
    return found


# --- pydantic errors, in Katib's paths and plain words ---------------------------------------------


def _pydantic_errors(exc: ValidationError) -> list[SpecError]:
    errors = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        path = _path(loc)
        kind = error["type"]
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "unknown field" + _suggestion(loc)
        else:
            message = f"{error['msg']} (got {_short(error.get('input'))})"
        errors.append(SpecError(path, message))
    return errors


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggestion(loc: tuple[int | str, ...]) -> str:
    """' (did you mean X?)' for a misspelt field, found by walking the models along the path."""
    model: Any = Experiment
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        model = _field_model(model, part)
        if model is None:
            return ""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    names = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(names)}"


def _field_model(model: Any, alias: str) -> Any:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    for name, info in model.model_fields.items():
        if alias in (name, info.alias):
            return _unwrap(info.annotation)
    return None


def _unwrap(annotation: Any) -> Any:
    """The model inside ``X | None`` or ``list[X]``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            inner = _unwrap(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation
