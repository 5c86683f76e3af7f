"""Shared numpy training code for the tf-mnist-with-summaries stand-in image.

Both scripts of this image root import it:

* ``/opt/tf-mnist-with-summaries/mnist.py`` (Katib's current TF2/Keras trial image), and
* ``/var/tf_mnist/mnist_with_summaries.py`` (the old ``gcr.io/kubeflow-ci/tf-mnist-with-summaries:1.0``).

No TensorFlow: the models are small numpy networks trained on scikit-learn's bundled 8x8
``digits`` data (offline), and TensorBoard event files are written with tensorboard's own writer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

# One BLAS thread per trial: Katib runs trials in parallel and oversubscribed BLAS pools make
# every trial slower. Must happen before numpy is imported, so this module sets it itself.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.plugins.scalar import summary_v2  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

Array = NDArray[np.float32]
Labels = NDArray[np.int64]
Params = dict[str, Array]

__all__ = [
    "MLP",
    "Adam",
    "Array",
    "ConvNet",
    "Labels",
    "ScalarWriter",
    "batches",
    "load_digits_split",
    "softmax_cross_entropy",
]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def load_digits_split() -> tuple[Array, Labels, Array, Labels]:
    """Digits as NHWC float32 images in [0, 1]: a fixed 80/20 split (the same for every trial),
    each side expanded to all nine one-pixel translations of its images.

    The translations make the task MNIST-like: ~13k training images (an epoch takes about a
    second and has MNIST-like step counts), and 3240 test images whose accuracy is harder to
    saturate than the 360 originals and fine-grained enough that different hyperparameters give
    different values.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (N, 8, 8)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return _translated(x_train), np.tile(y_train, 9), _translated(x_test), np.tile(y_test, 9)


def _translated(x: NDArray[np.float32]) -> Array:
    """(N, 8, 8) -> (9N, 8, 8, 1): every shift by -1/0/+1 pixels in each direction, zero-filled."""
    n = len(x)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (8, 8), axis=(1, 2))  # (N, 3, 3, 8, 8)
    return windows.transpose(1, 2, 0, 3, 4).reshape(9 * n, 8, 8, 1).copy()


def batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[NDArray[np.intp]]:
    """Endless stream of index batches over reshuffled epochs (like TF1's DataSet.next_batch,
    a batch that straddles an epoch boundary takes the rest of one epoch and the start of the next)."""
    order = rng.permutation(n)
    pos = 0
    while True:
        if pos + batch_size <= n:
            yield order[pos : pos + batch_size]
            pos += batch_size
        else:
            rest = order[pos:]
            order = rng.permutation(n)
            pos = batch_size - len(rest)
            yield np.concatenate([rest, order[:pos]])


# --------------------------------------------------------------------------------------------
# Loss, optimiser
# --------------------------------------------------------------------------------------------


def softmax_cross_entropy(logits: Array, labels: Labels) -> tuple[float, Array, NDArray[np.bool_]]:
    """Mean sparse softmax cross-entropy; returns (loss, dloss/dlogits, per-example correctness).

    Computed from shifted logits (log-sum-exp), so large logits from an aggressive learning rate
    cannot overflow into NaN.
    """
    n = len(labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(n), labels].mean())
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1.0
    correct = logits.argmax(axis=1) == labels
    return loss, (dlogits / n).astype(np.float32), correct


class Adam:
    """Adam as in tf.keras / tf.compat.v1.train.AdamOptimizer (bias-corrected step size)."""

    def __init__(self, params: Params, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> None:
        self.params, self.lr, self.beta1, self.beta2, self.eps = params, lr, beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, grads: Params) -> None:
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            self.params[k] -= (lr_t * m / (np.sqrt(v) + self.eps)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def _glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, shape: tuple[int, ...]) -> Array:
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # Keras' default kernel initializer
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


