"""Each kind the server serves, read from and written to the store: Katib's Experiment, Trial and Suggestion,
and the core Pod and Event (ConfigMaps and namespaces are kept whole: ``core_kinds``).

The API layer (``api``) does what is common to every kind (selectors, paging, tables, patches, watch); a
kind here lists, gets, creates, replaces and deletes its objects, and applies Katib's rules: an experiment
is validated as ``pykatib validate`` does (422 with each error's field path), only its budget may change
once created, deleting it stops its trials first, and trials, suggestions and pods are read-only.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pykatib.control.session import (
    EDITABLE,
    RunRefused,
    changed_beyond_budget,
    check_runnable,
    remove_experiment_files,
    restart_refusal,
)
from pykatib.control.status import condition
from pykatib.execute.localize import ImageMap
from pykatib.server.core_kinds import stored_config_maps, stored_kind
from pykatib.server.kind import Kind, ListQuery, create_named, generate_prefix, generated_name, metadata_of
from pykatib.server.kube.errors import (
    KubeError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
)
from pykatib.server.names import EXPERIMENT_LABEL, GROUP, SOURCE_DIR_ANNOTATION, STOP_ANNOTATION
from pykatib.server.objects import (
    V1ALPHA3,
    ExperimentParser,
    PodRef,
    experiment_object,
    experiment_owner,
    pod_object,
    resource_version,
    suggestion_object,
    trial_object,
    trial_pods,
)
from pykatib.server.supervisor import Budget, Supervisor
from pykatib.spec.conditions import ACTIVE_PHASES, ExperimentCondition, ExperimentReason
from pykatib.spec.loader import ConfigMaps, load_document
from pykatib.store import (
    ExperimentExistsError,
    ExperimentOwnedError,
    ExperimentRecord,
    Store,
    TrialRecord,
    error_line,
)

FINISHED_TRIALS_KEPT = 10_000  # finished trials' whole objects, kept for lists and gets
COMPLETE_ONE_BY_ONE = 50  # up to this many trials of one experiment are read one by one, more in one list
ALPHA3_KIND = "experiments.v1alpha3"  # kube_objects' kind for the v1alpha3 form an experiment came in


class Resources:
    """The server's kinds over one store; ``kinds[(group_version, plural)]``."""

    def __init__(self, store: Store, supervisor: Supervisor, *, workdir: Path, image_map: ImageMap) -> None:
        self.store = store
        self.supervisor = supervisor
        self.workdir = workdir
        self.image_map = image_map
        self.parser = ExperimentParser()
        self._finished: OrderedDict[tuple[int, Any, int], dict[str, Any]] = OrderedDict()
        # Creates, edits and deletes one at a time (a patch's read, merge and write included: two patches at
        # once must not write back each other's old values).
        self.write_lock = threading.RLock()
        experiments = {
            "listing": self.list_experiments, "get": self.get_experiment, "create": self.create_experiment,
            "replace": self.replace_experiment, "delete": self.delete_experiment,
            "dry_run": lambda ns, body: self.create_experiment(ns, body, dry_run=True),
        }  # fmt: skip
        self.kinds: dict[tuple[str, str], Kind] = {
            (f"{GROUP}/v1beta1", "experiments"): Kind(**experiments),  # type: ignore[arg-type]
            (V1ALPHA3, "experiments"): Kind(
                listing=lambda ns, q: self.list_experiments(ns, q, alpha3=True),
                get=lambda ns, name: self.get_experiment(ns, name, alpha3=True),
                create=lambda ns, body: self.create_experiment(ns, body, alpha3=True),
                dry_run=lambda ns, body: self.create_experiment(ns, body, alpha3=True, dry_run=True),
                replace=lambda ns, name, body: self.replace_experiment(ns, name, body, alpha3=True),
                delete=self.delete_experiment,
            ),
            (f"{GROUP}/v1beta1", "trials"): Kind(
                listing=self.list_trials, get=self.get_trial, complete=self.complete_trials, page=self.page_trials
            ),
            (f"{GROUP}/v1beta1", "suggestions"): Kind(listing=self.list_suggestions, get=self.get_suggestion),
            ("v1", "pods"): Kind(listing=self.list_pods, get=self.get_pod),
            ("v1", "events"): Kind(listing=lambda ns, q: [], get=self._no_event),
            ("v1", "configmaps"): stored_kind(store, "configmaps", "ConfigMap", namespaced=True),
            ("v1", "namespaces"): stored_kind(store, "namespaces", "Namespace", namespaced=False),
        }

    # --- experiments ----------------------------------------------------------------------------------

    def _experiment_record(self, namespace: str | None, name: str) -> ExperimentRecord:
        record = self.store.get_experiment(name, namespace or "default")
        if record is None:
            raise not_found("experiments", GROUP, name)
        return record

    def _served(self, record: ExperimentRecord, *, alpha3: bool) -> dict[str, Any]:
        form = self.store.get_object(ALPHA3_KIND, record.namespace, record.name) if alpha3 else None
        served = experiment_object(record, form)
        if alpha3 and form is None:
            served["apiVersion"] = V1ALPHA3
        return served

    def list_experiments(
        self, namespace: str | None, query: ListQuery, *, alpha3: bool = False
    ) -> list[dict[str, Any]]:
        if query.name is not None:
            record = self.store.get_experiment(query.name, namespace or "default") if namespace else None
            records = [record] if record is not None else [
                r for r in self.store.list_experiments(namespace) if r.name == query.name
            ]  # fmt: skip
        else:
            records = self.store.list_experiments(namespace)
        return [self._served(r, alpha3=alpha3) for r in records]

    def get_experiment(self, namespace: str | None, name: str, *, alpha3: bool = False) -> dict[str, Any]:
        return self._served(self._experiment_record(namespace, name), alpha3=alpha3)

    def _validated(self, body: dict[str, Any], name: str) -> tuple[Any, dict[str, Any] | None]:
        """The experiment of a request body, defaulted and validated; 422 naming each field otherwise."""
        document = load_document(body, source=name, index=0, config_maps=self.config_maps())
        if not document.ok:
            raise invalid("Experiment", GROUP, name, [(e.path, e.message) for e in document.errors])
        experiment = document.experiment
        assert experiment is not None
        template = experiment.spec.trial_template
        trial_spec = document.sample_trial_spec if template is not None and template.config_map else None
        return experiment, trial_spec

    def create_experiment(
        self, namespace: str | None, body: dict[str, Any], *, alpha3: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        """Validate, check that it can run here, store and start it; ``dry_run``: everything but the last two,
        answering what would have been created (409 for a name taken already, as Kubernetes does)."""
        namespace = namespace or "default"
        metadata = metadata_of(body)
        prefix = generate_prefix(metadata)  # generateName: the name is drawn here, as Kubernetes does
        name = generated_name(prefix) if prefix is not None else str(metadata.get("name") or "")
        if not name:
            raise invalid("Experiment", GROUP, name, [("metadata.name", "Required value: name is required")])
        if metadata.get("namespace") not in (None, namespace):
            raise bad_request(
                f"the namespace of the provided object ({metadata.get('namespace')}) does not match the namespace "
                f"sent on the request ({namespace})"
            )
        body = {**body, "metadata": {**metadata, "name": name, "namespace": namespace}}
        experiment, trial_spec = self._validated(body, name)
        source = (experiment.metadata.annotations or {}).get(SOURCE_DIR_ANNOTATION)
        source_dir = Path(source) if isinstance(source, str) and Path(source).is_dir() else None
        try:
            check_runnable(experiment, self.image_map, trial_spec, source_dir)
        except RunRefused as exc:
            raise invalid("Experiment", GROUP, name, [("spec", str(exc))]) from exc
        document = experiment.to_dict()
        if dry_run:
            return self._dry_run(namespace, name, document, body, alpha3=alpha3)
        with self.write_lock:
            record = self._create_record(namespace, name, document, prefix)
            name = record.name
            body["metadata"]["name"] = name
            if alpha3:
                original = json.loads(json.dumps(body))
                self.store.create_object(ALPHA3_KIND, namespace, name, original)
        self.supervisor.drive(namespace, name)
        return self._served(record, alpha3=alpha3)

    def _dry_run(
        self, namespace: str, name: str, document: dict[str, Any], body: dict[str, Any], *, alpha3: bool
    ) -> dict[str, Any]:
        """The object a create would answer, built from an unsaved record; nothing is stored or started."""
        if self.store.get_experiment(name, namespace) is not None:
            raise already_exists("experiments", GROUP, name)
        now = datetime.now(UTC)
        record = ExperimentRecord(0, name, namespace, document, {}, now, now)
        served = experiment_object(record)
        if alpha3:
            served = {**served, "apiVersion": V1ALPHA3, "spec": body.get("spec") or {}}
        return served

    def _create_record(
        self, namespace: str, name: str, document: dict[str, Any], prefix: str | None
    ) -> ExperimentRecord:
        """Store a new experiment; a generated name (``prefix``) taken already is drawn again."""

        def create(name: str) -> ExperimentRecord:
            document["metadata"]["name"] = name
            return self.store.create_experiment(name, namespace, document)

        return create_named(
            create, name, prefix, ExperimentExistsError, lambda n: already_exists("experiments", GROUP, n)
        )

    def replace_experiment(
        self, namespace: str | None, name: str, body: dict[str, Any], *, alpha3: bool = False
    ) -> dict[str, Any]:
        """PUT or PATCH: Katib's rules, as its webhook applies them. Only the budget and metadata's labels and
        annotations change; raising maxTrialCount of an experiment that succeeded by reaching it restarts it
        (LongRunning or FromVolume)."""
        with self.write_lock:
            record = self._experiment_record(namespace, name)
            sent_rv = metadata_of(body).get("resourceVersion")
            if sent_rv and str(sent_rv) != resource_version(record.updated_at):
                raise conflict(
                    "experiments", GROUP, name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )  # fmt: skip
            sent_name = metadata_of(body).get("name")
            if sent_name not in (None, name):
                raise bad_request(f"the name of the object ({sent_name}) does not match the name on the URL ({name})")
            body = {**body, "metadata": {**metadata_of(body), "name": name, "namespace": record.namespace}}
            if alpha3:
                form = self.store.get_object(ALPHA3_KIND, record.namespace, name)
                return self._replace_alpha3(record, form.id if form else None, body)
            return self._replace(record, body)

    def _replace_alpha3(self, record: ExperimentRecord, form_id: int | None, body: dict[str, Any]) -> dict[str, Any]:
        self._replace(record, body)
        if form_id is not None:
            self.store.replace_object(form_id, json.loads(json.dumps({k: body[k] for k in body if k != "status"})))
        return self._served(self._experiment_record(record.namespace, record.name), alpha3=True)

    def _replace(self, record: ExperimentRecord, body: dict[str, Any]) -> dict[str, Any]:
        name = record.name
        experiment, _ = self._validated(body, name)
        new = experiment.to_dict()
        old = record.spec
        changed = changed_beyond_budget(old, new)
        if changed:
            fields = [(f"spec.{k}", "Forbidden: only spec.parallelTrialCount, spec.maxTrialCount and "
                       "spec.maxFailedTrialCount are editable") for k in changed]  # fmt: skip
            raise invalid("Experiment", GROUP, name, fields)
        spec = new["spec"]
        budget = Budget(spec.get("maxTrialCount"), spec.get("parallelTrialCount"), spec.get("maxFailedTrialCount"))
        status = record.status or {}
        finished = bool(status.get("completionTime"))
        restart = False
        if finished and budget.max_trial_count is not None:
            if budget.max_trial_count != old.get("spec", {}).get("maxTrialCount"):
                restart = self._check_restart(record, budget)
            else:  # the same budget again: a raise its controller missed as it ended restarts it now
                with contextlib.suppress(KubeError):
                    restart = self._check_restart(record, budget)
        if restart:
            # A stop asked for before (or while) it ended is spent: the restarted run must not end at once.
            (new.get("metadata") or {}).get("annotations", {}).pop(STOP_ANNOTATION, None)
        if restart:
            # Restarting at once, as Katib's controller marks it: a `kubectl wait --for=condition=Succeeded`
            # right after the edit waits for the new end, not the old one.
            conditions = [
                c
                for c in status.get("conditions") or []
                if c.get("type") not in (ExperimentCondition.SUCCEEDED, ExperimentCondition.FAILED)
            ]
            conditions.append(condition(ExperimentCondition.RESTARTING, True, ExperimentReason.RESTARTING,
                                        "Experiment is restarting"))  # fmt: skip
            status = {k: v for k, v in status.items() if k != "completionTime"} | {"conditions": conditions}
            self.store.update_experiment(record.id, spec=new, status=status)
        else:
            self.store.update_experiment(record.id, spec=new)
        key = (record.namespace, name)
        annotations = (new.get("metadata") or {}).get("annotations") or {}
        stop = str(annotations.get(STOP_ANNOTATION, "")).lower() == "true"
        self._sync_alpha3(record, new)
        if not finished:
            # A controller that runs (or is starting) takes the budget at once; one that starts later reads it
            # from the store.
            if self.supervisor.set_budget(*key, budget):
                if stop:
                    self.supervisor.stop_experiment(*key)
            else:
                self.supervisor.drive(*key)
        elif restart:
            self.supervisor.drive(*key)
        return self._served(self._experiment_record(record.namespace, name), alpha3=False)

    def _sync_alpha3(self, record: ExperimentRecord, new: dict[str, Any]) -> None:
        """Keep the v1alpha3 form of an experiment created in it in step with what may change: the budget and
        the labels and annotations."""
        form = self.store.get_object(ALPHA3_KIND, record.namespace, record.name)
        if form is None:
            return
        body = json.loads(json.dumps(form.body))
        spec = body.setdefault("spec", {})
        for key in EDITABLE:
            if key in new.get("spec", {}):
                spec[key] = new["spec"][key]
        metadata = body.setdefault("metadata", {})
        for key in ("labels", "annotations"):
            value = (new.get("metadata") or {}).get(key)
            if value:
                metadata[key] = value
            else:
                metadata.pop(key, None)
        self.store.replace_object(form.id, body)

    def _check_restart(self, record: ExperimentRecord, budget: Budget) -> bool:
        """Katib's webhook on raising maxTrialCount of an ended experiment (``session.restart_refusal``)."""
        policy = (record.spec.get("spec") or {}).get("resumePolicy")
        refusal = restart_refusal(record.status or {}, policy, budget.max_trial_count or 0)
        if refusal is not None:
            raise invalid("Experiment", GROUP, record.name, [("spec.maxTrialCount", refusal.message)])
        return True

    def delete_experiment(self, namespace: str | None, name: str) -> dict[str, Any]:
        """Stop its controller and trials, then remove its rows and files."""
        record = self._experiment_record(namespace, name)
        served = self._served(record, alpha3=False)
        try:
            self.supervisor.halt(record.namespace, name)
            trial_dirs = self._delete_rows(record, name)
        finally:
            self.supervisor.forget(record.namespace, name)
        remove_experiment_files(self.workdir, record.namespace, name, trial_dirs)
        return served

    def _delete_rows(self, record: ExperimentRecord, name: str) -> list[Path]:
        with self.write_lock:
            try:
                # Its lease, so that no controller (another server, a `pykatib run --resume`) runs it meanwhile.
                self.store.acquire_lease(record.id, self.supervisor.owner)
            except ExperimentOwnedError as exc:
                raise conflict("experiments", GROUP, name, f"it is run elsewhere: {exc}") from exc
            trial_dirs = [Path(t.work_dir) for t in self.store.list_trials(record.id) if t.work_dir]
            self.store.delete_experiment(record.id)
            form = self.store.get_object(ALPHA3_KIND, record.namespace, name)
            if form is not None:
                self.store.delete_object(form.id)
        return trial_dirs

    # --- trials ---------------------------------------------------------------------------------------

    def _experiments_for(self, namespace: str | None, query: ListQuery) -> list[ExperimentRecord]:
        if query.experiment is not None:
            if namespace is not None:
                record = self.store.get_experiment(query.experiment, namespace)
                return [record] if record is not None else []
            return [r for r in self.store.list_experiments() if r.name == query.experiment]
        return self.store.list_experiments(namespace)

    def list_trials(self, namespace: str | None, query: ListQuery) -> list[dict[str, Any]]:
        if query.name is not None:
            try:
                return [self.get_trial(namespace, query.name, full=False)]
            except KubeError:
                return []
        objects: list[dict[str, Any]] = []
        for record in self._experiments_for(namespace, query):
            owner = experiment_owner(record)
            objects.extend(trial_object(t, record, owner=owner) for t in self.store.list_trials(record.id))
        return objects

    def page_trials(
        self, namespace: str | None, query: ListQuery, offset: int, limit: int | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Trials ``offset`` to ``offset + limit`` of the experiments listed (in creation order), read as
        such from the store, and the number of trials in all: a page costs what it holds, not the whole list."""
        page: list[dict[str, Any]] = []
        total = 0
        for record in self._experiments_for(namespace, query):
            count = self.store.count_trials(record.id)
            total += count
            wanted = None if limit is None else limit - len(page)
            if offset >= count or wanted == 0:
                offset = max(0, offset - count)
                continue
            trials = self.store.list_trials(record.id, offset=offset, limit=wanted)
            offset = 0
            page.extend(self._trial_objects(record, trials, full=query.full))
        return page, total

    def _trial_objects(
        self, record: ExperimentRecord, trials: list[TrialRecord], *, full: bool
    ) -> list[dict[str, Any]]:
        owner = experiment_owner(record)
        if not full:
            return [trial_object(t, record, owner=owner) for t in trials]
        parsed = self.parser.parse(record, self.config_maps())
        # A finished trial's object never changes while its row and the experiment's document do not: its
        # observations were stored before its end. Those are kept, and only the others read their metrics.
        keys = {t.id: (t.id, t.updated_at, parsed.version) for t in trials}
        built = {t.id: self._finished.get(keys[t.id]) for t in trials}
        missing = [t for t in trials if built[t.id] is None]
        if missing:
            summaries = self.store.metric_summaries(record.id, [t.id for t in missing])
            for t in missing:
                obj = trial_object(t, record, metrics=summaries.get(t.id), parsed=parsed, owner=owner)
                built[t.id] = obj
                if t.phase not in ACTIVE_PHASES:
                    self._finished[keys[t.id]] = obj
                    if len(self._finished) > FINISHED_TRIALS_KEPT:
                        self._finished.popitem(last=False)
        return [built[t.id] for t in trials]  # type: ignore[misc]

    def complete_trials(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add each trial's observation and run spec (for a page of a list, not a Table)."""
        names: dict[tuple[str, str], set[str]] = {}
        for obj in objects:
            metadata = obj["metadata"]
            names.setdefault((metadata["namespace"], metadata["labels"][EXPERIMENT_LABEL]), set()).add(metadata["name"])
        full: dict[str, dict[str, Any]] = {}
        for (namespace, experiment), wanted in names.items():
            record = self.store.get_experiment(experiment, namespace)
            if record is None:
                continue
            if len(wanted) > COMPLETE_ONE_BY_ONE:  # many of its trials (a watch of them all): one query
                trials = [t for t in self.store.list_trials(record.id) if t.name in wanted]
            else:
                found = (self.store.get_trial(name) for name in wanted)
                trials = sorted((t for t in found if t is not None and t.experiment_id == record.id),
                                key=lambda t: t.id)  # fmt: skip
            for built in self._trial_objects(record, trials, full=True):
                full[built["metadata"]["name"]] = built
        return [full.get(obj["metadata"]["name"], obj) for obj in objects]

    def _trial_record(self, namespace: str | None, name: str) -> tuple[TrialRecord, ExperimentRecord]:
        trial = self.store.get_trial(name)
        record = None
        if trial is not None:
            record = next((r for r in self.store.list_experiments(namespace) if r.id == trial.experiment_id), None)
        if trial is None or record is None:
            raise not_found("trials", GROUP, name)
        return trial, record

    def get_trial(self, namespace: str | None, name: str, *, full: bool = True) -> dict[str, Any]:
        trial, record = self._trial_record(namespace, name)
        return self._trial_objects(record, [trial], full=full)[0]

    # --- suggestions ----------------------------------------------------------------------------------

    def list_suggestions(self, namespace: str | None, query: ListQuery) -> list[dict[str, Any]]:
        name = query.name or query.experiment
        records = self._experiments_for(namespace, ListQuery(experiment=name))
        return [suggestion_object(r, self.store.list_trials(r.id)) for r in records]

    def get_suggestion(self, namespace: str | None, name: str) -> dict[str, Any]:
        record = self.store.get_experiment(name, namespace or "default")
        if record is None:
            raise not_found("suggestions", GROUP, name)
        return suggestion_object(record, self.store.list_trials(record.id))

    # --- pods -----------------------------------------------------------------------------------------

    def _pods_of(self, record: ExperimentRecord, trials: Sequence[TrialRecord]) -> list[PodRef]:
        parsed = self.parser.parse(record, self.config_maps())
        return [pod for trial in trials for pod in trial_pods(trial, parsed, self.image_map.entrypoint)]

    def list_pods(self, namespace: str | None, query: ListQuery) -> list[dict[str, Any]]:
        if query.name is not None:
            try:
                return [self.get_pod(namespace, query.name)]
            except KubeError:
                return []
        if query.trial is not None:
            try:
                trial, record = self._trial_record(namespace, query.trial)
            except KubeError:
                return []
            return [pod_object(pod, record) for pod in self._pods_of(record, [trial])]
        objects: list[dict[str, Any]] = []
        for record in self._experiments_for(namespace, query):
            trials = self.store.list_trials(record.id)
            objects.extend(pod_object(pod, record) for pod in self._pods_of(record, trials))
        return objects

    def find_pod(self, namespace: str | None, name: str) -> tuple[PodRef, ExperimentRecord]:
        """A pod is ``<trial>-<replica>-<index>``: its trial is the name without its last two parts."""
        parts = name.rsplit("-", 2)
        if len(parts) == 3:
            try:
                trial, record = self._trial_record(namespace, parts[0])
            except KubeError:
                trial = None
            if trial is not None:
                for pod in self._pods_of(record, [trial]):
                    if pod.name == name:
                        return pod, record
        raise KubeError(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")

    def get_pod(self, namespace: str | None, name: str) -> dict[str, Any]:
        pod, record = self.find_pod(namespace, name)
        return pod_object(pod, record)

    def pod_log(self, namespace: str | None, name: str, container: str | None = None) -> tuple[Path | None, bool]:
        """The pod's log file, only ever inside its trial's directory (None before its trial starts), and whether
        its trial is still to run or running. ``container``: one of the pod's (the primary, or the StdOut
        collector, whose log is the same output); 400 for any other."""
        pod, _ = self.find_pod(namespace, name)
        if container and container not in pod.containers():
            raise bad_request(f"container {container} is not valid for pod {name}")
        trial = self.store.get_trial(pod.trial.name)
        alive = trial is not None and trial.phase in ("Created", "Running")
        if pod.log is None or pod.trial.work_dir is None:
            return None, alive  # not started yet: a follow waits for its log
        directory = Path(pod.trial.work_dir).resolve()
        log = pod.log.resolve()
        if not log.is_relative_to(directory):
            raise KubeError(403, "Forbidden", f"the log of pod {name} is outside its trial's directory")
        return log, alive

    def _no_event(self, namespace: str | None, name: str) -> dict[str, Any]:
        raise KubeError(404, "NotFound", f'events "{name}" not found', name=name, kind="events")

    # --- configmaps and namespaces (stored whole) -----------------------------------------------------

    def config_maps(self) -> ConfigMaps:
        return stored_config_maps(self.store)


def store_error(exc: Exception) -> KubeError:
    """A store failure in a request: 503 with one line (the request may be retried)."""
    return KubeError(503, "ServiceUnavailable", f"the store failed: {error_line(exc)}")


__all__ = ["Kind", "ListQuery", "Resources", "store_error"]
