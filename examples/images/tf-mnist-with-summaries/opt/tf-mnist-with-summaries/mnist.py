"""Stand-in for Katib's ``tf-mnist-with-summaries`` trial image (``/opt/tf-mnist-with-summaries/mnist.py``).

The original (kubeflow/katib examples/v1beta1/trial-images/tf-mnist-with-summaries/mnist.py) trains a
small Keras CNN with Adam and writes TF2 scalar summaries ``loss`` and ``accuracy`` once per epoch
to ``<log-path>/train`` and ``<log-path>/test``; Katib's TensorFlowEvent collector reads
``<log-path>/test``. This stand-in keeps the command line, messages and event files, and trains
the same shape of network in numpy on scikit-learn's 8x8 digits (see ``_digits.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The shared training code sits next to this file; the old image's script imports it too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _digits  # (sets the BLAS thread count before numpy loads)
import numpy as np


class Mean:
    """tf.keras.metrics.Mean / SparseCategoricalAccuracy: a running weighted average."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, value: float, weight: int = 1) -> None:
        self.total += value * weight
        self.count += weight

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=64, help="input batch size for training (default: 64)")
    parser.add_argument("--learning-rate", type=float, default=0.001, help="learning rate (default: 0.001)")
    parser.add_argument("--epochs", type=int, default=10, metavar="N", help="number of epochs to train (default: 10)")
    parser.add_argument(
        "--log-interval",
        type=int,
        default=100,
        metavar="N",
        help="how many batches to wait before logging training status (default: 100)",
    )
    # The original defaults to $TEST_TMPDIR/tensorflow/mnist/logs/mnist_with_summaries; a relative
    # default keeps a flag-less local run inside its working directory.
    parser.add_argument("--log-path", type=str, default="./logs", help="Summaries log PATH")
    args = parser.parse_args(argv)
    for name in ("batch_size", "log_interval"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = np.random.default_rng(0)  # fixed: trials differ only by their hyperparameters

    x_train, y_train, x_test, y_test = _digits.load_digits_split()
    n_train = len(x_train)
    train_writer = _digits.ScalarWriter(str(Path(args.log_path) / "train"), tf2=True)
    test_writer = _digits.ScalarWriter(str(Path(args.log_path) / "test"), tf2=True)

    model = _digits.ConvNet(rng)
    optimizer = _digits.Adam(model.params, lr=args.learning_rate)
    steps_per_epoch = -(-n_train // args.batch_size)

    for epoch in range(args.epochs):
        # The original's comment says the metrics are reset every epoch (its code never does);
        # per-epoch values are what the comment intends and what a reader of the events expects.
        train_loss, train_accuracy = Mean(), Mean()
        test_loss, test_accuracy = Mean(), Mean()

        order = rng.permutation(n_train)  # Dataset.shuffle(): a new order every epoch
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            loss, dlogits, correct = _digits.softmax_cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.step(model.gradients(dlogits))
            train_loss.update(loss)
            train_accuracy.update(float(correct.mean()), len(idx))
            if step % args.log_interval == 0:
                print(
                    f"Train Epoch: {epoch + 1} [{step * args.batch_size}/{n_train} "
                    f"({100.0 * step * args.batch_size / n_train:.0f}%)]\t"
                    f"loss={train_loss.result():.4f}, accuracy={train_accuracy.result() * 100:.4f}",
                    flush=True,
                )
        train_writer.scalars({"loss": train_loss.result(), "accuracy": train_accuracy.result()}, epoch)

        for start in range(0, len(x_test), args.batch_size):
            target = y_test[start : start + args.batch_size]
            loss, _, correct = _digits.softmax_cross_entropy(model(x_test[start : start + len(target)]), target)
            test_loss.update(loss)
            test_accuracy.update(float(correct.mean()), len(target))
        test_writer.scalars({"loss": test_loss.result(), "accuracy": test_accuracy.result()}, epoch)
        train_writer.flush()
        test_writer.flush()

        print(
            f"Test Loss: {test_loss.result():.4f}, Test Accuracy: {test_accuracy.result() * 100:.4f}\n",
            flush=True,
        )

    train_writer.close()
    test_writer.close()


if __name__ == "__main__":
    main()
