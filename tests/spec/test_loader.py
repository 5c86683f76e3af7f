"""Reading files: Katib's examples, the v1alpha3 seed, multi-document files, ConfigMaps, bad files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from e2e_support import EXAMPLES, KATIB_EXAMPLES, KATIB_REJECTED, SEED
from pykatib.spec.errors import InvalidExperimentError
from pykatib.spec.loader import SpecFileError, load_config_maps, load_experiment, load_file, sample_go_template_data
from pykatib.spec.models import CollectorKind, ResumePolicy
from pykatib.trial.gotemplate import render_go_template


def katib_examples() -> list[str]:
    """Every YAML file of Katib's examples, relative to examples/katib/."""
    return sorted(p.relative_to(KATIB_EXAMPLES).as_posix() for p in KATIB_EXAMPLES.rglob("*.yaml"))


def test_katib_examples_are_in_the_repository() -> None:
    examples = katib_examples()
    assert len(examples) == 26 and (KATIB_EXAMPLES / "NOTICE").is_file()
    assert set(KATIB_REJECTED) <= set(examples)


@pytest.mark.parametrize("example", katib_examples())
def test_katib_example_validates_unless_listed_as_rejected(example: str) -> None:
    """Each of Katib's examples validates, but for those KATIB_REJECTED lists with their exact errors."""
    documents = load_file(KATIB_EXAMPLES / example)
    assert documents
    assert [str(e) for d in documents for e in d.errors] == KATIB_REJECTED.get(example, [])
    assert all(d.ok for d in documents) == (example not in KATIB_REJECTED)


def test_configmap_example_with_its_configmap_in_the_same_file(tmp_path: Path) -> None:
    """Together in one file the ConfigMap is found, but its defaultTrialTemplate (learningRate and momentum) does
    not fit this example's trialParameters (learningRate, numberLayers, optimizer): Katib's webhook rejects the
    pair as well ("parameter name: numberLayers in spec.trialParameters not found in spec.trialTemplate")."""
    folder = KATIB_EXAMPLES / "trial-template"
    source = (folder / "trial-configmap-source.yaml").read_text()
    config_map = (folder / "trial-templates-configmap.yaml").read_text()
    for text in (source + config_map, config_map + source):  # `cat` joins them: each starts with ---
        path = tmp_path / "together.yaml"
        path.write_text(text)
        (document,) = load_file(path)
        assert [str(e) for e in document.errors] == [
            "spec.trialTemplate.trialParameters[1].name: parameter name: numberLayers in spec.trialParameters not "
            "found in spec.trialTemplate: ${trialParameters.numberLayers} is not used there",
            "spec.trialTemplate.trialParameters[2].name: parameter name: optimizer in spec.trialParameters not "
            "found in spec.trialTemplate: ${trialParameters.optimizer} is not used there",
            "spec.trialTemplate: ${trialParameters.momentum} is used in the template but not declared in "
            "spec.trialTemplate.trialParameters",
        ]


def test_configmaps_from_other_files(tmp_path: Path) -> None:
    """``--configmap FILE``: Katib's ConfigMap in its own file is found, as on a cluster it was applied first;
    the experiment's file's own ConfigMaps come first."""
    folder = KATIB_EXAMPLES / "trial-template"
    config_maps = load_config_maps([folder / "trial-templates-configmap.yaml"])
    assert ("kubeflow", "trial-templates") in config_maps
    (document,) = load_file(folder / "trial-configmap-source.yaml", config_maps=config_maps)
    assert "spec.trialTemplate.trialParameters[1].name: parameter name: numberLayers in spec.trialParameters not " \
        "found in spec.trialTemplate: ${trialParameters.numberLayers} is not used there" in [
            str(e) for e in document.errors]  # fmt: skip
    with pytest.raises(SpecFileError, match="no ConfigMap document"):
        load_config_maps([KATIB_EXAMPLES / "hp-tuning" / "random.yaml"])
    with pytest.raises(SpecFileError, match=r"missing\.yaml"):
        load_config_maps([tmp_path / "missing.yaml"])


def test_seed_v1alpha3_is_converted() -> None:
    exp = load_experiment(SEED)
    assert exp.api_version == "kubeflow.org/v1beta1"
    assert exp.spec.resume_policy is ResumePolicy.LONG_RUNNING
    assert exp.spec.metrics_collector_spec.collector.kind is CollectorKind.TENSORFLOW_EVENT
    template = exp.spec.trial_template
    assert template.go_template is not None and template.go_template.raw_template
    assert template.primary_container_name == "tensorflow"
    assert template.primary_pod_labels == {"training.kubeflow.org/job-role": "master"}
    assert "Succeeded" in template.success_condition


def test_seed_template_renders_a_trial() -> None:
    exp = load_experiment(SEED)
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


def test_copies_of_katib_files_are_unchanged() -> None:
    """Katib's examples and the seed experiment stay byte for byte as received (they must run unchanged):
    examples/SHA256SUMS (`sha256sum -c SHA256SUMS` in examples/) names every one of them with its checksum."""
    sums = {}
    for line in (EXAMPLES / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    files = {"seed-experiment.yaml"} | {
        f"katib/{p.relative_to(KATIB_EXAMPLES).as_posix()}" for p in KATIB_EXAMPLES.rglob("*") if p.is_file()
    }
    assert set(sums) == files
    changed = [
        name for name, digest in sums.items() if hashlib.sha256((EXAMPLES / name).read_bytes()).hexdigest() != digest
    ]
    assert changed == []


def test_v1alpha3_template_outside_subset_is_named(tmp_path: Path) -> None:
    seed = yaml.safe_load(SEED.read_text())
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
    good = SEED.read_text()
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
    path.write_text(SEED.read_text().replace("maxTrialCount: 12", "maxTrialCount: 0"))
    with pytest.raises(InvalidExperimentError) as info:
        load_experiment(path)
    assert "spec.maxTrialCount: must be greater than 0" in str(info.value)
    assert {e.path for e in info.value.errors} >= {
        "spec.maxTrialCount",
        "spec.maxFailedTrialCount",
        "spec.parallelTrialCount",
    }
