"""Argo Workflow trials (``argoproj.io/v1alpha1`` Workflow): the plan of steps that one trial runs.

The workflow's ``entrypoint`` template is unfolded into a tree: ``steps`` (groups in order, the steps of a
group in parallel), ``dag`` (tasks after their ``dependencies``/``depends``) and leaves, the ``container`` and
``script`` templates, each one process (a pod of Argo's). Argo's variables are replaced here when their value
is known before the run (``{{inputs.parameters.X}}``, ``{{workflow.parameters.X}}``); a step's result
(``{{steps.X.outputs.result}}``, ``{{tasks.X.outputs.result}}``) and ``{{workflow.name}}`` (the trial's name)
become markers that ``trial.workflow_run`` replaces when the step starts. Whatever else the workflow uses is
refused before any trial starts, each problem with the path of its field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pykatib.trial.job import ContainerProcess, Entrypoints, TrialJobError, container_argv, container_env
from pykatib.trial.workflow_run import MARKER, RESULT_MARKER, WORKFLOW_NAME_MARKER

WORKFLOW_KIND = "Workflow"
ARGO_API_GROUP = "argoproj.io/"
# Argo names the container of every step's pod "main" (primaryContainerName in Katib's example).
MAIN_CONTAINER = "main"
# Where Argo writes a script template's source; it runs the template's command with this file appended.
SCRIPT_PATH = "/argo/staging/script"
# Where the plan sits in the Experiment, for the paths of refusals.
TRIAL_SPEC_PATH = "spec.trialTemplate.trialSpec"
VARIABLE = re.compile(r"\{\{(.*?)\}\}")
STEP_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
MAX_STEPS = 200  # leaves in one plan: a template fanning out past this is surely a mistake

# Fields with no meaning for local processes (scheduling, pod security, clean-up, service accounts).
IGNORED_SPEC = {
    "serviceAccountName", "automountServiceAccountToken", "executor", "nodeSelector", "tolerations", "affinity",
    "imagePullSecrets", "securityContext", "podGC", "ttlStrategy", "ttlSecondsAfterFinished", "archiveLogs",
    "schedulerName", "podPriorityClassName", "priority", "hostNetwork", "dnsPolicy", "dnsConfig", "hostAliases",
    "podDisruptionBudget", "artifactRepositoryRef", "workflowMetadata", "podMetadata", "parallelism",
    "activeDeadlineSeconds",  # the trial's deadline (job.active_deadline_seconds reads it)
}  # fmt: skip
IGNORED_TEMPLATE = {
    "nodeSelector", "tolerations", "affinity", "serviceAccountName", "automountServiceAccountToken",
    "securityContext", "schedulerName", "priorityClassName", "priority", "archiveLocation", "executor",
    "hostAliases", "parallelism", "volumes",  # a template's own volumes: each step's pod has its own files
}  # fmt: skip
LEAF_KINDS = ("container", "script")
STEP_FIELDS = {"name", "template", "arguments"}
TASK_FIELDS = {"name", "template", "arguments", "dependencies", "depends"}


@dataclass
class Leaf:
    """One step's pod: the ContainerProcess of that key in the plan."""

    key: str


@dataclass
class StepGroups:
    """A ``steps`` template: groups run in order, the nodes of one group in parallel."""

    groups: list[list[Node]]


@dataclass
class DagTask:
    name: str
    dependencies: list[str]
    node: Node


@dataclass
class DagTasks:
    """A ``dag`` template: each task starts once every task it depends on has succeeded."""

    tasks: list[DagTask]


Node = Leaf | StepGroups | DagTasks


@dataclass
class WorkflowPlan:
    root: Node
    processes: list[ContainerProcess]  # the leaves, in plan order, exactly one primary
    sources: dict[str, str] = field(default_factory=dict)  # key -> a script step's source (with markers)
    results: set[str] = field(default_factory=set)  # keys whose result a later step reads


