"""Reading files: Katib's examples, the v1alpha3 seed, multi-document files, ConfigMaps, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pykatib.spec.errors import InvalidExperimentError
from pykatib.spec.loader import SpecFileError, load_experiment, load_file, sample_go_template_data
from pykatib.spec.models import CollectorKind, ResumePolicy
from pykatib.trial.gotemplate import render_go_template

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def katib_examples(shared: Path) -> list[Path]:
    return sorted((shared / "katib-examples").rglob("*.yaml"))


def test_every_katib_example_but_the_invalid_one_is_valid(shared: Path) -> None:
    files = katib_examples(shared)
    assert len(files) >= 12
    for path in files:
        documents = load_file(path)
        if path.name == "invalid-experiment.yaml":
            errors = [str(e) for d in documents for e in d.errors]
            assert any(e.startswith("spec.algorithm.algorithmName: ") and "invalid-algorithm" in e for e in errors)
            continue
        for document in documents:
            assert document.ok, f"{path}: {[str(e) for e in document.errors]}"


def test_seed_v1alpha3_is_converted(shared: Path) -> None:
    exp = load_experiment(shared / "seed-experiment.yaml")
    assert exp.api_version == "kubeflow.org/v1beta1"
    assert exp.spec.resume_policy is ResumePolicy.LONG_RUNNING
    assert exp.spec.metrics_collector_spec.collector.kind is CollectorKind.TENSORFLOW_EVENT
    template = exp.spec.trial_template
    assert template.go_template is not None and template.go_template.raw_template
    assert template.primary_container_name == "tensorflow"
    assert template.primary_pod_labels == {"training.kubeflow.org/job-role": "master"}
    assert "Succeeded" in template.success_condition


def test_seed_template_renders_a_trial(shared: Path) -> None:
    exp = load_experiment(shared / "seed-experiment.yaml")
    data = sample_go_template_data(exp, "tfjob-example-abcdefgh", {"--learning_rate": "0.031", "--batch_size": "150"})
    rendered = yaml.safe_load(render_go_template(exp.spec.trial_template.go_template.raw_template, data))
    assert rendered["metadata"] == {"name": "tfjob-example-abcdefgh", "namespace": "kubeflow"}
    container = rendered["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert container["command"] == [
        "python",
        "/var/tf_mnist/mnist_with_summaries.py",
        "--log_dir=/train/metrics",
        "--learning_rate=0.031",
        "--batch_size=150",
    ]


def test_shipped_seed_copy_matches_shared(shared: Path) -> None:
    assert (EXAMPLES / "seed-experiment.yaml").read_text() == (shared / "seed-experiment.yaml").read_text()


def test_v1alpha3_template_outside_subset_is_named(tmp_path: Path) -> None:
    seed = yaml.safe_load((EXAMPLES / "seed-experiment.yaml").read_text())
    raw = seed["spec"]["trialTemplate"]["goTemplate"]["rawTemplate"]
    seed["spec"]["trialTemplate"]["goTemplate"]["rawTemplate"] = raw.replace("{{.Trial}}", '{{printf "%s" .Trial}}')
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(seed))
    (document,) = load_file(path)
    assert not document.ok
    (error,) = document.errors
    assert error.path == "spec.trialTemplate.goTemplate.rawTemplate"
    assert "printf" in error.message and "line 4" in error.message


def test_multi_document_file_reads_each_document(tmp_path: Path) -> None:
    good = (EXAMPLES / "seed-experiment.yaml").read_text()
    bad = good.replace("name: tfjob-example", "name: Bad_Name")
    path = tmp_path / "two.yaml"
    path.write_text(good + "\n---\n" + bad)
    first, second = load_file(path)
    assert first.ok
    assert not second.ok and second.index == 1
    assert [e.path for e in second.errors] == ["metadata.name"]


def test_config_map_in_the_same_file_supplies_the_template(tmp_path: Path) -> None:
    trial = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "x",
                            "command": ["python3", "t.py", "--lr=${trialParameters.lr}"],
                        }
                    ]
                }
            }
        },
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "templates", "namespace": "ns"},
        "data": {"job.yaml": yaml.safe_dump(trial)},
    }
    experiment = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "cm"},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random"},
            "parameters": [{"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "1"}}],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": "lr", "reference": "lr"}],
                "configMap": {
                    "configMapName": "templates",
                    "configMapNamespace": "ns",
                    "templatePath": "job.yaml",
                },
            },
        },
    }
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump_all([config_map, experiment]))
    (document,) = load_file(path)
    assert document.ok, document.errors
    assert document.sample_trial_spec["kind"] == "Job"
    assert document.experiment.spec.trial_template.success_condition  # defaulted from the ConfigMap's kind


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("spec: [unclosed", "flow sequence started at line 1, column 7"),  # the error itself is at the end
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("", "no Experiment document"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no Experiment document"),
        (
            "kind: Experiment\napiVersion: kubeflow.org/v1beta1\nspec: 3\n",
            "spec: Input should be a valid dictionary",
        ),
    ],
)
def test_bad_files_give_clean_errors(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    errors = [str(e) for d in load_file(path) for e in d.errors]
    assert any(words in e for e in errors), errors


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    (document,) = load_file(path)
    assert "not UTF-8" in str(document.errors[0])


def test_unreadable_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(SpecFileError):
        load_file(tmp_path / "missing.yaml")
    with pytest.raises(SpecFileError):
        load_file(tmp_path)


def test_load_experiment_raises_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text((EXAMPLES / "seed-experiment.yaml").read_text().replace("maxTrialCount: 12", "maxTrialCount: 0"))
    with pytest.raises(InvalidExperimentError) as info:
        load_experiment(path)
    assert "spec.maxTrialCount: must be greater than 0" in str(info.value)
    assert {e.path for e in info.value.errors} >= {
        "spec.maxTrialCount",
        "spec.maxFailedTrialCount",
        "spec.parallelTrialCount",
    }
