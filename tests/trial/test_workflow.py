"""An Argo Workflow's plan: the order of its steps, Argo's variables, the primary step, and the refusals."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e_support import KATIB_EXAMPLES
from pykatib.execute.localize import default_image_map
from pykatib.trial.job import job_processes
from pykatib.trial.workflow import (
    SCRIPT_PATH,
    DagTasks,
    Leaf,
    StepGroups,
    WorkflowError,
    WorkflowPlan,
    runner_document,
    workflow_plan,
)

PRIMARY = {"katib.kubeflow.org/model-training": "true"}


def workflow(templates: list[dict[str, Any]], entrypoint: str = "main", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "spec": {"entrypoint": entrypoint, "templates": templates, **spec},
    }


def echo(name: str, *args: str, primary: bool = False, inputs: tuple[str, ...] = ()) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "container": {"image": "busybox", "command": ["echo", *args]}}
    if primary:
        template["metadata"] = {"labels": dict(PRIMARY)}
    if inputs:
        template["inputs"] = {"parameters": [{"name": i} for i in inputs]}
    return template


def plan_of(job: dict[str, Any], labels: dict[str, str] | None = PRIMARY) -> WorkflowPlan:
    return workflow_plan(job, primary_container_name="main", primary_pod_labels=labels)


def problems(job: dict[str, Any], labels: dict[str, str] | None = PRIMARY, container: str = "main") -> list[str]:
    with pytest.raises(WorkflowError) as caught:
        workflow_plan(job, primary_container_name=container, primary_pod_labels=labels)
    return [f"{path}: {message}" for path, message in caught.value.problems]


def test_katibs_example_is_two_steps_the_second_primary_reading_the_first_ones_result() -> None:
    document = yaml.safe_load((KATIB_EXAMPLES / "argo" / "argo-workflow.yaml").read_text())
    job = copy.deepcopy(document["spec"]["trialTemplate"]["trialSpec"])
    plan = plan_of(job)
    assert plan.root == StepGroups([[Leaf("data-preprocessing-0")], [Leaf("model-training-0")]])
    gen, train = plan.processes
    assert (gen.primary, train.primary) == (False, True)
    assert gen.argv == ["python", SCRIPT_PATH]  # Argo runs the command with the script's file appended
    assert plan.sources[gen.key].startswith("import random")
    assert train.argv[-2] == "--epochs={{pykatib.result.data-preprocessing-0}}"  # replaced when it starts
    assert plan.results == {gen.key}
    assert train.container["name"] == "main" and train.labels == PRIMARY
    # job_processes gives the same steps: the pods the server shows, with their logs.
    pods = job_processes(job, primary_container_name="main", primary_pod_labels=PRIMARY)
    assert [(p.key, p.primary) for p in pods] == [("data-preprocessing-0", False), ("model-training-0", True)]


def test_steps_groups_run_in_order_and_nested_templates_unfold() -> None:
    job = workflow([
        {"name": "main", "steps": [
            [{"name": "a", "template": "echo"}],
            [{"name": "b", "template": "echo"}, {"name": "inner", "template": "pair"}],
        ]},
        {"name": "pair", "steps": [[{"name": "a", "template": "echo"}], [{"name": "train", "template": "train"}]]},
        echo("echo", "x"),
        echo("train", "y", primary=True),
    ])  # fmt: skip
    plan = plan_of(job)
    assert plan.root == StepGroups([
        [Leaf("a-0")],
        [Leaf("b-0"), StepGroups([[Leaf("a-1")], [Leaf("train-0")]])],
    ])  # fmt: skip
    assert [p.key for p in plan.processes if p.primary] == ["train-0"]


def test_dag_tasks_follow_dependencies_and_depends() -> None:
    job = workflow([
        {"name": "main", "dag": {"tasks": [
            {"name": "train", "template": "train", "depends": "b && c.Succeeded",
             "arguments": {"parameters": [{"name": "n", "value": "{{tasks.b.outputs.result}}"}]}},
            {"name": "b", "template": "echo", "dependencies": ["a"]},
            {"name": "c", "template": "echo", "dependencies": ["a"]},
            {"name": "a", "template": "echo"},
        ]}},
        echo("echo", "x"),
        echo("train", "--n={{inputs.parameters.n}}", primary=True, inputs=("n",)),
    ])  # fmt: skip
    plan = plan_of(job)
    assert isinstance(plan.root, DagTasks)
    assert {t.name: t.dependencies for t in plan.root.tasks} == {"train": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}
    # Each task's step is unfolded after its dependencies' (their results are in reach).
    assert [p.key for p in plan.processes] == ["a-0", "b-0", "c-0", "train-0"]
    assert plan.processes[-1].argv == ["echo", "--n={{pykatib.result.b-0}}"]
    document = runner_document(plan, {p.key: {"argv": p.argv} for p in plan.processes})
    assert document["root"]["dag"][0] == {"name": "train", "dependencies": ["b", "c"], "node": {"leaf": "train-0"}}
    assert document["steps"]["b-0"]["result"] and not document["steps"]["a-0"]["result"]


def test_parameters_workflow_arguments_inputs_and_defaults() -> None:
    job = workflow(
        [
            {"name": "main", "inputs": {"parameters": [{"name": "size"}]}, "steps": [[
                {"name": "train", "template": "train",
                 "arguments": {"parameters": [{"name": "size", "value": "{{inputs.parameters.size}}0"}]}},
            ]]},
            {"name": "train", "metadata": {"labels": dict(PRIMARY)},
             "inputs": {"parameters": [{"name": "size"}, {"name": "rate", "default": "0.5"},
                                       {"name": "mode", "value": "fast"}]},
             "container": {"image": "busybox", "command": ["train"], "args": [
                 "{{inputs.parameters.size}}", "{{ inputs.parameters.rate }}", "{{inputs.parameters.mode}}",
                 "{{workflow.parameters.size}}", "{{workflow.name}}"],
                 "env": [{"name": "SIZE", "value": "{{inputs.parameters.size}}"}]}},
        ],
        arguments={"parameters": [{"name": "size", "value": "7"}]},
    )  # fmt: skip
    (train,) = plan_of(job).processes
    assert train.argv == ["train", "70", "0.5", "fast", "7", "{{pykatib.workflow.name}}"]
    assert train.env == {"SIZE": "70"}


def test_primary_step_is_the_one_matching_primary_pod_labels() -> None:
    steps = {"name": "main", "steps": [[{"name": "a", "template": "a"}], [{"name": "b", "template": "b"}]]}
    both = workflow([steps, echo("a", primary=True), echo("b", primary=True)])
    assert problems(both) == [
        "spec.trialTemplate.primaryPodLabels: katib.kubeflow.org/model-training: true matches 2 steps (a-0, b-0); "
        "pykatib reads the metrics of one"
    ]
    none = workflow([steps, echo("a"), echo("b")])
    assert problems(none) == [
        "spec.trialTemplate.primaryPodLabels: no step's template has the labels "
        "katib.kubeflow.org/model-training: true (metadata.labels)"
    ]
    assert "must name the labels" in problems(none, labels=None)[0]
    single = workflow([echo("main", "x")])
    assert plan_of(single, labels=None).processes[0].primary  # one step: it is the primary
    assert problems(single, labels=None, container="echo") == [
        "spec.trialTemplate.primaryContainerName: must be 'main' for an Argo Workflow: Argo names every step's "
        "container 'main'"
    ]


def test_a_gpu_on_a_step_other_than_the_primary_is_refused() -> None:
    """The workflow is one process holding the primary step's resources: another step's GPUs cannot be given."""
    steps = {"name": "main", "steps": [[{"name": "a", "template": "a"}], [{"name": "b", "template": "b"}]]}
    prep = echo("a")
    prep["container"]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    train = echo("b", primary=True)
    train["container"]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    assert problems(workflow([steps, prep, train])) == [
        "spec.trialTemplate.trialSpec.spec.templates (step a-0): pykatib gives GPUs (nvidia.com/gpu) only to the "
        "primary step of a Workflow"
    ]
    assert plan_of(workflow([steps, echo("a"), train])).processes[1].primary  # the primary's own GPU is fine


def test_unsupported_parts_are_refused_with_their_fields() -> None:
    job = workflow(
        [
            {"name": "main", "steps": [[
                {"name": "a", "template": "echo", "when": "{{x}} == 1"},
                {"name": "b", "template": "echo", "withItems": [1, 2]},
                {"name": "c", "templateRef": {"name": "other"}},
            ], [
                {"name": "d", "template": "train", "arguments": {"parameters": [
                    {"name": "p", "value": "{{steps.b.outputs.parameters.x}}"}]}},
                {"name": "e", "template": "missing"},
                {"name": "f", "template": "wait"},
            ]]},
            {"name": "echo", "retryStrategy": {"limit": 2}, "container": {"image": "x", "command": ["echo"]}},
            {"name": "train", "metadata": {"labels": dict(PRIMARY)}, "outputs": {"parameters": [{"name": "o"}]},
             "inputs": {"parameters": [{"name": "p"}, {"name": "q"}]},
             "container": {"image": "x", "command": ["echo", "{{pod.name}}"]}},
            {"name": "wait", "suspend": {}},
        ],
        onExit="cleanup",
    )  # fmt: skip
    root = "spec.trialTemplate.trialSpec.spec"
    assert problems(job) == [
        f"{root}.onExit: is not supported by pykatib",
        f"{root}.templates[0].steps[0][0].when: is not supported by pykatib",
        f"{root}.templates[1].retryStrategy: is not supported by pykatib",
        f"{root}.templates[0].steps[0][1].withItems: is not supported by pykatib",
        f"{root}.templates[0].steps[0][2].templateRef: is not supported by pykatib",
        f"{root}.templates[0].steps[0][2].template: must name a template (templateRef and inline are not supported)",
        f"{root}.templates[0].steps[1][0].arguments.parameters[0]: {{{{steps.b.outputs.parameters.x}}}} is not a "
        "variable pykatib supports (inputs.parameters, workflow.parameters, workflow.name, "
        "steps/tasks.NAME.outputs.result)",
        f"{root}.templates[2].outputs: is not supported (a step's outputs.result needs no declaration)",
        f"{root}.templates[2].inputs.parameters[1]: input parameter 'q' has no value: pass it in the step's arguments",
        f"{root}.templates[2].container.command[1]: {{{{pod.name}}}} is not a variable pykatib supports "
        "(inputs.parameters, workflow.parameters, workflow.name, steps/tasks.NAME.outputs.result)",
        f"{root}.templates[0].steps[1][1]: template 'missing' is not defined in spec.templates",
        f"{root}.templates[3].suspend: is not supported by pykatib",
        f"{root}.templates[3]: has none of steps, dag, container or script (resource, suspend, http, "
        "containerSet and data templates are not supported)",
    ]


def test_results_only_from_earlier_steps_or_dependencies() -> None:
    same_group = workflow([
        {"name": "main", "steps": [[
            {"name": "a", "template": "echo"},
            {"name": "b", "template": "train", "arguments": {"parameters": [
                {"name": "n", "value": "{{steps.a.outputs.result}}"}]}},
        ]]},
        echo("echo"),
        echo("train", primary=True, inputs=("n",)),
    ])  # fmt: skip
    assert problems(same_group) == [
        "spec.trialTemplate.trialSpec.spec.templates[0].steps[0][1].arguments.parameters[0]: "
        "{{steps.a.outputs.result}}: a is not an earlier group of this template"
    ]
    not_a_dependency = workflow([
        {"name": "main", "dag": {"tasks": [
            {"name": "a", "template": "echo"},
            {"name": "b", "template": "train", "arguments": {"parameters": [
                {"name": "n", "value": "{{tasks.a.outputs.result}}"}]}},
        ]}},
        echo("echo"),
        echo("train", primary=True, inputs=("n",)),
    ])  # fmt: skip
    assert "a is not a dependency of this task" in problems(not_a_dependency)[0]
    cycle = workflow([
        {"name": "main", "dag": {"tasks": [
            {"name": "a", "template": "echo", "depends": "b"},
            {"name": "b", "template": "echo", "depends": "a || c"},
        ]}},
        echo("echo", primary=True),
    ])  # fmt: skip
    assert problems(cycle)[0].endswith("'a || c': pykatib supports only task names joined by '&&' (optionally "
                                       "NAME.Succeeded)")  # fmt: skip


def test_recursion_and_an_image_from_a_result_are_refused() -> None:
    recursive = workflow([{"name": "main", "steps": [[{"name": "again", "template": "main"}]]}])
    assert "calls itself" in problems(recursive, labels=None)[0]
    image = workflow([
        {"name": "main", "steps": [[{"name": "a", "template": "echo"}], [
            {"name": "b", "template": "train", "arguments": {"parameters": [
                {"name": "n", "value": "{{steps.a.outputs.result}}"}]}}]]},
        echo("echo"),
        {"name": "train", "metadata": {"labels": dict(PRIMARY)}, "inputs": {"parameters": [{"name": "n"}]},
         "container": {"image": "repo/{{inputs.parameters.n}}", "command": ["x"]}},
    ])  # fmt: skip
    assert problems(image) == [
        "spec.trialTemplate.trialSpec.spec.templates[2].container.image: must be known before the run (not a "
        "step's result)"
    ]


def test_validate_and_run_name_each_unsupported_field(tmp_path: Path) -> None:
    """``pykatib validate`` finds them (exit 1: invalid), with Katib's paths in the Experiment; ``pykatib run``
    refuses the file (exit 2) before anything starts."""
    document = yaml.safe_load((KATIB_EXAMPLES / "argo" / "argo-workflow.yaml").read_text())
    templates = document["spec"]["trialTemplate"]["trialSpec"]["spec"]["templates"]
    templates[0]["steps"][0][0]["when"] = "true"
    templates[1]["retryStrategy"] = {"limit": 1}
    path = tmp_path / "argo.yaml"
    path.write_text(yaml.safe_dump(document))
    for verb, code in (["validate", "-o", "none"], 1), (["run", "--workdir", str(tmp_path / "state")], 2):
        command = [sys.executable, "-m", "pykatib.cli", verb[0], str(path), *verb[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == code, result.stderr
        said = " ".join(result.stderr.split())  # run's console wraps long lines
        root = "spec.trialTemplate.trialSpec.spec.templates"
        assert f"{root}[0].steps[0][0].when: is not supported by pykatib" in said
        assert f"{root}[1].retryStrategy: is not supported by pykatib" in said
        assert "Traceback" not in said
    assert not (tmp_path / "state" / "experiments").exists()  # nothing was started


def test_official_python_images_map_to_this_machines_python() -> None:
    images = default_image_map()
    assert images.resolve("python:alpine3.6") == KATIB_EXAMPLES.parent / "images" / "python"
    assert images.entrypoint("docker.io/library/python:3.12") == ([], ["python3"])  # the image's CMD
