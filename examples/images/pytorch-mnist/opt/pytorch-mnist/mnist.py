"""Stand-in for Katib's ``pytorch-mnist`` trial image (``/opt/pytorch-mnist/mnist.py``).

The original (kubeflow/katib examples/v1beta1/trial-images/pytorch-mnist/mnist.py) trains a small
CNN on FashionMNIST with SGD + momentum and logs Katib-parsable metric lines. This stand-in keeps
its command line, its log formats and its optimiser, but trains a scaled-down copy of the same CNN
in numpy on scikit-learn's bundled 8x8 ``digits`` data, so it runs offline without PyTorch. The
training is real: ``--lr``, ``--momentum``, ``--batch-size`` and ``--seed`` change the result.

Only the standard library, numpy and scikit-learn are used.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import time
from typing import Any

# One BLAS thread per trial: Katib runs trials in parallel and oversubscribed BLAS pools make
# every trial slower. Must be set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

Array = NDArray[np.float32]

# cloudml-hypertune's defaults: the metrics file path, and how many entries it keeps.
_HYPERTUNE_DEFAULT_PATH = "/tmp/hypertune/output.metrics"
_HYPERTUNE_MAX_ENTRIES = 100


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def load_data() -> tuple[Array, NDArray[np.int64], Array, NDArray[np.int64]]:
    """Digits as standardised NHWC float32 images: a fixed 80/20 split, the same for every trial,
    each side expanded to all nine one-pixel translations of its images.

    1437 training images would make only 23 SGD steps per epoch, too few for lr and momentum to
    matter the way they do on (Fashion)MNIST's 60000; the translations give ~200 steps and a ~1 s
    epoch, and 3240 test images whose accuracy is fine-grained and harder to saturate.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (N, 8, 8)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    # Standardised with the training set's statistics (as transforms.Normalize would): with raw
    # [0, 1] pixels this 4-layer net under PyTorch's default init spends its first ~200 steps, i.e.
    # the whole first epoch, on the initial loss plateau, where 938 MNIST steps would be past it.
    # Translating first keeps the zero fill equal to the background.
    x_train, x_test = _translated(x_train), _translated(x_test)
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, np.tile(y_train, 9), (x_test - mean) / std, np.tile(y_test, 9)


def _translated(x: Array) -> Array:
    """(N, 8, 8) -> (9N, 8, 8, 1): every shift by -1/0/+1 pixels in each direction, zero-filled."""
    n = len(x)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (8, 8), axis=(1, 2))  # (N, 3, 3, 8, 8)
    return windows.transpose(1, 2, 0, 3, 4).reshape(9 * n, 8, 8, 1).copy()


# --------------------------------------------------------------------------------------------
# Layers. The original Net is conv5x5(20)-pool-conv5x5(50)-pool-fc(500)-fc(10) on 28x28 inputs;
# on 8x8 inputs the same shape of network uses 3x3 "same" convolutions:
# conv3x3(20)-pool -> 4x4x20, conv3x3(50)-pool -> 2x2x50, fc(200->500), fc(500->10).
# --------------------------------------------------------------------------------------------


def _im2col(x: Array) -> Array:
    """(N, H, W, C) -> (N*H*W, C*9) patches of a zero-padded 3x3 'same' convolution."""
    n, h, w, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))  # (N,H,W,C,3,3)
    return windows.reshape(n * h * w, c * 9)


def _col2im(dcols: Array, shape: tuple[int, ...]) -> Array:
    """Adjoint of :func:`_im2col`: scatter-add patch gradients back onto the image."""
    n, h, w, c = shape
    d = dcols.reshape(n, h, w, c, 3, 3)
    dpadded = np.zeros((n, h + 2, w + 2, c), dtype=np.float32)
    for i in range(3):
        for j in range(3):
            dpadded[:, i : i + h, j : j + w, :] += d[..., i, j]
    return dpadded[:, 1:-1, 1:-1, :]


