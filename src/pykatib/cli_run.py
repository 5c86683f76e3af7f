"""``pykatib run``: load, check, run with live progress, print the result. Exit 0/1/2 as Katib's outcome."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from pykatib.control.runner import ExperimentController
from pykatib.control.session import RunRefused, check_runnable, plan_run
from pykatib.execute.localize import ImageMap, default_image_map
from pykatib.progress import Progress, optimal_summary, trials_table
from pykatib.spec.errors import InvalidExperimentError
from pykatib.spec.loader import SpecFileError, load_experiment_document
from pykatib.store import Store, workdir_url

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


def run_file(
    file: str,
    *,
    images: Sequence[str] = (),
    overrides: Sequence[str] = (),
    db_url: str | None = None,
    workdir: Path = Path(".pykatib"),
    name: str | None = None,
    resume: bool = False,
    output: str = "table",
) -> int:
    err = Console(stderr=True)
    out = Console(soft_wrap=True)
    try:
        document = load_experiment_document(file, name=name, overrides=overrides)
        image_map = default_image_map()
        image_map.update(ImageMap.parse_options(images))
    except SpecFileError as exc:
        err.print(f"[red]error:[/] {exc}")
        return EXIT_INVALID
    except InvalidExperimentError as exc:
        err.print(f"[red]{exc}[/]", highlight=False)
        return EXIT_INVALID
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        return EXIT_INVALID
    experiment = document.experiment
    assert experiment is not None
    trial_spec = document.sample_trial_spec if experiment.spec.trial_template.config_map else None  # type: ignore[union-attr]
    store = Store(db_url or workdir_url(workdir))
    try:
        check_runnable(experiment, image_map, trial_spec)
        plan = plan_run(store, experiment, resume=resume)
    except RunRefused as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        store.close()
        return EXIT_INVALID
    try:
        if plan.action == "finished":
            assert plan.record is not None
            status = plan.record.status
            err.print(f"{experiment.metadata.name} has already ended; raise spec.maxTrialCount to run more trials")
        else:
            objective = experiment.spec.objective.objective_metric_name  # type: ignore[union-attr]
            with Progress(err, str(experiment.metadata.name), str(objective)) as progress:
                controller = ExperimentController(
                    experiment, store, workdir=workdir, image_map=image_map, trial_spec=trial_spec,
                    on_change=progress.update,
                )  # fmt: skip
                status = _run_interruptibly(controller)
            if status is None:
                err.print(f"interrupted: running trials were stopped; continue with: pykatib run {file} --resume")
                return EXIT_INTERRUPTED
        _print_result(out, store, experiment.to_dict(), status, output)
        return EXIT_FAILED if _failed(status) else EXIT_SUCCEEDED
    finally:
        store.close()


def _run_interruptibly(controller: ExperimentController) -> dict[str, Any] | None:
    """Run to the end; on Ctrl-C (or SIGTERM) stop the trials cleanly and return None."""

    async def main() -> dict[str, Any] | None:
        task = asyncio.create_task(controller.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return None
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


def _failed(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Failed" and c.get("status") == "True" for c in status.get("conditions", []))


def _print_result(out: Console, store: Store, document: dict[str, Any], status: dict[str, Any], output: str) -> None:
    final = {**document, "status": status}
    if output == "json":
        sys.stdout.write(json.dumps(final, indent=2) + "\n")
        return
    if output == "yaml":
        sys.stdout.write(yaml.safe_dump(final, sort_keys=False))
        return
    record = store.get_experiment(document["metadata"]["name"], document["metadata"]["namespace"])
    assert record is not None
    trials = store.list_trials(record.id)
    best = (status.get("currentOptimalTrial") or {}).get("bestTrialName")
    objective = document["spec"]["objective"]["objectiveMetricName"]
    out.print(trials_table(trials, objective, best))
    ended = next((c for c in status.get("conditions", []) if c["type"] in ("Succeeded", "Failed")), None)
    if ended:
        out.print(f"Experiment {document['metadata']['name']} {ended['type']}: {ended['reason']} ({ended['message']})")
    out.print(optimal_summary(status))
