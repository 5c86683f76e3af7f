"""Tests for the Go text/template subset; expected outputs are what Go's text/template produces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pykatib.trial.gotemplate import GoTemplate, GoTemplateError, parse_go_template, render_go_template

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed-experiment.yaml"

# Verbatim copy of the seed experiment's rawTemplate (its two trailing spaces written as \x20); the first
# test below checks it against examples/seed-experiment.yaml.
TFJOB_TEMPLATE = """\
apiVersion: "kubeflow.org/v1"
kind: TFJob
metadata:
  name: {{.Trial}}
  namespace: {{.NameSpace}}
spec:
 tfReplicaSpecs:
  Worker:
    replicas: 1\x20
    restartPolicy: OnFailure
    template:
      spec:
        containers:
          - name: tensorflow\x20
            image: gcr.io/kubeflow-ci/tf-mnist-with-summaries:1.0
            imagePullPolicy: Always
            command:
              - "python"
              - "/var/tf_mnist/mnist_with_summaries.py"
              - "--log_dir=/train/metrics"
              {{- with .HyperParameters}}
              {{- range .}}
              - "{{.Name}}={{.Value}}"
              {{- end}}
              {{- end}}"""

KATIB_DATA: dict[str, Any] = {
    "Trial": "tfjob-example-abc123",
    "Experiment": "tfjob-example",
    "NameSpace": "kubeflow",
    "HyperParameters": [
        {"Name": "--learning_rate", "Value": "0.03"},
        {"Name": "--batch_size", "Value": "150"},
    ],
}


def _check_tfjob(rendered: str) -> None:
    job = yaml.safe_load(rendered)
    assert job["metadata"] == {"name": "tfjob-example-abc123", "namespace": "kubeflow"}
    command = job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        "python",
        "/var/tf_mnist/mnist_with_summaries.py",
        "--log_dir=/train/metrics",
        "--learning_rate=0.03",
        "--batch_size=150",
    ]


def test_seed_experiment_template_renders_to_tfjob() -> None:
    experiment = yaml.safe_load(SEED.read_text())
    raw = experiment["spec"]["trialTemplate"]["goTemplate"]["rawTemplate"]
    assert raw == TFJOB_TEMPLATE
    _check_tfjob(render_go_template(raw, KATIB_DATA))


def test_inline_katib_template_renders_exactly() -> None:
    rendered = render_go_template(TFJOB_TEMPLATE, KATIB_DATA)
    _check_tfjob(rendered)
    assert rendered.endswith(
        '              - "--log_dir=/train/metrics"\n'
        '              - "--learning_rate=0.03"\n'
        '              - "--batch_size=150"'
    )


def test_katib_template_without_hyperparameters_skips_with_block() -> None:
    rendered = render_go_template(TFJOB_TEMPLATE, {**KATIB_DATA, "HyperParameters": []})
    assert rendered.endswith('- "--log_dir=/train/metrics"')


def test_text_passes_through_untouched() -> None:
    text = 'a: "}}"\n  b: { c }\n\t\n'
    assert render_go_template(text, {}) == text


def test_field_chained_field_and_dot() -> None:
    data = {"A": {"B": "deep"}, "Name": "n"}
    assert render_go_template("{{.Name}} {{.A.B}} {{.A}}", data) == "n deep map[B:deep]"
    assert render_go_template("{{ .Name }}|{{\n.Name\n}}|{{.}}", {"Name": "x"}) == "x|x|map[Name:x]"


def test_value_formatting_follows_go() -> None:
    data = {"S": "s", "I": 3, "F": 0.5, "T": True, "N": None, "L": ["a", 1, None], "M": {"b": 2, "a": "x"}}
    template = "{{.S}} {{.I}} {{.F}} {{.T}} {{.N}} {{.L}} {{.M}}"
    assert render_go_template(template, data) == "s 3 0.5 true <no value> [a 1 <nil>] map[a:x b:2]"


def test_field_falls_back_to_attributes() -> None:
    class Trial:
        Name = "t1"

    assert render_go_template("{{.T.Name}}", {"T": Trial()}) == "t1"


@pytest.mark.parametrize(
    ("template", "data", "expected"),
    [
        ("{{.A.B}}", {"A": {}}, "field .A.B not found in map with keys []"),
        ("{{.Foo}}", {"Bar": 1}, "field .Foo not found in map with keys [Bar]"),
        ("{{.A.B}}", {"A": None}, "field .A.B not found in <nil>"),
        ("{{.L.Name}}", {"L": [1]}, "field .L.Name not found in list"),
        ("{{.S.upper}}", {"S": "x"}, "field .S.upper not found in str"),
    ],
)
def test_missing_field_is_an_error(template: str, data: dict[str, Any], expected: str) -> None:
    with pytest.raises(GoTemplateError, match=r"at line 1, column 1: " + expected.replace("[", r"\[")):
        render_go_template(template, data)


def test_parse_validates_without_data_and_render_is_reusable() -> None:
    template = parse_go_template("{{.Trial}}:{{range .HyperParameters}}{{.Name}}{{end}}")
    assert isinstance(template, GoTemplate)
    assert template.render({"Trial": "a", "HyperParameters": []}) == "a:"
    assert template.render(KATIB_DATA) == "tfjob-example-abc123:--learning_rate--batch_size"
    with pytest.raises(GoTemplateError, match=r"field \.Trial not found"):
        template.render({})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a  \n\t{{- .X}}", "ax"),  # `{{- ` removes all preceding whitespace, newlines included
        ("{{.X -}}  \n\n b", "xb"),
        ("a \n {{- .X -}} \n b", "axb"),
        ("{{.X -}} \n\n {{- .X}}", "xx"),  # whitespace-only text between two trims vanishes
        ("x\n  y  {{- .X}}", "x\n  yx"),  # trimming stops at the first non-space
        ("a \n{{-\t.X\n-}}\n b", "axb"),  # any of space, tab, CR, LF makes a trim marker
        ("a \n {{.X}} \n b", "a \n x \n b"),  # no markers, no trimming
        ("a\r\n{{- .X}}", "ax"),
    ],
)
def test_trim_markers(template: str, expected: str) -> None:
    assert render_go_template(template, {"X": "x"}) == expected


def test_trim_markers_on_block_actions() -> None:
    template = "list:\n  {{- range .L}}\n  - {{.}}\n  {{- else}}\n  none\n  {{- end}}\n"
    assert render_go_template(template, {"L": [1, 2]}) == "list:\n  - 1\n  - 2\n"
    assert render_go_template(template, {"L": []}) == "list:\n  none\n"


def test_comments() -> None:
    assert render_go_template("a {{/* note */}} b", {}) == "a  b"
    assert render_go_template("a \n {{- /* multi\nline }} */ -}} \n b", {}) == "ab"
    assert render_go_template("a{{/* c */ -}}  b{{- /* c */}}  c", {}) == "ab  c"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{/* never closed }}", "unclosed comment at line 1, column 1"),
        ("x\n{{/* c */ .X}}", "comment ends before closing delimiter at line 2, column 1"),
    ],
)
def test_malformed_comments(template: str, message: str) -> None:
    with pytest.raises(GoTemplateError, match=message):
        parse_go_template(template)


def test_with_rebinds_dot_and_else() -> None:
    template = "{{with .A}}[{{.B}}]{{else}}none:{{.Other}}{{end}}"
    assert render_go_template(template, {"A": {"B": "b"}, "Other": "o"}) == "[b]"
    assert render_go_template(template, {"A": {}, "Other": "o"}) == "none:o"
    assert render_go_template("{{with.A}}{{.}}{{end}}", {"A": "x"}) == "x"  # Go accepts `with.A`


@pytest.mark.parametrize("empty", [None, False, 0, 0.0, "", [], {}])
def test_with_treats_go_empty_values_as_false(empty: object) -> None:
    assert render_go_template("{{with .V}}yes{{else}}no{{end}}", {"V": empty}) == "no"
    assert render_go_template("{{with .V}}yes{{end}}", {"V": empty}) == ""


def test_range_over_list_and_map() -> None:
    assert render_go_template("{{range .L}}<{{.}}>{{end}}", {"L": ["a", "b"]}) == "<a><b>"
    # Go ranges over a map's values in sorted-key order.
    assert render_go_template("{{range .}}{{.}},{{end}}", {"b": 2, "c": 3, "a": 1}) == "1,2,3,"


@pytest.mark.parametrize("empty", [[], {}, None])
def test_range_else_runs_with_outer_dot(empty: object) -> None:
    template = "{{range .L}}{{.}}{{else}}empty {{.Name}}{{end}}"
    assert render_go_template(template, {"L": empty, "Name": "n"}) == "empty n"


def test_range_over_scalar_is_an_error() -> None:
    with pytest.raises(GoTemplateError, match=r"range can't iterate over abc"):
        render_go_template("{{range .S}}x{{end}}", {"S": "abc"})


def test_nested_with_and_range() -> None:
    template = (
        "{{with .HyperParameters}}{{range .}}{{.Name}}={{.Value}}"
        "{{with .Extra}}({{range .}}{{.}}{{end}}){{end}};{{end}}{{else}}none{{end}}"
    )
    data = {"HyperParameters": [{"Name": "a", "Value": 1, "Extra": ["x", "y"]}, {"Name": "b", "Value": 2}]}
    with pytest.raises(GoTemplateError, match=r"field \.Extra not found"):
        render_go_template(template, data)
    data["HyperParameters"][1]["Extra"] = []
    assert render_go_template(template, data) == "a=1(xy);b=2;"
    assert render_go_template(template, {"HyperParameters": []}) == "none"


@pytest.mark.parametrize(
    "construct",
    [
        "{{if .X}}",
        "{{$x := .X}}",
        "{{$}}",
        '{{.X | printf "%s"}}',
        '{{printf "%s" .X}}',
        "{{len .X}}",
        "{{index .X 0}}",
        '{{template "t"}}',
        '{{define "t"}}',
        '{{block "t" .}}',
        "{{break}}",
        "{{continue}}",
        '{{"literal"}}',
        '{{"}}"}}',
        "{{3}}",
        "{{-3}}",
        "{{.X-}}",
        "{{.X .Y}}",
        "{{(.X)}}",
        "{{ /* spaced comment */ }}",
        "{{range $i, $e := .X}}",
        "{{with .X | len}}",
    ],
)
def test_unsupported_constructs_are_named_with_position(construct: str) -> None:
    with pytest.raises(GoTemplateError) as info:
        parse_go_template(f"l1\nl2\n    {construct} tail")
    message = str(info.value)
    assert f"unsupported Go template construct {construct} at line 3, column 5" in message
    assert "only .Field, with, range, else, end and comments are supported" in message


def test_else_if_is_unsupported() -> None:
    with pytest.raises(GoTemplateError, match=r"construct \{\{else if \.Y\}\} at line 1, column 13"):
        parse_go_template("{{with .X}}a{{else if .Y}}b{{end}}")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("abc {{.X", r"unclosed action \{\{\.X at line 1, column 5"),
        ("{{.X\n {{.Y}}", r"unclosed action \{\{\.X at line 1, column 1"),
        ('{{"unterminated}}', r"unclosed action .* at line 1, column 1"),
        ("a\n{{end}}", r"unexpected \{\{end\}\} at line 2, column 1"),
        ("{{with .X}}{{end}}{{- end}}", r"unexpected \{\{- end\}\} at line 1, column 19"),
        ("{{else}}", r"unexpected \{\{else\}\} at line 1, column 1"),
        (
            "{{range .X}}a\n  {{with .Y}}b{{end}}",
            r"missing \{\{end\}\} for \{\{range \.X\}\} at line 1, column 1",
        ),
        ("{{range .X}}{{with .Y}}", r"missing \{\{end\}\} for \{\{with \.Y\}\} at line 1, column 13"),
        ("{{with .X}}a{{else}}b{{else}}c{{end}}", r"second \{\{else\}\} at line 1, column 22"),
        ("{{}}", r"empty action \{\{\}\} at line 1, column 1"),
        ("{{- }}", r"empty action"),
        ("{{ -}}", r"empty action"),
        ("{{with}}", r"missing value for with"),
        ("{{range  -}}", r"missing value for range"),
    ],
)
def test_malformed_templates(template: str, message: str) -> None:
    with pytest.raises(GoTemplateError, match=message):
        parse_go_template(template)


def test_error_is_a_value_error() -> None:
    assert issubclass(GoTemplateError, ValueError)


def test_rendering_is_bounded_where_nested_ranges_would_multiply_the_text() -> None:
    """Three nested ranges of 200 elements repeat a 100-character body 8 million times: refused, not built."""
    template = "{{range .A}}{{range .B}}{{range .C}}" + "x" * 100 + "{{end}}{{end}}{{end}}"
    level3 = {"C": list(range(200))}
    level2 = {"B": [level3] * 200}
    data = {"A": [level2] * 200}
    with pytest.raises(GoTemplateError, match="rendered template exceeds 3,145,728 characters"):
        render_go_template(template, data, limit=3 * 1024 * 1024)
