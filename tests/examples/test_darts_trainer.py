"""The darts-cnn-cifar10 stand-in (examples/images/darts-cnn-cifar10), run as a trial runs it: Katib's arguments
exactly as examples/katib/nas/darts-cpu.yaml passes them (the double quotes are inside the values), a real DARTS
search, and the last line Katib's example collects with its metricsFormat."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests_support import load_module

ROOT = Path(__file__).resolve().parents[2] / "examples" / "images" / "darts-cnn-cifar10" / "opt" / "darts-cnn-cifar10"
RUN_TRIAL = ROOT / "run_trial.py"
SETTINGS = (
    "{'num_epochs': '1', 'w_lr': 0.025, 'w_lr_min': 0.001, 'w_momentum': 0.9, 'w_weight_decay': 0.0003, "
    "'w_grad_clip': 5.0, 'alpha_lr': 0.0003, 'alpha_weight_decay': 0.001, 'batch_size': 128, 'num_workers': 4, "
    "'init_channels': '1', 'print_step': 50, 'num_nodes': '1', 'stem_multiplier': '1'}"
)
# The container's args after Katib's substitution (darts-cpu.yaml: --algorithm-settings="${...}").
ARGS = [f'--algorithm-settings="{SETTINGS}"', "--search-space=\"['max_pooling_3x3']\"", '--num-layers="1"']
KATIB_FILTER = re.compile(r"([\w-]+)=(Genotype.*)")  # darts-cpu.yaml's metricsFormat
GENOTYPE = re.compile(
    r"Genotype\(normal=\[\[\('max_pooling_3x3',[01]\),\('max_pooling_3x3',[01]\)\]\],normal_concat=range\(2,3\),"
    r"reduce=\[\],reduce_concat=range\(2,3\)\)"
)


def test_arguments_are_read_as_the_example_passes_them() -> None:
    settings, space, layers = load_module(RUN_TRIAL, "darts_run_trial").parse_args(ARGS)
    assert settings["num_epochs"] == "1" and settings["w_lr"] == 0.025 and settings["init_channels"] == "1"
    assert list(settings)[-1] == "stem_multiplier"
    assert (space, layers) == (["max_pooling_3x3"], 1)
    # Without the quotes too (a template that leaves them out), and None for batch_size.
    settings, space, layers = load_module(RUN_TRIAL, "darts_run_trial").parse_args(
        ["--algorithm-settings={'batch_size': null}", "--search-space=['skip_connection']", "--num-layers=2"]
    )
    assert (settings, space, layers) == ({"batch_size": None}, ["skip_connection"], 2)


def test_unreadable_arguments_are_refused_naming_them(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        load_module(RUN_TRIAL, "darts_run_trial").parse_args(
            ["--algorithm-settings={'num_epochs': ", "--search-space=[]", "--num-layers=1"]
        )
    assert exited.value.code == 2
    assert "Katib's darts suggestion" in capsys.readouterr().err


def test_a_search_prints_the_best_genotype_katibs_example_collects(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the darts stand-in needs PyTorch: pip install 'pykatib[nas]'")
    proc = subprocess.run(
        [sys.executable, str(RUN_TRIAL), *ARGS], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert ">>> Algorithm settings" in lines and "['max_pooling_3x3', 'none']" in lines
    assert any(line.startswith("Train: [ 1/1] Final Prec@1 ") for line in lines)
    assert any(line.startswith("Valid: [ 1/1] Final Prec@1 ") for line in lines)
    name, value = KATIB_FILTER.findall(lines[-1])[0]
    assert name == "Best-Genotype"
    assert GENOTYPE.fullmatch(value), value


def test_without_torch_the_trial_fails_naming_the_extra(tmp_path: Path) -> None:
    blocked = f"import sys; sys.modules['torch'] = None; sys.argv[1:] = {ARGS!r}; sys.path.insert(0, {str(ROOT)!r})"
    code = f"{blocked}; import runpy; runpy.run_path({str(RUN_TRIAL)!r}, run_name='__main__')"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "pip install 'pykatib[nas]'" in proc.stderr