class ConvNet:
    """TF2 example's ``MyModel`` scaled to 8x8 inputs: Conv2D(32, 3, relu, 'valid') -> Flatten ->
    Dense(128, relu) -> Dense(10) logits; Keras initialisation (glorot-uniform kernels, zero biases)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.params: Params = {
            "conv1/kernel": _glorot_uniform(rng, 9, 9 * 32, (9, 32)),
            "conv1/bias": np.zeros(32, np.float32),
            "d1/kernel": _glorot_uniform(rng, 6 * 6 * 32, 128, (6 * 6 * 32, 128)),
            "d1/bias": np.zeros(128, np.float32),
            "d2/kernel": _glorot_uniform(rng, 128, 10, (128, 10)),
            "d2/bias": np.zeros(10, np.float32),
        }
        self._cache: tuple[Array, Array, Array] | None = None

    def __call__(self, x: Array) -> Array:
        """Logits for (N, 8, 8, 1) images; keeps what :meth:`gradients` needs."""
        p = self.params
        n = len(x)
        # im2col: every 3x3 patch of the (single-channel) image as a row of 9 values.
        cols = np.lib.stride_tricks.sliding_window_view(x[..., 0], (3, 3), axis=(1, 2)).reshape(n * 36, 9)
        conv = np.maximum(cols @ p["conv1/kernel"] + p["conv1/bias"], 0).reshape(n, 36 * 32)
        hidden = np.maximum(conv @ p["d1/kernel"] + p["d1/bias"], 0)
        self._cache = (cols, conv, hidden)
        return hidden @ p["d2/kernel"] + p["d2/bias"]

    def gradients(self, dlogits: Array) -> Params:
        """Backprop of the last forward pass (the conv is the first layer: no input gradient)."""
        assert self._cache is not None, "call the model before asking for gradients"
        cols, conv, hidden = self._cache
        p = self.params
        dhidden = (dlogits @ p["d2/kernel"].T) * (hidden > 0)
        dconv = ((dhidden @ p["d1/kernel"].T) * (conv > 0)).reshape(-1, 32)
        return {
            "d2/kernel": hidden.T @ dlogits,
            "d2/bias": dlogits.sum(axis=0),
            "d1/kernel": conv.T @ dhidden,
            "d1/bias": dhidden.sum(axis=0),
            "conv1/kernel": cols.T @ dconv,
            "conv1/bias": dconv.sum(axis=0),
        }


class MLP:
    """TF1 mnist_with_summaries' network on 64 inputs: layer1 (500, relu) -> dropout -> layer2
    (10, identity); weights truncated-normal(stddev 0.1) and biases 0.1, as in the original."""

    def __init__(self, rng: np.random.Generator, n_in: int = 64, n_hidden: int = 500) -> None:
        def truncated_normal(shape: tuple[int, int]) -> Array:
            w = rng.normal(0.0, 0.1, size=shape)
            while (bad := np.abs(w) > 0.2).any():  # tf.truncated_normal redraws beyond 2 stddev
                w[bad] = rng.normal(0.0, 0.1, size=int(bad.sum()))
            return w.astype(np.float32)

        self.rng = rng
        self.params: Params = {
            "layer1/weights": truncated_normal((n_in, n_hidden)),
            "layer1/biases": np.full(n_hidden, 0.1, np.float32),
            "layer2/weights": truncated_normal((n_hidden, 10)),
            "layer2/biases": np.full(10, 0.1, np.float32),
        }
        self._cache: tuple[Array, Array, Array | None] | None = None

    def __call__(self, x: Array, keep_prob: float = 1.0) -> Array:
        p = self.params
        hidden = x @ p["layer1/weights"]
        hidden += p["layer1/biases"]
        np.maximum(hidden, 0, out=hidden)  # in place: the test-set pass is most of a run's time
        mask = None
        if keep_prob < 1.0:  # tf.nn.dropout: keep with probability keep_prob, scale by 1/keep_prob
            mask = (self.rng.random(hidden.shape) < keep_prob).astype(np.float32) / np.float32(keep_prob)
            hidden *= mask
        self._cache = (x, hidden, mask)
        return hidden @ p["layer2/weights"] + p["layer2/biases"]

    def gradients(self, dlogits: Array) -> Params:
        assert self._cache is not None, "call the model before asking for gradients"
        x, dropped, mask = self._cache
        dhidden = (dlogits @ self.params["layer2/weights"].T) * (dropped > 0)
        if mask is not None:
            dhidden *= mask
        return {
            "layer2/weights": dropped.T @ dlogits,
            "layer2/biases": dlogits.sum(axis=0),
            "layer1/weights": x.T @ dhidden,
            "layer1/biases": dhidden.sum(axis=0),
        }


# --------------------------------------------------------------------------------------------
# TensorBoard event files
# --------------------------------------------------------------------------------------------


class ScalarWriter:
    """Writes scalar summaries to ``logdir`` with tensorboard's EventFileWriter (no TensorFlow).

    ``tf2=True`` writes what TF2's ``tf.summary.scalar`` writes: a float32 tensor with the
    "scalars" plugin metadata (Katib's TensorFlowEvent collector reads these as tensors).
    ``tf2=False`` writes TF1's ``simple_value`` scalars, like ``tf.summary.FileWriter`` did.
    """

    def __init__(self, logdir: str, *, tf2: bool) -> None:
        os.makedirs(logdir, exist_ok=True)
        self._writer = EventFileWriter(logdir)
        self._tf2 = tf2

    def scalars(self, values: dict[str, float], step: int) -> None:
        """One event holding all ``values`` (TF1 merged summaries) or one event per tag (TF2)."""
        if self._tf2:
            for tag, value in values.items():
                self._add(summary_v2.scalar_pb(tag, np.float32(value)), step)
        else:
            summary = summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=t, simple_value=float(v)) for t, v in values.items()]
            )
            self._add(summary, step)

    def _add(self, summary: summary_pb2.Summary, step: int) -> None:
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
