"""The stand-in trainers under examples/images/, run the way a trial runs them: as subprocesses.

Each script run costs about a second of start-up (numpy, scikit-learn) plus its training, so runs
are shared between tests through module-scoped fixtures and kept to one epoch / a few steps.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests_support import load_module

IMAGES = Path(__file__).resolve().parents[2] / "examples" / "images"
PYTORCH_MNIST = IMAGES / "pytorch-mnist" / "opt" / "pytorch-mnist" / "mnist.py"
TF_ROOT = IMAGES / "tf-mnist-with-summaries"
TF2_MNIST = TF_ROOT / "opt" / "tf-mnist-with-summaries" / "mnist.py"
TF1_MNIST = TF_ROOT / "var" / "tf_mnist" / "mnist_with_summaries.py"

RFC3339_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
# Katib's default StdOut/File metrics filter.
KATIB_FILTER = re.compile(r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}")
TRAIN_EPOCH = re.compile(r"Train Epoch: (\d+) \[(\d+)/(\d+) \((\d+)%\)\]\tloss=(\d+\.\d{4})$")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    cwd: Path


def run(script: Path, cwd: Path, *flags: str, timeout: float = 60) -> Run:
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(script), *flags], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, cwd)


def metric_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "metricName" in line]


def katib_metrics(text: str) -> dict[str, float]:
    """What Katib's regex filter extracts from the metrics lines of a log."""
    found: dict[str, float] = {}
    for line in metric_lines(text):
        for match in KATIB_FILTER.finditer(line):
            found[match.group(1)] = float(match.group(2))
    return found


# --------------------------------------------------------------------------------------------
# pytorch-mnist: /opt/pytorch-mnist/mnist.py
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pytorch_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("pytorch")
    return {
        "stdout": run(PYTORCH_MNIST, base / "stdout", "--epochs=1", "--lr=0.01", "--log-interval=50"),
        "file": run(
            PYTORCH_MNIST,
            base / "file",
            "--epochs=1",
            "--lr=0.05",
            "--momentum=0.9",
            "--log-path=metrics.log",
            "--save-model",
            "--no-cuda",
            "--backend=gloo",
        ),
        "hypertune": run(
            PYTORCH_MNIST, base / "hypertune", "--epochs=1", "--logger=hypertune", "--log-path=out/metrics.json"
        ),
    }


def test_pytorch_stdout_lines_are_timestamped_and_katib_parsable(pytorch_runs: dict[str, Run]) -> None:
    result = pytorch_runs["stdout"]
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr  # logging's default stream is stderr; Katib reads both
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert RFC3339_PREFIX.match(line), line

    train = [match for line in lines if "Train Epoch" in line and (match := TRAIN_EPOCH.search(line))]
    assert len(train) == sum("Train Epoch" in line for line in lines) >= 3, lines
    # --log-interval=50 over ~200 batches of 64: batches 0, 50, 100, ...
    assert [int(m.group(2)) for m in train][:3] == [0, 50 * 64, 100 * 64]
    assert {m.group(1) for m in train} == {"1"}

    (metrics_line,) = metric_lines(log)
    assert len(KATIB_FILTER.findall(metrics_line)) == 2
    assert "{metricName: accuracy, metricValue: " in metrics_line
    metrics = katib_metrics(log)
    assert set(metrics) == {"accuracy", "loss"}
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["loss"] > 0.0


