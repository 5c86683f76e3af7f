"""cmaes through ``pykatib run`` at parallelTrialCount 4: a generation's last members wait for room, the
experiment is not ended by the short answers, and it runs exactly the trials parallelTrialCount 1 runs."""

from __future__ import annotations

from pathlib import Path

from e2e_support import end_condition, make_experiment, run_pykatib, trials_of, write_experiment

# The loss is a bowl around (0.3, 0.6); values arrive as argv items, never as shell text.
BOWL = "import sys; x, y = map(float, sys.argv[1:]); print(f'loss={(x - 0.3) ** 2 + (y / 50 - 0.6) ** 2}')"
COMMAND = ["python3", "-c", BOWL, "${trialParameters.x}", "${trialParameters.y}"]
PARAMETERS = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}},
    {"name": "y", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "50"}},
]


def run(tmp_path: Path, parallel: int) -> list[dict[str, str]]:
    doc = make_experiment(
        COMMAND,
        name=f"cmaes-p{parallel}",
        parameters=PARAMETERS,
        algorithm={"algorithmName": "cmaes", "algorithmSettings": [{"name": "random_state", "value": "5"}]},
        parallelTrialCount=parallel,
        maxTrialCount=14,
    )
    workdir = tmp_path / f"p{parallel}"
    rc, status, stderr = run_pykatib(write_experiment(tmp_path, doc, f"p{parallel}.yaml"), "--workdir", str(workdir))
    assert rc == 0, stderr
    assert status is not None
    # 14 trials over generations of 6: two pauses at parallelTrialCount 4, and neither ends the experiment.
    assert end_condition(status) == ("Succeeded", "ExperimentMaxTrialsReached")
    assert status["trialsSucceeded"] == 14
    return [t.parameter_assignments for t in trials_of(workdir, doc["metadata"]["name"])]


def test_cmaes_at_parallel_four_runs_the_trials_of_parallel_one(tmp_path: Path) -> None:
    serial = run(tmp_path, 1)
    parallel = run(tmp_path, 4)
    assert len({tuple(sorted(a.items())) for a in serial}) == 14
    # Same draws in the same order: CMA-ES ranks a generation, so the order its trials end in is irrelevant.
    assert parallel == serial
