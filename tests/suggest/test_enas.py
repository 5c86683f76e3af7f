"""The enas suggester and its LSTM controller (torch: the optional extra ``pykatib[nas]``).

Katib's service (pkg/suggestion/v1beta1/nas/enas/service.py) answers the first request with the untrained
controller's samples; later ones first train it on the mean objective of the Succeeded trials, negated for a
minimize objective, and return nothing while no trial has succeeded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from pykatib.spec.conditions import TrialPhase
from pykatib.spec.models import AlgorithmSetting, ObjectiveType
from pykatib.spec.space import SearchSpace
from pykatib.suggest import TrialResult, algorithm_settings
from pykatib.suggest.enas_space import describe_assignment
from pykatib.suggest.registry import create_suggester

torch = pytest.importorskip("torch", reason="torch is not installed: pip install 'pykatib[nas]'")

from pykatib.suggest.enas import EnasSuggester  # noqa: E402 (needs torch)
from pykatib.suggest.enas_controller import Controller, ControllerSettings  # noqa: E402

PROJECT = Path(__file__).resolve().parents[2]
ENAS_CPU = PROJECT / "examples" / "katib" / "nas" / "enas-cpu.yaml"


def enas_cpu_nas_config() -> Any:
    from pykatib.spec.loader import load_experiment_document

    experiment = load_experiment_document(ENAS_CPU).experiment
    assert experiment is not None
    return experiment.spec.nas_config


def make(
    objective: ObjectiveType = ObjectiveType.MAXIMIZE, state: dict[str, Any] | None = None, **settings: str
) -> EnasSuggester:
    """As the registry builds it for an experiment: typed settings plus the experiment's nasConfig."""
    given = [AlgorithmSetting(name=name, value=value) for name, value in settings.items()]
    typed = {**algorithm_settings("enas", given), "nasConfig": enas_cpu_nas_config()}
    suggester = create_suggester("enas", SearchSpace(()), objective, typed, state)
    assert isinstance(suggester, EnasSuggester)
    return suggester


def results(suggestions: list[Any], phase: TrialPhase, value: float | None, start: int = 0) -> list[TrialResult]:
    return [TrialResult(f"t{start + i}", s.assignment, phase, value) for i, s in enumerate(suggestions)]