def test_pytorch_log_path_gets_the_log_and_different_lr_gives_different_result(
    pytorch_runs: dict[str, Run],
) -> None:
    result = pytorch_runs["file"]
    assert result.returncode == 0, result.stderr
    assert "metricName" not in result.stdout + result.stderr
    log = (result.cwd / "metrics.log").read_text()
    assert all(RFC3339_PREFIX.match(line) for line in log.splitlines() if line.strip())
    assert "loss=" in log

    accuracy_fast = katib_metrics(log)["accuracy"]
    accuracy_slow = katib_metrics(pytorch_runs["stdout"].stdout + pytorch_runs["stdout"].stderr)["accuracy"]
    assert accuracy_fast != accuracy_slow
    # lr 0.05 with momentum 0.9 learns much faster in one epoch than lr 0.01 with momentum 0.5.
    assert accuracy_fast > accuracy_slow

    with np.load(result.cwd / "mnist_cnn.pt") as saved:  # --save-model: numpy weights, torch's name
        assert {"conv1.weight", "fc2.bias"} <= set(saved.files)


def test_pytorch_hypertune_writes_json_lines_with_string_values(pytorch_runs: dict[str, Run]) -> None:
    result = pytorch_runs["hypertune"]
    assert result.returncode == 0, result.stderr
    assert "Train Epoch" in result.stderr  # the training log still goes to the console
    entries = [json.loads(line) for line in (result.cwd / "out" / "metrics.json").read_text().splitlines()]
    assert [sorted(e) for e in entries] == [
        ["global_step", "loss", "timestamp", "trial"],
        ["accuracy", "global_step", "timestamp", "trial"],
    ]
    for entry in entries:
        metric = "loss" if "loss" in entry else "accuracy"
        assert isinstance(entry[metric], str)
        float(entry[metric])
        assert entry["global_step"] == "1"
        assert entry["trial"] == "0"
        assert isinstance(entry["timestamp"], float)
    assert 0.0 <= float(entries[1]["accuracy"]) <= 1.0


@pytest.mark.parametrize(
    "flags",
    [["--bogus"], ["--lr=fast"], ["--logger=tensorboard"], ["--backend=tcp"], ["--batch-size=0"]],
)
def test_pytorch_bad_flag_exits_2(tmp_path: Path, flags: list[str]) -> None:
    result = run(PYTORCH_MNIST, tmp_path, *flags)
    assert result.returncode == 2
    assert "usage:" in result.stderr


# --------------------------------------------------------------------------------------------
# tf-mnist-with-summaries, current image: /opt/tf-mnist-with-summaries/mnist.py
# --------------------------------------------------------------------------------------------


def read_events(logdir: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert list(logdir.glob("events.out.tfevents.*")), f"no event file in {logdir}"
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def tensor_scalars(accumulator: Any, tag: str) -> list[tuple[int, float]]:
    from tensorboard.util import tensor_util

    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]


@pytest.fixture(scope="module")
def tf2_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("tf2")
    return {
        lr: run(TF2_MNIST, base / lr, "--epochs=1", "--batch-size=64", f"--learning-rate={lr}", "--log-path=logs")
        for lr in ("0.001", "0.01")
    }


def test_tf2_writes_tensor_scalars_per_epoch_under_train_and_test(tf2_runs: dict[str, Run]) -> None:
    result = tf2_runs["0.01"]
    assert result.returncode == 0, result.stderr
    assert re.search(r"^Train Epoch: 1 \[0/\d+ \(0%\)\]\tloss=\d+\.\d{4}, accuracy=\d+\.\d{4}$", result.stdout, re.M)
    assert re.search(r"^Test Loss: \d+\.\d{4}, Test Accuracy: \d+\.\d{4}$", result.stdout, re.M)

    for split in ("train", "test"):
        events = read_events(result.cwd / "logs" / split)
        # TF2's tf.summary.scalar writes tensors, which is what Katib's collector reads.
        assert {"loss", "accuracy"} <= set(events.Tags()["tensors"])
        ((step, accuracy),) = tensor_scalars(events, "accuracy")
        assert step == 0  # the original's step is the 0-based epoch
        assert 0.0 <= accuracy <= 1.0
        ((_, loss),) = tensor_scalars(events, "loss")
        assert loss > 0.0


