"""Property tests: any document, however mangled, gives a valid experiment or a clean list of errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykatib.spec.errors import SpecError
from pykatib.spec.loader import load_document, load_file
from tests_support import base_experiment

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e308",
            "nan",
            "inf",
            "0.5",
            "uniform",
            "logUniform",
            "int",
            "double",
            "categorical",
            "${trialParameters.learningRate}",
            "{{.Trial}}",
            "ö✓💥",
            "\x00",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


PATHS = _paths(base_experiment())[1:]


def _outcome_is_clean(doc: Any) -> None:
    loaded = load_document(doc, source="prop", index=0, config_maps={})
    assert all(isinstance(e, SpecError) and isinstance(e.path, str) and e.message for e in loaded.errors)
    if not loaded.errors:
        assert loaded.experiment is not None
        assert loaded.experiment.metadata.name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=values, drop=st.booleans())
def test_mutated_experiment(path: tuple[Any, ...], value: Any, drop: bool) -> None:
    doc = base_experiment()
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    _outcome_is_clean(doc)


@settings(max_examples=200, deadline=None)
@given(doc=values)
def test_random_document(doc: Any) -> None:
    _outcome_is_clean(doc)
    _outcome_is_clean({"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "spec": doc, "metadata": doc})


@settings(max_examples=50, deadline=None)
@given(depth=st.integers(min_value=50, max_value=3000))
def test_deep_nesting(depth: int) -> None:
    doc = base_experiment()
    nested: Any = "leaf"
    for _ in range(depth):
        nested = {"a": [nested]}
    doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["deep"] = nested
    _outcome_is_clean(doc)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400))
def test_random_yaml_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    for document in load_file(path):
        assert document.ok or all(isinstance(e, SpecError) for e in document.errors)


def test_huge_document_is_handled(tmp_path: Path) -> None:
    doc = copy.deepcopy(base_experiment())
    doc["spec"]["parameters"] = [
        {"name": f"p{i}", "parameterType": "double", "feasibleSpace": {"min": "0", "max": str(i + 1)}}
        for i in range(2000)
    ]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(doc))
    (document,) = load_file(path)
    assert not document.ok  # the template uses 2 of the 2000 parameters: the rest are fine but unused
    assert all(e.path.startswith("spec.") for e in document.errors)