def test_controller_learns_a_toy_reward() -> None:
    # Reward: the fraction of layers whose operation is 0, of 5. REINFORCE must raise it well above chance (0.2).
    settings = ControllerSettings(hidden_size=32, learning_rate=0.05, baseline_decay=0.9, train_steps=300)
    controller = Controller(num_layers=4, num_operations=5, settings=settings, seed=7)

    def reward(arc: list[int] | Any) -> float:
        return sum(1 for layer in range(4) if arc[layer * (layer + 1) // 2] == 0) / 4

    def mean_reward() -> float:
        return sum(reward(arc) for arc in controller.sample_arcs(200)) / 200

    before = mean_reward()
    controller.train(reward)
    after = mean_reward()
    assert before < 0.35
    assert after > before + 0.3
    assert controller.train_step == 300


def test_every_layer_samples_an_operation_and_one_skip_bit_per_earlier_layer() -> None:
    controller = Controller(num_layers=4, num_operations=3, settings=ControllerSettings(), seed=1)
    for arc in controller.sample_arcs(20):
        assert len(arc) == 1 + 2 + 3 + 4
        operations = [arc[layer * (layer + 1) // 2] for layer in range(4)]
        assert all(0 <= op < 3 for op in operations)
        assert set(arc) - set(operations) <= {0, 1}


def test_first_request_samples_untrained_later_ones_train_first() -> None:
    suggester = make(controller_train_steps="5")
    first = suggester.suggest(2, [])
    assert len(first) == 2
    assert suggester.controller.train_step == 0
    for s in first:
        assert set(s.assignment) == {"architecture", "nn_config"}
        assert describe_assignment(s.assignment) is not None
    second = suggester.suggest(1, results(first, TrialPhase.SUCCEEDED, 0.4))
    assert len(second) == 1
    assert suggester.controller.train_step == 5
    assert not suggester.waiting()


def test_reward_is_the_mean_of_succeeded_trials_negated_when_minimizing() -> None:
    # Baseline decay 0.5: after one step the baseline is half way from 0 to the reward, so its sign shows it.
    trials = results(make().suggest(3, []), TrialPhase.SUCCEEDED, 0.9)
    trials[2] = TrialResult("t2", trials[2].assignment, TrialPhase.FAILED, 0.0)  # failed: not counted
    for objective, sign in ((ObjectiveType.MAXIMIZE, 1), (ObjectiveType.MINIMIZE, -1)):
        suggester = make(objective, controller_train_steps="1", controller_baseline_decay="0.5",
                         controller_entropy_weight="None")  # fmt: skip
        suggester.suggest(1, [])
        suggester.suggest(1, trials)
        assert suggester.controller.baseline == pytest.approx(sign * 0.45)


def test_without_a_succeeded_trial_it_waits_while_trials_run_then_ends() -> None:
    suggester = make(controller_train_steps="1")
    first = suggester.suggest(2, [])
    failed = TrialResult("t0", first[0].assignment, TrialPhase.FAILED)
    running = TrialResult("t1", first[1].assignment, TrialPhase.RUNNING)
    assert suggester.suggest(1, [failed, running]) == []
    assert suggester.waiting()
    ended = TrialResult("t1", first[1].assignment, TrialPhase.FAILED)
    assert suggester.suggest(1, [failed, ended]) == []
    assert not suggester.waiting()  # Katib: "Suggestion has spawned trials, but they all failed"


def test_a_rebuilt_suggester_proposes_what_the_original_would() -> None:
    original = make(controller_train_steps="3")
    first = original.suggest(2, [])
    state = json.loads(json.dumps(original.state(), allow_nan=False))  # as the store gives it back
    assert len(state["controller"]) < 1_500_000  # base64 of the weights, Adam's moments and the generator
    rebuilt = make(state=state, controller_train_steps="3")
    trials = results(first, TrialPhase.SUCCEEDED, 0.5)
    expected = original.suggest(2, trials)
    assert rebuilt.suggest(2, trials) == expected
    assert rebuilt.controller.train_step == original.controller.train_step == 3
    # And on from there, after a second save.
    again = make(state=json.loads(json.dumps(original.state())), controller_train_steps="3")
    more = trials + results(expected, TrialPhase.SUCCEEDED, 0.7, start=2)
    assert again.suggest(1, more) == original.suggest(1, more)


def _write(directory: Path, doc: dict[str, Any]) -> Path:
    path = directory / "experiment.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(path: Path, workdir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pykatib.cli", "run", str(path), "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def test_an_invalid_nas_config_is_refused_naming_the_field(tmp_path: Path) -> None:
    doc = yaml.safe_load(ENAS_CPU.read_text())
    pool_size = doc["spec"]["nasConfig"]["operations"][3]["parameters"][1]
    pool_size.update(parameterType="double", feasibleSpace={"min": "2", "max": "3"})
    proc = _run(_write(tmp_path, doc), tmp_path / "work")
    assert proc.returncode == 2, proc.stderr
    assert "spec.nasConfig.operations[3].parameters[1].feasibleSpace: Step parameter should be > 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "work").glob("experiments/*/*/trials/*"))


def test_without_torch_the_run_is_refused_with_the_extra_to_install(tmp_path: Path) -> None:
    # A torch that cannot be imported (first on the path), as in an installation without the nas extra.
    blocker = tmp_path / "site" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        textwrap.dedent("""\
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        """)
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site")}
    proc = _run(ENAS_CPU, tmp_path / "work", env)
    assert proc.returncode == 2, proc.stderr
    assert "algorithm enas is not available: it needs torch, not installed (pip install 'pykatib[nas]')" in (
        " ".join(proc.stderr.split())
    )
    assert "Traceback" not in proc.stderr