def test_tf2_learning_rate_changes_the_result(tf2_runs: dict[str, Run]) -> None:
    accuracies = {}
    for lr, result in tf2_runs.items():
        assert result.returncode == 0, result.stderr
        ((_, accuracies[lr]),) = tensor_scalars(read_events(result.cwd / "logs" / "test"), "accuracy")
        printed = re.search(r"Test Accuracy: (\d+\.\d+)", result.stdout)
        assert printed and float(printed.group(1)) == pytest.approx(accuracies[lr] * 100, abs=1e-3)
    assert accuracies["0.001"] != accuracies["0.01"]


def test_tf2_bad_flag_exits_2(tmp_path: Path) -> None:
    result = run(TF2_MNIST, tmp_path, "--learning_rate=0.01")  # the old image's spelling
    assert result.returncode == 2
    assert "usage:" in result.stderr


# --------------------------------------------------------------------------------------------
# tf-mnist-with-summaries:1.0 (v1alpha3 example): /var/tf_mnist/mnist_with_summaries.py
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tf1_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("tf1")
    return {
        lr: run(TF1_MNIST, base / lr, "--max_steps=60", f"--learning_rate={lr}", "--batch_size=100", "--log_dir=logs")
        for lr in ("0.01", "0.05")
    }


def test_tf1_writes_accuracy_1_every_10_steps_to_test(tf1_runs: dict[str, Run]) -> None:
    result = tf1_runs["0.01"]
    assert result.returncode == 0, result.stderr
    printed = re.findall(r"^Accuracy at step (\d+): (\d\.\d+)$", result.stdout, re.M)
    assert [int(step) for step, _ in printed] == [0, 10, 20, 30, 40, 50]

    test = read_events(result.cwd / "logs" / "test")
    assert {"accuracy_1", "cross_entropy_1", "dropout/dropout_keep_probability"} <= set(test.Tags()["scalars"])
    accuracy = test.Scalars("accuracy_1")
    assert [e.step for e in accuracy] == [0, 10, 20, 30, 40, 50]
    assert all(0.0 <= e.value <= 1.0 for e in accuracy)
    # The printed value is the logged one (float32 printed the way TF1 printed it).
    assert float(printed[-1][1]) == pytest.approx(accuracy[-1].value, abs=1e-6)
    assert accuracy[-1].value > 0.5  # it learns: 10% is chance

    train = read_events(result.cwd / "logs" / "train")
    train_steps = [e.step for e in train.Scalars("accuracy_1")]
    assert train_steps == [i for i in range(60) if i % 10]  # every step that is not a test step
    assert all(np.isfinite(e.value) for e in train.Scalars("cross_entropy_1"))


def test_tf1_learning_rate_changes_the_result(tf1_runs: dict[str, Run]) -> None:
    final = {}
    for lr, result in tf1_runs.items():
        assert result.returncode == 0, result.stderr
        final[lr] = read_events(result.cwd / "logs" / "test").Scalars("accuracy_1")[-1].value
    assert final["0.01"] != final["0.05"]


def test_tf1_default_run_stays_below_the_seed_experiments_goal(tmp_path: Path) -> None:
    """The seed experiment (goal accuracy_1 0.99, collector reading train/ and test/) must run all its
    trials: no accuracy_1 of a default-length run reaches the goal, not even a single training batch.

    lr 0.01 with batch 100 is the riskiest point of its box for a training batch: the smallest
    learning rate trains best and the smallest batch's accuracy scatters most (the sweep in the
    README: best training batch 0.90 here, best value anywhere in the box 0.96).
    """
    result = run(TF1_MNIST, tmp_path, "--learning_rate=0.01", "--batch_size=100", "--log_dir=logs")
    assert result.returncode == 0, result.stderr
    assert "Accuracy at step 490: " in result.stdout  # the default 500 steps
    values = []
    for sub in ("train", "test"):
        events = read_events(result.cwd / "logs" / sub)
        values += [e.value for e in events.Scalars("accuracy_1")]
        assert all(np.isfinite(e.value) for e in events.Scalars("cross_entropy_1"))
    assert len(values) == 500
    assert max(values) < 0.99
    assert 0.85 < values[-1] < 0.99  # the last test-set accuracy (test/ is read last): it still learns


