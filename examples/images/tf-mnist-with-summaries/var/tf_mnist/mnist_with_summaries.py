"""Stand-in for ``/var/tf_mnist/mnist_with_summaries.py`` of ``gcr.io/kubeflow-ci/tf-mnist-with-summaries:1.0``.

That image (kubeflow/tf-operator examples/v1/mnist_with_summaries, TF1) trains an MLP with dropout
and Adam for ``--max_steps`` steps. Every 10th step it only evaluates the test set (printing
``Accuracy at step N: ACC`` and writing the merged summaries to ``<log_dir>/test``); every other step
trains on a batch and writes the same summaries, measured on that batch, to ``<log_dir>/train``.
The scalar tags are the ones TF1's name scopes produced: ``accuracy_1``, ``cross_entropy_1``,
``dropout/dropout_keep_probability`` and ``layerN/{weights,biases}/summaries/{mean,stddev_1,max,min}``.
Katib's v1alpha3 ``tfjob-example`` maximises ``accuracy_1`` read from these files.

The network is the original's on scikit-learn's 8x8 digits (see ``_digits.py``), no TensorFlow.

Two deliberate deviations keep the v1alpha3 example (goal ``accuracy_1`` >= 0.99, read from all of
``--log_dir``) from stopping on its goal after a few trials:

* Input dropout: every training step blanks each pixel of its batch with probability
  1 - ``--input_keep_prob`` (default 0.75), freshly drawn, and scales the rest by 1/keep
  (``tf.nn.dropout`` applied to the input, as in Srivastava et al.'s dropout paper). Without it
  training batches score 1.0 within a few hundred steps (as the original's did on MNIST). With it
  the per-batch ``accuracy_1`` in ``train/`` levels off around 0.7-0.85 and the (clean) test
  accuracy stays below 0.96. ``--input_keep_prob=1`` trains on clean batches, like the original.
* ``--max_steps`` defaults to 500 (the original: 1000), which halves the run time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The shared training code lives in the other script's directory of this image root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "opt" / "tf-mnist-with-summaries"))

import _digits  # (sets the BLAS thread count before numpy loads)
import numpy as np


def _summaries(model: _digits.MLP, cross_entropy: float, accuracy: float, keep_prob: float) -> dict[str, float]:
    """The scalar part of the original's ``tf.summary.merge_all()``, under TF1's tag names."""
    values = {"dropout/dropout_keep_probability": keep_prob}
    for name, var in model.params.items():  # e.g. "layer1/weights"
        mean = float(var.mean())
        values[f"{name}/summaries/mean"] = mean
        values[f"{name}/summaries/stddev_1"] = float(np.sqrt(np.mean(np.square(var - mean))))
        values[f"{name}/summaries/max"] = float(var.max())
        values[f"{name}/summaries/min"] = float(var.min())
    values["cross_entropy_1"] = cross_entropy
    values["accuracy_1"] = accuracy
    return values


def input_dropout(x: _digits.Array, keep_prob: float, rng: np.random.Generator) -> _digits.Array:
    """``tf.nn.dropout`` on the pixels: keep each with probability ``keep_prob``, scaled by 1/keep_prob."""
    if keep_prob >= 1.0:
        return x
    return x * ((rng.random(x.shape, dtype=np.float32) < keep_prob) / np.float32(keep_prob))


def train(flags: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)  # fixed: trials differ only by their hyperparameters
    x_train, y_train, x_test, y_test = _digits.load_digits_split()
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    if flags.fake_data:
        # input_data.read_data_sets(fake_data=True): every image is all ones with label 0, and the
        # "test" feed is a fake training batch too.
        x_train = np.ones((flags.batch_size, x_train.shape[1]), np.float32)
        y_train = np.zeros(flags.batch_size, np.int64)
        x_test, y_test = x_train, y_train

    model = _digits.MLP(rng, n_in=x_train.shape[1])
    optimizer = _digits.Adam(model.params, lr=flags.learning_rate, eps=1e-8)  # TF1 AdamOptimizer eps
    train_writer = _digits.ScalarWriter(os.path.join(flags.log_dir, "train"), tf2=False)
    test_writer = _digits.ScalarWriter(os.path.join(flags.log_dir, "test"), tf2=False)
    batch_stream = _digits.batches(len(x_train), flags.batch_size, rng)

    for i in range(flags.max_steps):
        if i % 10 == 0:  # Record summaries and test-set accuracy
            loss, _, correct = _digits.softmax_cross_entropy(model(x_test), y_test)
            acc = np.float32(correct.mean())
            test_writer.scalars(_summaries(model, loss, float(acc), 1.0), i)
            print(f"Accuracy at step {i}: {acc!s}", flush=True)  # str(float32), as TF1 printed
        else:  # Record train set summaries, and train
            idx = next(batch_stream)
            x_batch = input_dropout(x_train[idx], flags.input_keep_prob, rng)
            # Summaries are of the same forward pass (with dropout) that computes the update.
            loss, dlogits, correct = _digits.softmax_cross_entropy(
                model(x_batch, keep_prob=flags.dropout), y_train[idx]
            )
            summary = _summaries(model, loss, float(correct.mean()), flags.dropout)
            optimizer.step(model.gradients(dlogits))
            train_writer.scalars(summary, i)
            if i % 100 == 99:  # the original also traced this step
                print("Adding run metadata for", i, flush=True)

    train_writer.close()
    test_writer.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--fake_data",
        nargs="?",
        const=True,
        type=bool,
        default=False,
        help="If true, uses fake data for unit testing.",
    )
    # The original's default is 1000 steps (see the module docstring).
    parser.add_argument("--max_steps", type=int, default=500, help="Number of steps to run trainer.")
    parser.add_argument("--learning_rate", type=float, default=0.001, help="Initial learning rate")
    parser.add_argument("--batch_size", type=int, default=100, help="Training batch size")
    parser.add_argument("--dropout", type=float, default=0.9, help="Keep probability for training dropout.")
    # Not in the original (see the module docstring).
    parser.add_argument(
        "--input_keep_prob",
        type=float,
        default=0.75,
        help="Keep probability for each training pixel (stand-in only; 1 trains on clean images).",
    )
    tmp = os.getenv("TEST_TMPDIR", "/tmp")
    # Accepted for compatibility; the digits data ship with scikit-learn, nothing is downloaded.
    parser.add_argument(
        "--data_dir",
        type=str,
        default=os.path.join(tmp, "tensorflow/mnist/input_data"),
        help="Directory for storing input data",
    )
    parser.add_argument(
        "--log_dir",
        type=str,
        default=os.path.join(tmp, "tensorflow/mnist/logs/mnist_with_summaries"),
        help="Summaries log directory",
    )
    # The original used parse_known_args and handed the rest to tf.app.run, whose flag parser
    # rejected unknown flags; a plain parse_args gives the same outcome with a clearer message.
    flags = parser.parse_args(argv)
    if flags.batch_size < 1 or flags.max_steps < 0:
        parser.error("--batch_size must be >= 1 and --max_steps >= 0")
    for name in ("dropout", "input_keep_prob"):
        if not 0.0 < getattr(flags, name) <= 1.0:
            parser.error(f"--{name} is a keep probability in (0, 1]")
    return flags


def main(argv: list[str] | None = None) -> None:
    flags = parse_args(argv)
    os.makedirs(flags.log_dir, exist_ok=True)
    train(flags)


if __name__ == "__main__":
    main()
