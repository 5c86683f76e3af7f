"""The enas-cnn-cifar10 stand-in (examples/images/enas-cnn-cifar10/opt/enas-cnn-cifar10/RunTrial.py): Katib's
arguments as the example's template passes them, the network Katib's ModelConstructor builds, and the epoch
lines Katib's default StdOut collector reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests_support import load_module

pytest.importorskip("torch", reason="torch is not installed: pip install 'pykatib[nas]'")

ROOT = Path(__file__).resolve().parents[2] / "examples" / "images" / "enas-cnn-cifar10" / "opt" / "enas-cnn-cifar10"
RUN_TRIAL = ROOT / "RunTrial.py"
# Katib's default StdOut filter.
KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")

# Three layers over all four operation kinds' shapes: layer 2 reads the input too (skip bit 0), layer 3 reads
# layer 1 too (skip bit 1), so the concatenations pad a smaller input to the larger height.
ARCHITECTURE = "[[0], [1, 1], [2, 0, 1]]"
NN_CONFIG = (
    "{'num_layers': 3, 'input_sizes': [12, 12, 3], 'output_sizes': [10], 'embedding': {"
    "'0': {'opt_id': 0, 'opt_type': 'separable_convolution', 'opt_params': {'filter_size': '3', "
    "'num_filter': '8', 'stride': '2', 'depth_multiplier': '2'}}, "
    "'1': {'opt_id': 1, 'opt_type': 'reduction', 'opt_params': {'reduction_type': 'max_pooling', 'pool_size': 2}}, "
    "'2': {'opt_id': 2, 'opt_type': 'depthwise_convolution', 'opt_params': {'filter_size': '3', 'stride': '1', "
    "'depth_multiplier': '1'}}}}"
)


@pytest.fixture(scope="module")
def run_trial() -> ModuleType:
    return load_module(RUN_TRIAL, "enas_run_trial")


def test_arguments_are_read_as_the_example_passes_them(run_trial: ModuleType) -> None:
    # The example's template: --architecture="${trialParameters.neuralNetworkArchitecture}": the quotes stay.
    args = run_trial.parse_args(["--num_epochs=1", f'--architecture="{ARCHITECTURE}"', f'--nn_config="{NN_CONFIG}"'])
    assert args.num_epochs == 1
    assert args.num_gpus == 1
    assert args.architecture == "[[0], [1, 1], [2, 0, 1]]"
    assert args.nn_config.startswith('{"num_layers": 3, "input_sizes": [12, 12, 3]')
    # Without the quotes (Katib's shell drops them) it reads the same.
    bare = run_trial.parse_args([f"--architecture={ARCHITECTURE}", f"--nn_config={NN_CONFIG}"])
    assert (bare.architecture, bare.nn_config) == (args.architecture, args.nn_config)
    assert bare.num_epochs == 10  # Katib's default


def test_the_network_follows_katibs_model_constructor(run_trial: ModuleType) -> None:
    args = run_trial.parse_args([f"--architecture={ARCHITECTURE}", f"--nn_config={NN_CONFIG}"])
    constructor = sys.modules["ModelConstructor"].ModelConstructor(args.architecture, args.nn_config)
    model = constructor.build_model()
    assert model.inputs == [[0], [1, 0], [2, 1]]
    # (channels, height, width): separable conv stride 2 ('same': 12 -> 6, 8 filters); max pooling 2 over the
    # 6x6 layer 1 concatenated with the 12x12 input (padded to 12: 8 + 3 channels) -> 6x6; depthwise over
    # layer 2 (6x6) with layer 1 (6x6): 11 + 8 channels.
    assert model.shapes == [(3, 12, 12), (8, 6, 6), (11, 6, 6), (19, 6, 6)]
    import torch

    assert model(torch.zeros(4, 3, 12, 12)).shape == (4, 10)


def test_a_trial_prints_katibs_epoch_metrics(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-u", str(RUN_TRIAL), "--num_epochs=2", f'--architecture="{ARCHITECTURE}"',
         f'--nn_config="{NN_CONFIG}"'],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found: dict[str, list[float]] = {}
    for line in proc.stdout.splitlines():
        for match in KATIB_FILTER.finditer(line):
            found.setdefault(match.group(1), []).append(float(match.group(2)))
    assert set(found) == {"Training-Accuracy", "Training-Loss", "Validation-Accuracy", "Validation-Loss"}
    assert all(len(values) == 2 for values in found.values())  # one line each per epoch
    assert all(0 <= value <= 1 for value in found["Validation-Accuracy"])
    assert ">>> Model Constructed Successfully" in proc.stdout


def test_a_malformed_architecture_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(RUN_TRIAL), "--architecture=[[7]]", f"--nn_config={NN_CONFIG}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "cannot build the model from --architecture and --nn_config: KeyError('7')" in proc.stderr
    assert "Traceback" not in proc.stderr
