"""pbt through ``pykatib run`` on the simple-pbt stand-in: generations, checkpoints copied parent to child."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import end_condition, run_pykatib, trial_dir, trials_of
from pykatib.control.launch import TrialLaunchError, prepare_trial
from pykatib.execute.localize import default_image_map
from pykatib.spec.loader import load_experiment_document
from pykatib.suggest.pbt import GENERATION_LABEL, PARENT_LABEL

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pbt.yaml"
NAME, EPOCHS, POPULATION, TRIALS = "simple-pbt", 20, 5, 20
CHECKPOINT = Path("rootfs/var/log/katib/checkpoints/training.ckpt")


def test_pbt_example_runs_generations_and_each_child_continues_its_parents_checkpoint(tmp_path: Path) -> None:
    rc, status, stderr = run_pykatib(EXAMPLE, "--workdir", str(tmp_path))
    assert rc == 0, stderr
    assert status is not None
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    trials = trials_of(tmp_path, NAME, "default")
    assert len(trials) == TRIALS
    assert [int(t.labels[GENERATION_LABEL]) for t in trials] == [g for g in range(4) for _ in range(POPULATION)]
    by_name = {t.name: t for t in trials}
    for trial in trials:
        generation = int(trial.labels[GENERATION_LABEL])
        directory = trial_dir(tmp_path, NAME, trial.name)
        # Every trial saved its own checkpoint in its own directory, EPOCHS on from where it started.
        saved = json.loads((directory / CHECKPOINT).read_text())
        assert saved["step"] == EPOCHS * (generation + 1)
        first_line = (directory / "trial.log").read_text().splitlines()[0]
        if generation == 0:
            assert PARENT_LABEL not in trial.labels
            assert first_line.startswith("epoch 1:")
            continue
        # A child started from a copy of its parent's final checkpoint (the parent's own file is untouched).
        parent = by_name[trial.labels[PARENT_LABEL]]
        assert int(parent.labels[GENERATION_LABEL]) == generation - 1
        parent_saved = json.loads((trial_dir(tmp_path, NAME, parent.name) / CHECKPOINT).read_text())
        assert parent_saved["step"] == EPOCHS * generation
        assert first_line == f"resumed from step {parent_saved['step']} at accuracy {parent_saved['accuracy']:.4f}"
    # PBT found a schedule: the last generation's best beats every first-generation trial.
    best = {g: max(t.objective_value or 0.0 for t in trials if t.labels[GENERATION_LABEL] == str(g)) for g in (0, 3)}
    assert best[3] > best[0]


def test_katibs_simple_pbt_settings_run(tmp_path: Path) -> None:
    # Katib's own example: a population of 40, stopped after 2 trials (both of the first generation).
    # (Katib's file also says maxFailedTrialCount 3, which its own webhook rejects beside maxTrialCount 2.)
    katib = ["--set", "spec.maxTrialCount=2", "--set", "spec.parallelTrialCount=2", "--set",
             "spec.maxFailedTrialCount=2", "--set", "spec.algorithm.algorithmSettings[1].value=40"]  # fmt: skip
    rc, status, stderr = run_pykatib(EXAMPLE, "--workdir", str(tmp_path), *katib)
    assert rc == 0, stderr
    assert status is not None and status["trialsSucceeded"] == 2
    assert {t.labels[GENERATION_LABEL] for t in trials_of(tmp_path, NAME, "default")} == {"0"}


def test_a_child_gets_its_parents_checkpoint_once_and_keeps_its_own_after_a_restart(tmp_path: Path) -> None:
    experiment = load_experiment_document(EXAMPLE).experiment
    assert experiment is not None
    trials = tmp_path / "trials"
    parent_ckpt = trials / "parent" / CHECKPOINT
    parent_ckpt.parent.mkdir(parents=True)
    parent_ckpt.write_text('{"step": 20, "accuracy": 0.5}')
    labels = {GENERATION_LABEL: "1", PARENT_LABEL: "parent"}
    child = trials / "child"
    prepare_trial(experiment, "child", {"lr": "0.001"}, child, default_image_map(), labels=labels)
    assert (child / CHECKPOINT).read_text() == '{"step": 20, "accuracy": 0.5}'
    # The child trains and saves; the controller restarts and prepares it again to re-attach: its own
    # checkpoint stays, it is not replaced by the parent's again.
    (child / CHECKPOINT).write_text('{"step": 40, "accuracy": 0.7}')
    prepare_trial(experiment, "child", {"lr": "0.001"}, child, default_image_map(), labels=labels)
    assert (child / CHECKPOINT).read_text() == '{"step": 40, "accuracy": 0.7}'
    # A first-generation trial (no parent) starts from an empty checkpoint directory of its own.
    first = trials / "first"
    prepare_trial(experiment, "first", {"lr": "0.001"}, first, default_image_map(), labels={GENERATION_LABEL: "0"})
    assert (first / CHECKPOINT).parent.is_dir() and not (first / CHECKPOINT).exists()


def test_a_parent_label_cannot_reach_outside_the_experiment(tmp_path: Path) -> None:
    experiment = load_experiment_document(EXAMPLE).experiment
    assert experiment is not None
    outside = tmp_path / "outside" / CHECKPOINT
    outside.parent.mkdir(parents=True)
    outside.write_text("secret")
    trials = tmp_path / "experiment" / "trials"
    for parent in ("../../outside", str(tmp_path / "outside"), "..", "missing-trial"):
        labels = {GENERATION_LABEL: "1", PARENT_LABEL: parent}
        with pytest.raises(TrialLaunchError):
            prepare_trial(experiment, "child", {"lr": "0.001"}, trials / "child", default_image_map(), labels=labels)
        assert not (trials / "child" / CHECKPOINT).exists()