def _maxpool(x: Array) -> tuple[Array, NDArray[np.bool_]]:
    """2x2/2 max pooling; also returns the arg-max mask for the backward pass."""
    n, h, w, c = x.shape
    blocks = x.reshape(n, h // 2, 2, w // 2, 2, c)
    out = blocks.max(axis=(2, 4))
    mask = blocks == out[:, :, None, :, None, :]
    return out, mask


def _maxpool_backward(dout: Array, mask: NDArray[np.bool_]) -> Array:
    n, h2, _, w2, _, c = mask.shape
    return (mask * dout[:, :, None, :, None, :]).reshape(n, h2 * 2, w2 * 2, c).astype(np.float32)


class Net:
    """Numpy CNN with PyTorch's default (kaiming-uniform) initialisation and an SGD+momentum step."""

    def __init__(self, rng: np.random.Generator) -> None:
        def init(fan_in: int, shape: tuple[int, ...]) -> Array:
            # torch.nn.Conv2d / nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b.
            bound = 1.0 / np.sqrt(fan_in)
            return rng.uniform(-bound, bound, size=shape).astype(np.float32)

        self.params: dict[str, Array] = {
            "conv1.weight": init(9, (9, 20)),
            "conv1.bias": init(9, (20,)),
            "conv2.weight": init(20 * 9, (20 * 9, 50)),
            "conv2.bias": init(20 * 9, (50,)),
            "fc1.weight": init(200, (200, 500)),
            "fc1.bias": init(200, (500,)),
            "fc2.weight": init(500, (500, 10)),
            "fc2.bias": init(500, (10,)),
        }
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x: Array) -> tuple[Array, dict[str, Any]]:
        """Returns log-probabilities (like F.log_softmax) and the cache for :meth:`backward`."""
        p = self.params
        n = x.shape[0]
        cols1 = _im2col(x)
        a1 = np.maximum(cols1 @ p["conv1.weight"] + p["conv1.bias"], 0).reshape(n, 8, 8, 20)
        h1, m1 = _maxpool(a1)
        cols2 = _im2col(h1)
        a2 = np.maximum(cols2 @ p["conv2.weight"] + p["conv2.bias"], 0).reshape(n, 4, 4, 50)
        h2, m2 = _maxpool(a2)
        flat = h2.reshape(n, 200)
        f1 = np.maximum(flat @ p["fc1.weight"] + p["fc1.bias"], 0)
        logits = f1 @ p["fc2.weight"] + p["fc2.bias"]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        cache = {"cols1": cols1, "a1": a1, "m1": m1, "cols2": cols2, "a2": a2, "m2": m2}
        cache |= {"h1_shape": h1.shape, "flat": flat, "f1": f1}
        return log_probs.astype(np.float32), cache

    def backward(self, log_probs: Array, target: NDArray[np.int64], cache: dict[str, Any]) -> dict[str, Array]:
        """Gradients of the mean NLL loss (F.nll_loss) w.r.t. every parameter."""
        p = self.params
        n = log_probs.shape[0]
        dlogits = np.exp(log_probs)
        dlogits[np.arange(n), target] -= 1.0
        dlogits /= n
        g: dict[str, Array] = {}
        g["fc2.weight"] = cache["f1"].T @ dlogits
        g["fc2.bias"] = dlogits.sum(axis=0)
        df1 = (dlogits @ p["fc2.weight"].T) * (cache["f1"] > 0)
        g["fc1.weight"] = cache["flat"].T @ df1
        g["fc1.bias"] = df1.sum(axis=0)
        dh2 = (df1 @ p["fc1.weight"].T).reshape(n, 2, 2, 50)
        da2 = _maxpool_backward(dh2, cache["m2"]) * (cache["a2"] > 0)
        da2 = da2.reshape(-1, 50)
        g["conv2.weight"] = cache["cols2"].T @ da2
        g["conv2.bias"] = da2.sum(axis=0)
        dh1 = _col2im(da2 @ p["conv2.weight"].T, cache["h1_shape"])
        da1 = (_maxpool_backward(dh1, cache["m1"]) * (cache["a1"] > 0)).reshape(-1, 20)
        g["conv1.weight"] = cache["cols1"].T @ da1
        g["conv1.bias"] = da1.sum(axis=0)
        return g

    def sgd_step(self, grads: dict[str, Array], lr: float, momentum: float) -> None:
        # torch.optim.SGD with momentum (dampening 0, no nesterov): v = m*v + g; p -= lr*v.
        for k, grad in grads.items():
            v = self.velocity[k]
            v *= momentum
            v += grad
            self.params[k] -= lr * v


# --------------------------------------------------------------------------------------------
# Metric reporting
# --------------------------------------------------------------------------------------------


class HyperTune:
    """What ``cloudml-hypertune``'s HyperTune does, without the dependency: it keeps the last 100
    entries and rewrites the whole metrics file (JSON lines, sorted keys, values as strings) on every
    report, which is the format Katib's ``hypertune`` metrics collector parses."""

    def __init__(self) -> None:
        self.metric_path = os.environ.get("CLOUD_ML_HP_METRIC_FILE", _HYPERTUNE_DEFAULT_PATH)
        os.makedirs(os.path.dirname(self.metric_path) or ".", exist_ok=True)
        self.trial_id = os.environ.get("CLOUD_ML_TRIAL_ID", 0)
        self.metrics_queue: collections.deque[dict[str, Any]] = collections.deque(maxlen=_HYPERTUNE_MAX_ENTRIES)

    def report_hyperparameter_tuning_metric(
        self, hyperparameter_metric_tag: str, metric_value: float, global_step: int | None = None
    ) -> None:
        self.metrics_queue.append(
            {
                "timestamp": time.time(),
                "trial": str(self.trial_id),
                hyperparameter_metric_tag: str(float(metric_value)),
                "global_step": str(int(global_step) if global_step else 0),
            }
        )
        with open(self.metric_path, "w") as f:
            for metric in self.metrics_queue:
                f.write(json.dumps(metric, sort_keys=True) + "\n")


