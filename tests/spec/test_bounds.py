"""Bounds on what an Experiment file may hold: its size, how far YAML aliases expand it, and the length of
every name that reaches a store column or a directory name (the same on every store backend).

Each refusal has an accepted neighbour, so a bound that refuses everything fails here too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pykatib.control.render import TRIAL_NAME_SUFFIX_LENGTH
from pykatib.spec import safe_yaml
from pykatib.spec.limits import (
    MAX_ALIAS_NODES,
    MAX_FILE_BYTES,
    MAX_METRIC_NAME_LENGTH,
    MAX_NAME_LENGTH,
    MAX_NAMESPACE_LENGTH,
    MAX_PARAMETER_NAME_LENGTH,
)
from pykatib.spec.loader import apply_overrides, load_document, load_file
from pykatib.store.models import METRIC_NAME_LENGTH, NAME_LENGTH
from tests_support import base_experiment, put

ALIASES = "aliases expand the document too far"


@pytest.fixture(params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each YAML test runs with libyaml's parser and with PyYAML's own (used where libyaml is missing)."""
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML was built without libyaml")
    else:
        monkeypatch.setattr(safe_yaml, "_FAST_LOADER", None)
    yield request.param


def laughs(levels: int, indent: str) -> str:
    """YAML lines of a 'billion laughs' chain: anchor i is a list of ten aliases of anchor i-1, so the last
    one stands for 10**levels strings."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def experiment_text(doc: dict[str, Any] | None = None) -> str:
    return yaml.safe_dump(doc or base_experiment(), sort_keys=False)


def with_annotations(annotations: str) -> str:
    """The base experiment with ``annotations`` (YAML lines, indented 8) under its trialSpec's metadata."""
    return experiment_text().replace(
        "      kind: Job\n", "      kind: Job\n      metadata:\n        annotations:\n" + annotations, 1
    )


def errors_in(path: Path) -> list[str]:
    return [str(e) for d in load_file(path) for e in d.errors]


# --- file size -------------------------------------------------------------------------------------------


def test_a_file_over_3_mib_is_refused_with_its_size(tmp_path: Path, parser: str) -> None:
    text = experiment_text()
    path = tmp_path / "big.yaml"
    path.write_text(text + "#" * (MAX_FILE_BYTES + 1 - len(text.encode())))  # one byte too many
    [error] = errors_in(path)
    assert f"file is {MAX_FILE_BYTES + 1:,} bytes" in error
    assert f"at most {MAX_FILE_BYTES:,} bytes (3 MiB" in error
    # Exactly at the limit (a comment pads it) the file is read and valid.
    path.write_text(text + "#" * (MAX_FILE_BYTES - len(text.encode())))
    assert errors_in(path) == []


# --- alias expansion -------------------------------------------------------------------------------------