def test_tf1_fake_data_and_bad_flags(tmp_path: Path) -> None:
    result = run(TF1_MNIST, tmp_path / "fake", "--fake_data", "--max_steps=11", "--log_dir=logs")
    assert result.returncode == 0, result.stderr
    assert "Accuracy at step 10: " in result.stdout
    for flags in (["--learning-rate=0.01"], ["--batch_size=many"], ["--dropout=0"], ["--input_keep_prob=1.5"]):
        bad = run(TF1_MNIST, tmp_path / "bad", *flags)
        assert bad.returncode == 2, flags
        assert "usage:" in bad.stderr


# --------------------------------------------------------------------------------------------
# The training is real: analytic gradients agree with finite differences
# --------------------------------------------------------------------------------------------


def _directional_check(loss_and_grads: Any, params: dict[str, np.ndarray], seed: int) -> None:
    """d/dt loss(params + t*d) at t=0, by central differences, against <grad, d>.

    d is the unit gradient plus a unit random direction: the gradient part makes the derivative
    large against float32 rounding, the random part probes every parameter independently.
    """
    rng = np.random.default_rng(seed)
    loss0, grads = loss_and_grads()
    assert np.isfinite(loss0)

    def unit(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        norm = np.sqrt(sum(float((a.astype(np.float64) ** 2).sum()) for a in arrays.values()))
        return {k: a / norm for k, a in arrays.items()}

    noise = unit({k: rng.standard_normal(v.shape) for k, v in params.items()})
    along = unit(grads)
    direction = {k: (along[k] + noise[k]).astype(np.float32) for k in params}
    analytic = sum(float((grads[k].astype(np.float64) * direction[k]).sum()) for k in params)
    eps = 1e-3  # small against the weights and ReLU kinks, large against float32 rounding of the loss
    original = {k: v.copy() for k, v in params.items()}
    values = []
    for sign in (1, -1):
        for k in params:
            params[k][...] = original[k] + sign * eps * direction[k]
        values.append(loss_and_grads()[0])
    for k in params:
        params[k][...] = original[k]
    numeric = (values[0] - values[1]) / (2 * eps)
    assert numeric == pytest.approx(analytic, rel=5e-3)


def test_pytorch_net_gradients_match_finite_differences() -> None:
    module = load_module(PYTORCH_MNIST, "pytorch_mnist_standin")
    rng = np.random.default_rng(0)
    net = module.Net(rng)
    x = rng.standard_normal((16, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    def loss_and_grads() -> tuple[float, dict[str, np.ndarray]]:
        log_probs, cache = net.forward(x)
        return float(-log_probs[np.arange(16), y].mean()), net.backward(log_probs, y, cache)

    _directional_check(loss_and_grads, net.params, seed=1)


@pytest.mark.parametrize("model_name", ["ConvNet", "MLP"])
def test_tf_models_gradients_match_finite_differences(model_name: str) -> None:
    digits = load_module(TF_ROOT / "opt" / "tf-mnist-with-summaries" / "_digits.py", "tf_digits_standin")
    rng = np.random.default_rng(0)
    model = getattr(digits, model_name)(rng)
    x = rng.random((16, 8, 8, 1)).astype(np.float32)
    if model_name == "MLP":
        x = x.reshape(16, 64)
    y = rng.integers(0, 10, 16)

    def loss_and_grads() -> tuple[float, dict[str, np.ndarray]]:
        loss, dlogits, _ = digits.softmax_cross_entropy(model(x), y)  # no dropout: deterministic
        return loss, model.gradients(dlogits)

    _directional_check(loss_and_grads, model.params, seed=1)