# --------------------------------------------------------------------------------------------
# Train / test, mirroring the original's loops and messages
# --------------------------------------------------------------------------------------------


def train(
    args: argparse.Namespace,
    model: Net,
    x: Array,
    y: NDArray[np.int64],
    epoch: int,
    rng: np.random.Generator,
) -> None:
    order = rng.permutation(len(x))  # DataLoader(shuffle=True)
    n_batches = -(-len(x) // args.batch_size)
    for batch_idx in range(n_batches):
        idx = order[batch_idx * args.batch_size : (batch_idx + 1) * args.batch_size]
        log_probs, cache = model.forward(x[idx])
        loss = float(-log_probs[np.arange(len(idx)), y[idx]].mean())
        model.sgd_step(model.backward(log_probs, y[idx], cache), args.lr, args.momentum)
        if batch_idx % args.log_interval == 0:
            seen, percent = batch_idx * len(idx), 100.0 * batch_idx / n_batches
            logging.info(f"Train Epoch: {epoch} [{seen}/{len(x)} ({percent:.0f}%)]\tloss={loss:.4f}")


def test(
    args: argparse.Namespace,
    model: Net,
    x: Array,
    y: NDArray[np.int64],
    epoch: int,
    hpt: HyperTune | None,
) -> None:
    test_loss = 0.0
    correct = 0
    for start in range(0, len(x), args.test_batch_size):
        log_probs, _ = model.forward(x[start : start + args.test_batch_size])
        target = y[start : start + args.test_batch_size]
        test_loss += float(-log_probs[np.arange(len(target)), target].sum())
        correct += int((log_probs.argmax(axis=1) == target).sum())
    test_loss /= len(x)
    test_accuracy = float(correct) / len(x)

    # Logged in both logger modes, exactly like the original (trailing newline included).
    logging.info(
        f"{{metricName: accuracy, metricValue: {test_accuracy:.4f}}};"
        f"{{metricName: loss, metricValue: {test_loss:.4f}}}\n"
    )
    if hpt is not None:
        hpt.report_hyperparameter_tuning_metric("loss", test_loss, global_step=epoch)
        hpt.report_hyperparameter_tuning_metric("accuracy", test_accuracy, global_step=epoch)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="PyTorch MNIST Example")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        metavar="N",
        help="input batch size for training (default: 64)",
    )
    parser.add_argument(
        "--test-batch-size",
        type=int,
        default=1000,
        metavar="N",
        help="input batch size for testing (default: 1000)",
    )
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="number of epochs to train (default: 10)")
    parser.add_argument("--lr", type=float, default=0.01, metavar="LR", help="learning rate (default: 0.01)")
    parser.add_argument("--momentum", type=float, default=0.5, metavar="M", help="SGD momentum (default: 0.5)")
    parser.add_argument("--no-cuda", action="store_true", default=False, help="disables CUDA training")
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: 1)")
    parser.add_argument(
        "--log-interval",
        type=int,
        default=10,
        metavar="N",
        help="how many batches to wait before logging training status",
    )
    parser.add_argument(
        "--log-path",
        type=str,
        default="",
        help="Path to save logs. Print to StdOut if log-path is not set",
    )
    parser.add_argument("--save-model", action="store_true", default=False, help="For Saving the current Model")
    parser.add_argument("--logger", type=str, choices=["standard", "hypertune"], help="Logger", default="standard")
    # Distributed training is not emulated; the flag is accepted so Katib command lines still parse.
    parser.add_argument(
        "--backend", type=str, help="Distributed backend", choices=["gloo", "nccl", "mpi"], default="gloo"
    )
    args = parser.parse_args(argv)
    # Reject values the original would crash on, with an argparse error instead of a traceback.
    for name in ("batch_size", "test_batch_size", "log_interval"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    # Timestamps in RFC3339 UTC (%Y-%m-%dT%H:%M:%SZ) so Katib's collector can order metrics.
    # Without --log-path (or in hypertune mode) the log goes to stderr, like the original.
    logging.Formatter.converter = time.gmtime
    log_file = args.log_path if args.log_path and args.logger != "hypertune" else None
    logging.basicConfig(
        format="%(asctime)s %(levelname)-8s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%SZ",
        level=logging.DEBUG,
        filename=log_file,
    )

    hpt: HyperTune | None = None
    if args.logger == "hypertune":
        if args.log_path:
            os.environ["CLOUD_ML_HP_METRIC_FILE"] = args.log_path
        hpt = HyperTune()

    rng = np.random.default_rng(args.seed)  # torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = load_data()
    model = Net(rng)
    for epoch in range(1, args.epochs + 1):
        train(args, model, x_train, y_train, epoch, rng)
        test(args, model, x_test, y_test, epoch, hpt)

    if args.save_model:
        # Same file name as the original's torch.save; numpy .npz content.
        with open("mnist_cnn.pt", "wb") as f:
            np.savez(f, **model.params)


if __name__ == "__main__":
    main()