def test_billion_laughs_under_trial_annotations_is_refused(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(with_annotations(laughs(9, " " * 10)))
    [error] = errors_in(path)
    assert ALIASES in error and f"more than the {MAX_ALIAS_NODES:,} allowed" in error
    assert "1,234,567,880 nodes" in error  # what the aliases add: 10 + 100 + ... + 10**9, less the 90 written


def test_billion_laughs_as_a_categorical_list_is_refused(tmp_path: Path, parser: str) -> None:
    text = experiment_text().replace(
        "  - name: momentum\n    parameterType: double\n    feasibleSpace:\n      min: '0.5'\n      max: '0.9'\n",
        "  - name: momentum\n    parameterType: categorical\n    feasibleSpace:\n      list:\n"
        + "".join(f"      - {line.split(': ', 1)[1]}\n" for line in laughs(9, "").splitlines()),
    )
    assert "&l8" in text
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    [error] = errors_in(path)
    assert ALIASES in error


def test_aliases_just_past_the_limit_are_refused_and_below_it_accepted(tmp_path: Path, parser: str) -> None:
    """Five levels add 111,110 - 50 nodes, four levels 11,110 - 40: the limit lies between."""
    path = tmp_path / "bomb.yaml"
    path.write_text(with_annotations(laughs(5, " " * 10)))
    assert any(ALIASES in e for e in errors_in(path))
    path.write_text(with_annotations(laughs(4, " " * 10)))
    assert errors_in(path) == []  # a trialSpec is any Kubernetes object: lists as annotations are not checked


def test_aliases_repeating_a_long_string_are_refused(tmp_path: Path, parser: str) -> None:
    """One node each, but each repeats the whole string: 1 MiB repeated four times is more text than a file
    may hold (once, such a 1 MB file became a 630 MB database); repeated twice it is accepted."""
    long = "x" * (1024 * 1024)
    path = tmp_path / "long.yaml"
    path.write_text(
        with_annotations(f"          a: &long {long}\n" + "".join(f"          b{i}: *long\n" for i in range(4)))
    )
    assert any("repeat 4,194,304 characters of text" in e for e in errors_in(path))
    path.write_text(
        with_annotations(f"          a: &long {long}\n" + "".join(f"          b{i}: *long\n" for i in range(2)))
    )
    assert errors_in(path) == []


def test_the_alias_budget_is_for_the_whole_file(tmp_path: Path, parser: str) -> None:
    """Many documents, each under the limit, must not add up to an unbounded file."""
    document = "---\n" + laughs(4, "") + "big: [" + ", ".join(["*l3"] * 5) + "]\n"
    assert len(safe_yaml.load_all(document * 1)) == 1
    path = tmp_path / "many.yaml"
    path.write_text(document * 3)  # each document adds about 61,000 nodes
    [error] = errors_in(path)
    assert ALIASES in error


def test_ordinary_aliases_and_a_long_categorical_list_load(tmp_path: Path, parser: str) -> None:
    doc = base_experiment()
    values = [f"v{i}" for i in range(10_000)]
    doc["spec"]["parameters"][1] = {
        "name": "momentum",
        "parameterType": "categorical",
        "feasibleSpace": {"list": values},
    }
    text = experiment_text(doc)
    # A container spec reused through an anchor, as people write Kubernetes YAML.
    text = text.replace("      template:\n        spec:\n", "      template: &pod\n        spec:\n", 1)
    text += "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: unused}\ndata: {a: x}\n"
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    [document] = load_file(path)
    assert document.ok, document.errors
    assert document.experiment is not None and document.experiment.spec.parameters is not None
    assert document.experiment.spec.parameters[1].feasible_space.list == values


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(with_annotations("          self: &me [a, *me]\n"))
    [error] = errors_in(path)
    assert "refers to a node that contains it" in error


def test_a_config_map_template_is_bounded_too(tmp_path: Path, parser: str) -> None:
    doc = base_experiment()
    template = doc["spec"]["trialTemplate"].pop("trialSpec")
    doc["spec"]["trialTemplate"]["configMap"] = {
        "configMapName": "templates",
        "configMapNamespace": "kubeflow",
        "templatePath": "job.yaml",
    }
    template["metadata"] = {"annotations": "PLACE"}
    bomb = experiment_text(template).replace("annotations: PLACE\n", "annotations:\n" + laughs(9, "    "))
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "templates", "namespace": "kubeflow"},
                  "data": {"job.yaml": bomb}}  # fmt: skip
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump_all([config_map, doc]))
    [error] = errors_in(path)
    assert error.startswith("spec.trialTemplate.configMap: the rendered trial template: ") and ALIASES in error


def test_a_set_value_with_an_alias_bomb_stays_text() -> None:
    bomb = "[" + ", ".join(f"&l{i} [" + ", ".join([f"*l{i - 1}" if i else "lol"] * 10) + "]" for i in range(9)) + "]"
    doc: dict[str, Any] = {"spec": {}}
    assert apply_overrides(doc, [f"spec.x={bomb}"]) == []
    assert doc["spec"]["x"] == bomb
    assert apply_overrides(doc, ["spec.y=[&a [1, 2], *a]"]) == []
    assert doc["spec"]["y"] == [[1, 2], [1, 2]]


# --- errors keep their shape -----------------------------------------------------------------------------