class WorkflowError(TrialJobError):
    """The workflow uses what pykatib cannot run: every problem, each with its field's path."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = list(dict.fromkeys(problems))  # a template called twice has its problems once
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.problems))


def is_workflow(job: Mapping[str, Any]) -> bool:
    return job.get("kind") == WORKFLOW_KIND and str(job.get("apiVersion", "")).startswith(ARGO_API_GROUP)


def workflow_plan(
    job: dict[str, Any],
    *,
    primary_container_name: str | None,
    primary_pod_labels: Mapping[str, str] | None,
    entrypoint: Entrypoints | None = None,
    check_commands: bool = True,
) -> WorkflowPlan:
    """The workflow's steps as a tree of processes; ``check_commands`` False (validation): commands are not
    built (the image's entrypoint is known only at run time). Raises WorkflowError naming every problem."""
    builder = _Builder(job, entrypoint, check_commands)
    root = builder.build()
    builder.mark_primary(primary_container_name, primary_pod_labels)
    if builder.problems or root is None:
        raise WorkflowError(builder.problems or [(TRIAL_SPEC_PATH, "the workflow has no steps")])
    return WorkflowPlan(root, builder.processes, builder.sources, builder.results)


def workflow_processes(
    job: dict[str, Any],
    primary_container_name: str | None,
    primary_pod_labels: Mapping[str, str] | None,
    entrypoint: Entrypoints | None,
) -> list[ContainerProcess]:
    """The workflow's step pods (``job.job_processes`` for kind Workflow)."""
    plan = workflow_plan(
        job, primary_container_name=primary_container_name, primary_pod_labels=primary_pod_labels,
        entrypoint=entrypoint,
    )  # fmt: skip
    return plan.processes


class _Scope:
    """The variables a template's strings may use, and the step results (leaf keys) in reach."""

    def __init__(self, values: dict[str, str], results: dict[str, str | None] | None = None) -> None:
        self.values = values
        # "steps.X" / "tasks.X" -> the leaf key of X (None: X is not a leaf, so it has no result)
        self.results = results or {}


class _Builder:
    def __init__(self, job: dict[str, Any], entrypoint: Entrypoints | None, check_commands: bool) -> None:
        self.job = job
        self.entrypoint = entrypoint
        self.check_commands = check_commands
        self.problems: list[tuple[str, str]] = []
        self.processes: list[ContainerProcess] = []
        self.sources: dict[str, str] = {}
        self.results: set[str] = set()
        self.templates: dict[str, tuple[int, dict[str, Any]]] = {}
        self.calls: list[str] = []  # the templates being unfolded (recursion never ends without `when`)
        self.name_counts: dict[str, int] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append((f"{TRIAL_SPEC_PATH}.{path}", message))

    def build(self) -> Node | None:
        spec = self.job.get("spec")
        if not isinstance(spec, dict):
            self.problem("spec", "must be a mapping")
            return None
        shared = ("volumes", "volumeClaimTemplates")
        self._refuse_unknown(spec, {"entrypoint", "templates", "arguments", *shared} | IGNORED_SPEC, "spec")
        for key in shared:
            if spec.get(key):
                self.problem(f"spec.{key}", "volumes shared by steps are not supported (each step has its own files)")
        templates = spec.get("templates")
        if not isinstance(templates, list) or not templates:
            self.problem("spec.templates", "must be a non-empty list")
            return None
        for i, template in enumerate(templates):
            name: Any = template.get("name") if isinstance(template, dict) else None
            if not isinstance(name, str) or not name:
                self.problem(f"spec.templates[{i}].name", "must be specified")
            elif name in self.templates:
                self.problem(f"spec.templates[{i}].name", f"template {name!r} is defined twice")
            else:
                self.templates[name] = (i, template)
        parameters = self._parameters(spec.get("arguments"), "spec.arguments", _Scope({}))
        values = {f"workflow.parameters.{k}": v for k, v in parameters.items()}
        values["workflow.name"] = WORKFLOW_NAME_MARKER
        entry = spec.get("entrypoint")
        if not isinstance(entry, str) or not entry:
            self.problem("spec.entrypoint", "must be specified")
            return None
        # The workflow's arguments are also the entrypoint's inputs, as Argo passes them.
        return self._invoke(entry, parameters, values, entry, "spec.entrypoint")

    def _refuse_unknown(self, obj: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in obj:
            if key not in allowed:
                self.problem(f"{path}.{key}", "is not supported by pykatib")

    def _substitute(self, text: str, scope: _Scope, path: str) -> str:
        """Argo's ``{{...}}`` variables in one string; a step's result becomes a run-time marker."""

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in scope.values:
                return scope.values[name]
            parts = name.split(".")
            if len(parts) == 4 and parts[0] in ("steps", "tasks") and parts[2:] == ["outputs", "result"]:
                ref = f"{parts[0]}.{parts[1]}"
                if ref in scope.results:
                    key = scope.results[ref]
                    if key is None:
                        self.problem(
                            path, f"{{{{{name}}}}}: {parts[1]} runs a steps or dag template, which has no result"
                        )
                        return ""
                    self.results.add(key)
                    return RESULT_MARKER % key
                where = "an earlier group of this template" if parts[0] == "steps" else "a dependency of this task"
                self.problem(path, f"{{{{{name}}}}}: {parts[1]} is not {where}")
                return ""
            self.problem(path, f"{{{{{name}}}}} is not a variable pykatib supports (inputs.parameters, "
                               "workflow.parameters, workflow.name, steps/tasks.NAME.outputs.result)")  # fmt: skip
            return ""

        return VARIABLE.sub(replace, text)

    def _substitute_all(self, obj: Any, scope: _Scope, path: str) -> Any:
        if isinstance(obj, str):
            return self._substitute(obj, scope, path)
        if isinstance(obj, dict):
            return {k: self._substitute_all(v, scope, f"{path}.{k}") for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._substitute_all(v, scope, f"{path}[{i}]") for i, v in enumerate(obj)]
        return obj

    def _parameters(self, arguments: Any, path: str, scope: _Scope) -> dict[str, str]:
        """``arguments.parameters`` (name -> value, substituted in the caller's scope)."""
        if arguments is None:
            return {}
        if not isinstance(arguments, dict):
            self.problem(path, "must be a mapping")
            return {}
        self._refuse_unknown(arguments, {"parameters"}, path)
        values: dict[str, str] = {}
        for i, parameter in enumerate(arguments.get("parameters") or []):
            where = f"{path}.parameters[{i}]"
            if not isinstance(parameter, dict) or not parameter.get("name"):
                self.problem(where, "must have a name")
                continue
            self._refuse_unknown(parameter, {"name", "value", "description"}, where)
            if "value" not in parameter:
                self.problem(f"{where}.value", "must be specified")
                continue
            value = parameter["value"]
            values[str(parameter["name"])] = self._substitute("" if value is None else str(value), scope, where)
        return values

    def _inputs(self, template: dict[str, Any], passed: dict[str, str], path: str) -> dict[str, str]:
        """The template's ``inputs.parameters``: the value passed, else its ``value``, else its ``default``."""
        inputs = template.get("inputs") or {}
        if not isinstance(inputs, dict):
            self.problem(f"{path}.inputs", "must be a mapping")
            return {}
        self._refuse_unknown(inputs, {"parameters"}, f"{path}.inputs")
        values: dict[str, str] = {}
        for i, parameter in enumerate(inputs.get("parameters") or []):
            where = f"{path}.inputs.parameters[{i}]"
            if not isinstance(parameter, dict) or not parameter.get("name"):
                self.problem(where, "must have a name")
                continue
            self._refuse_unknown(parameter, {"name", "value", "default", "description", "enum"}, where)
            name = str(parameter["name"])
            if name in passed:
                values[f"inputs.parameters.{name}"] = passed[name]
            elif parameter.get("value") is not None or parameter.get("default") is not None:
                value = parameter["value"] if parameter.get("value") is not None else parameter["default"]
                values[f"inputs.parameters.{name}"] = str(value)
            else:
                self.problem(where, f"input parameter {name!r} has no value: pass it in the step's arguments")
        return values

    def _invoke(self, name: str, passed: dict[str, str], workflow: dict[str, str], step: str, path: str) -> Node | None:
        """The node of one call of template ``name`` (``step``: the calling step's name)."""
        if name not in self.templates:
            self.problem(path, f"template {name!r} is not defined in spec.templates")
            return None
        if name in self.calls:
            self.problem(path, f"template {name!r} calls itself; pykatib has no `when` to end the recursion")
            return None
        index, template = self.templates[name]
        where = f"spec.templates[{index}]"
        kinds = [k for k in ("steps", "dag", *LEAF_KINDS) if k in template]
        allowed = {"name", "inputs", "metadata", "outputs", *kinds} | IGNORED_TEMPLATE
        self._refuse_unknown(template, allowed, where)
        if template.get("outputs"):
            self.problem(f"{where}.outputs", "is not supported (a step's outputs.result needs no declaration)")
        if len(kinds) != 1:
            kinds_text = "steps, dag, container or script"
            self.problem(where, f"must have exactly one of {kinds_text}" if kinds else f"has none of {kinds_text}"
                         " (resource, suspend, http, containerSet and data templates are not supported)")  # fmt: skip
            return None
        scope = _Scope({**workflow, **self._inputs(template, passed, where)})
        self.calls.append(name)
        try:
            kind = kinds[0]
            if kind == "steps":
                return self._steps(template["steps"], workflow, scope, f"{where}.steps")
            if kind == "dag":
                return self._dag(template["dag"], workflow, scope, f"{where}.dag")
            return self._leaf(template, kind, step, scope, where)
        finally:
            self.calls.pop()

    def _call(self, item: Any, fields: set[str], workflow: dict[str, str], scope: _Scope, path: str) -> Node | None:
        """A step or task: the node of the template it calls with its arguments."""
        if not isinstance(item, dict):
            self.problem(path, "must be a mapping")
            return None
        self._refuse_unknown(item, fields, path)
        name = item.get("name")
        if not isinstance(name, str) or not STEP_NAME.fullmatch(name):
            self.problem(f"{path}.name", "must be letters, digits and '-', starting with a letter or digit")
            return None
        if not isinstance(item.get("template"), str):
            self.problem(f"{path}.template", "must name a template (templateRef and inline are not supported)")
            return None
        passed = self._parameters(item.get("arguments"), f"{path}.arguments", scope)
        return self._invoke(item["template"], passed, workflow, name, path)

    def _steps(self, groups: Any, workflow: dict[str, str], scope: _Scope, path: str) -> Node | None:
        if not isinstance(groups, list) or not groups:
            self.problem(path, "must be a non-empty list of step groups")
            return None
        result: list[list[Node]] = []
        for g, group in enumerate(groups):
            if not isinstance(group, list) or not group:
                self.problem(f"{path}[{g}]", "must be a non-empty list of steps")
                continue
            nodes: list[tuple[str, Node]] = []
            for s, item in enumerate(group):
                node = self._call(item, STEP_FIELDS, workflow, scope, f"{path}[{g}][{s}]")
                if node is not None:
                    nodes.append((item["name"], node))
            # Later groups may read this group's results.
            for step_name, node in nodes:
                scope.results[f"steps.{step_name}"] = node.key if isinstance(node, Leaf) else None
            result.append([node for _, node in nodes])
        return StepGroups(result)

    def _dag(self, dag: Any, workflow: dict[str, str], scope: _Scope, path: str) -> Node | None:
        if not isinstance(dag, dict) or not isinstance(dag.get("tasks"), list) or not dag["tasks"]:
            self.problem(f"{path}.tasks", "must be a non-empty list")
            return None
        self._refuse_unknown(dag, {"tasks"}, path)
        tasks = dag["tasks"]
        dependencies: dict[str, list[str]] = {}
        for t, task in enumerate(tasks):
            if not isinstance(task, dict) or not isinstance(task.get("name"), str):
                self.problem(f"{path}.tasks[{t}].name", "must be specified")
            else:
                if task["name"] in dependencies:
                    self.problem(f"{path}.tasks[{t}].name", f"task {task['name']!r} is defined twice")
                dependencies[task["name"]] = self._dependencies(task, f"{path}.tasks[{t}]")
        for t, task in enumerate(tasks):
            own = task.get("name") if isinstance(task, dict) else None
            for dependency in dependencies.get(own, []) if isinstance(own, str) else []:
                if dependency not in dependencies:
                    self.problem(f"{path}.tasks[{t}]", f"depends on {dependency!r}, which is not a task of this dag")
        order = _topological(dependencies)
        if order is None:
            self.problem(f"{path}.tasks", "the dependencies form a cycle")
            return None
        by_name = {t["name"]: (i, t) for i, t in enumerate(tasks) if isinstance(t, dict) and "name" in t}
        nodes: dict[str, Node | None] = {}
        for name in order:
            i, task = by_name[name]
            ancestors = _ancestors(name, dependencies)
            task_scope = _Scope(scope.values, {
                f"tasks.{a}": (n.key if isinstance(n, Leaf) else None)
                for a in ancestors if (n := nodes.get(a)) is not None
            })  # fmt: skip
            nodes[name] = self._call(task, TASK_FIELDS, workflow, task_scope, f"{path}.tasks[{i}]")
        # Document order, as Argo lists them; the runner follows the dependencies.
        return DagTasks([
            DagTask(name, dependencies[name], node) for name in by_name if (node := nodes.get(name)) is not None
        ])  # fmt: skip

    def _dependencies(self, task: dict[str, Any], path: str) -> list[str]:
        """``dependencies`` (a list) or a simple ``depends``: task names joined by ``&&``, each optionally
        ``.Succeeded`` (no task is ever skipped here, so both mean "after it succeeded")."""
        if "dependencies" in task and "depends" in task:
            self.problem(path, "dependencies and depends cannot both be set")
        deps = task.get("dependencies")
        if deps is not None:
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                self.problem(f"{path}.dependencies", "must be a list of task names")
                return []
            return list(deps)
        depends = task.get("depends")
        if depends is None:
            return []
        names = []
        for term in str(depends).split("&&"):
            name = term.strip().removesuffix(".Succeeded")
            if not STEP_NAME.fullmatch(name):
                self.problem(f"{path}.depends", f"{depends!r}: pykatib supports only task names joined by '&&' "
                             "(optionally NAME.Succeeded)")  # fmt: skip
                return []
            names.append(name)
        return names

    def _leaf(self, template: dict[str, Any], kind: str, step: str, scope: _Scope, path: str) -> Node | None:
        if len(self.processes) >= MAX_STEPS:
            self.problem(path, f"the workflow unfolds into more than {MAX_STEPS} steps")
            return None
        body = template[kind]
        if not isinstance(body, dict):
            self.problem(f"{path}.{kind}", "must be a mapping")
            return None
        container = self._substitute_all(body, scope, f"{path}.{kind}")
        metadata = self._substitute_all(template.get("metadata") or {}, scope, f"{path}.metadata")
        for field_name in ("image", "workingDir"):
            if MARKER.search(str(container.get(field_name) or "")):
                self.problem(f"{path}.{kind}.{field_name}", "must be known before the run (not a step's result)")
        source = container.pop("source", None)
        container["name"] = MAIN_CONTAINER
        if source is not None:
            if not isinstance(source, str):
                self.problem(f"{path}.script.source", "must be a string")
                return None
            # Argo runs the command with the source's file first among the args.
            container["args"] = [SCRIPT_PATH, *(container.get("args") or [])]
        argv: list[str] = []
        if self.check_commands:
            try:
                argv = container_argv(container, f"{TRIAL_SPEC_PATH}.{path}.{kind}", self.entrypoint)
            except TrialJobError as exc:
                self.problems.append((f"{TRIAL_SPEC_PATH}.{path}.{kind}", str(exc).split(": ", 1)[-1]))
                return None
        base = re.sub(r"[^a-z0-9-]", "-", step.lower())  # a file name, and what the runner's markers match
        index = self.name_counts.get(base, 0)
        self.name_counts[base] = index + 1
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
        process = ContainerProcess(
            base, index, container, argv, container_env(container),
            {str(k): str(v) for k, v in (labels or {}).items()},
        )  # fmt: skip
        self.processes.append(process)
        if source is not None:
            self.sources[process.key] = source
        return Leaf(process.key)

    def mark_primary(self, container_name: str | None, wanted: Mapping[str, str] | None) -> None:
        """Katib's metrics come from the pod matching primaryPodLabels: exactly one step must."""
        if container_name is not None and container_name != MAIN_CONTAINER:
            self.problems.append(("spec.trialTemplate.primaryContainerName",
                                  f"must be {MAIN_CONTAINER!r} for an Argo Workflow: Argo names every step's "
                                  f"container {MAIN_CONTAINER!r}"))  # fmt: skip
        if not self.processes:
            return
        if wanted:
            matching = [p for p in self.processes if all(p.labels.get(k) == v for k, v in wanted.items())]
        else:
            matching = self.processes if len(self.processes) == 1 else []
        if len(matching) == 1:
            matching[0].primary = True
            self._refuse_gpus_off_the_primary()
            return
        labels = ", ".join(f"{k}: {v}" for k, v in (wanted or {}).items())
        if not wanted:
            message = "must name the labels of the step whose output holds the metrics (the Workflow has several)"
        elif matching:
            keys = ", ".join(p.key for p in matching)
            message = f"{labels} matches {len(matching)} steps ({keys}); pykatib reads the metrics of one"
        else:
            message = f"no step's template has the labels {labels} (metadata.labels)"
        self.problems.append(("spec.trialTemplate.primaryPodLabels", message))

    def _refuse_gpus_off_the_primary(self) -> None:
        """The workflow is one process to the executor, holding the primary step's resources: the GPUs of
        another step could not be given to it alone (every step sees the primary's)."""
        for process in self.processes:
            limits = {**((process.container.get("resources") or {}).get("requests") or {}),
                      **((process.container.get("resources") or {}).get("limits") or {})}  # fmt: skip
            if not process.primary and str(limits.get("nvidia.com/gpu", "0")).strip() not in ("0", ""):
                self.problems.append((
                    f"{TRIAL_SPEC_PATH}.spec.templates (step {process.key})",
                    "pykatib gives GPUs (nvidia.com/gpu) only to the primary step of a Workflow",
                ))  # fmt: skip


def _topological(dependencies: dict[str, list[str]]) -> list[str] | None:
    """The task names, each after its dependencies (unknown ones ignored); None when they form a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(name: str) -> bool:
        if state.get(name) == 2:
            return True
        if state.get(name) == 1:
            return False
        state[name] = 1
        if not all(visit(d) for d in dependencies[name] if d in dependencies):
            return False
        state[name] = 2
        order.append(name)
        return True

    return order if all(visit(name) for name in dependencies) else None


def _ancestors(name: str, dependencies: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(dependencies.get(name, []))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(dependencies.get(current, []))
    return seen


def runner_document(plan: WorkflowPlan, launched: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The plan ``trial.workflow_run`` reads: the tree, and each step as launched (key -> its localized
    ``argv``, ``env`` and ``unset`` over the runner's own environment, ``cwd``, ``log``, ``primary``), with
    its script (the source and its file here) and whether a later step reads its result."""

    def tree(node: Node) -> dict[str, Any]:
        if isinstance(node, Leaf):
            return {"leaf": node.key}
        if isinstance(node, StepGroups):
            return {"steps": [[tree(child) for child in group] for group in node.groups]}
        return {"dag": [{"name": t.name, "dependencies": t.dependencies, "node": tree(t.node)} for t in node.tasks]}

    steps: dict[str, dict[str, Any]] = {}
    for process in plan.processes:
        step = {**launched[process.key], "name": process.replica, "result": process.key in plan.results}
        if process.key in plan.sources:
            # The script's file here: the argument where Argo passes /argo/staging/script, as localized.
            path = step["argv"][process.argv.index(SCRIPT_PATH)]
            step["script"] = {"path": path, "source": plan.sources[process.key]}
        steps[process.key] = step
    return {"root": tree(plan.root), "steps": steps}