def test_syntax_errors_name_line_column_and_context(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("metadata:\n  name: x\nspec: [unclosed\n")
    [error] = errors_in(path)
    assert error.startswith("YAML syntax error: line ") and "column" in error
    assert "line 3" in error  # where the unclosed sequence starts, whichever parser reports it


def test_deep_nesting_is_a_clean_error(tmp_path: Path, parser: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("spec: " + "[" * 20_000 + "]" * 20_000 + "\n")
    [error] = errors_in(path)
    assert "nested too deeply" in error or "maximum nesting depth" in error


def test_a_lone_surrogate_is_a_yaml_error_with_either_parser(parser: str) -> None:
    with pytest.raises(yaml.YAMLError):
        safe_yaml.load("a: \ud800")


# --- names that reach the store or a directory -----------------------------------------------------------


def errors_of(doc: dict[str, Any]) -> list[str]:
    return [str(e) for e in load_document(doc, source="test", index=0, config_maps={}).errors]


@pytest.mark.parametrize(
    ("namespace", "words"),
    [
        ("../x", "'../x': a namespace must consist of lower case alphanumeric characters"),
        ("a/b", "DNS-1123 label"),
        (".", "DNS-1123 label"),
        ("Kubeflow", "DNS-1123 label"),
        ("team-", "DNS-1123 label"),
        ("a" * (MAX_NAMESPACE_LENGTH + 1), f"must be at most {MAX_NAMESPACE_LENGTH} characters (got 64)"),
    ],
)
def test_a_namespace_must_be_a_dns_label(base: dict[str, Any], namespace: str, words: str) -> None:
    put("metadata.namespace", namespace)(base)
    errors = errors_of(base)
    assert [e for e in errors if e.startswith("metadata.namespace: ") and words in e], errors


@pytest.mark.parametrize("namespace", ["default", "kubeflow", "team-1", "1st", "a" * MAX_NAMESPACE_LENGTH])
def test_dns_label_namespaces_are_accepted(base: dict[str, Any], namespace: str) -> None:
    put("metadata.namespace", namespace)(base)
    assert errors_of(base) == []


def test_an_empty_namespace_is_the_default_one(base: dict[str, Any]) -> None:
    put("metadata.namespace", "")(base)
    document = load_document(base, source="test", index=0, config_maps={})
    assert document.ok and document.experiment is not None
    assert document.experiment.metadata.namespace == "default"


def test_a_long_wrong_name_is_not_echoed_in_full(base: dict[str, Any]) -> None:
    put("metadata.name", "X" * 10_000)(base)
    [error] = errors_of(base)
    assert error.startswith("metadata.name: 'XXX") and len(error) < 300


def test_metric_names_are_bounded_by_the_store_column(base: dict[str, Any]) -> None:
    doc = copy.deepcopy(base)
    put("spec.objective.objectiveMetricName", "m" * 10_000)(doc)
    put("spec.objective.additionalMetricNames", ["acc", "n" * 10_000])(doc)
    assert sorted(errors_of(doc)) == [
        f"spec.objective.additionalMetricNames[1]: must be at most {MAX_METRIC_NAME_LENGTH} characters (got 10000)",
        f"spec.objective.objectiveMetricName: must be at most {MAX_METRIC_NAME_LENGTH} characters (got 10000)",
    ]
    fits = "m" * MAX_METRIC_NAME_LENGTH
    put("spec.objective.objectiveMetricName", fits)(base)
    put("spec.objective.additionalMetricNames", ["acc", "n" * MAX_METRIC_NAME_LENGTH])(base)
    assert errors_of(base) == []


def test_parameter_names_are_bounded(base: dict[str, Any]) -> None:
    def with_parameter_name(name: str) -> list[str]:
        doc = copy.deepcopy(base)
        put("spec.parameters.0.name", name)(doc)
        put("spec.trialTemplate.trialParameters.0.reference", name)(doc)
        return errors_of(doc)

    assert with_parameter_name("p" * MAX_PARAMETER_NAME_LENGTH) == []
    assert with_parameter_name("p" * 10_000) == [
        f"spec.parameters[0].name: must be at most {MAX_PARAMETER_NAME_LENGTH} characters (got 10000)"
    ]


def test_many_additional_metrics_are_checked_for_duplicates_with_a_set(base: dict[str, Any]) -> None:
    """Each name was compared with every earlier one (quadratic time); now a set remembers them."""
    names = [f"m{i}" for i in range(20_000)]
    put("spec.objective.additionalMetricNames", [*names, "m7"])(base)
    assert errors_of(base) == ["spec.objective.additionalMetricNames[20000]: duplicate metric 'm7'"]


def test_spec_bounds_fit_the_store_columns() -> None:
    """The store's columns are as wide as the longest value validation lets through, on every backend."""
    assert MAX_METRIC_NAME_LENGTH <= METRIC_NAME_LENGTH
    assert MAX_NAMESPACE_LENGTH <= NAME_LENGTH
    assert MAX_NAME_LENGTH + 1 + TRIAL_NAME_SUFFIX_LENGTH <= NAME_LENGTH  # trial names: <experiment>-<suffix>
