"""Stand-in for ``/examples/tensorflow_mnist.py`` of ``docker.io/kubeflow/mpi-horovod-mnist`` (mpi-operator's
Horovod example, which Katib's ``mpijob-horovod`` example tunes).

The original trains a CNN on MNIST with Horovod: Adam at ``--lr`` times the number of ranks, every rank
starting from rank 0's weights, ``--num-steps`` divided among the ranks, batches of 100, and TensorFlow's
``LoggingTensorHook`` printing ``loss = 2.3025851, step = 0`` every 10 steps (Katib's default StdOut filter
reads ``loss``). This stand-in keeps its flags, its rank arithmetic and its log line, but trains a softmax
regression in numpy on scikit-learn's bundled 8x8 ``digits``: each rank takes its shard of the training set
(rank, rank + size, ...) and trains on it; the ranks do not exchange gradients (there is no allreduce), so
rank 0, which logs, learns from its shard alone. The rank and size are Open MPI's ``OMPI_COMM_WORLD_*``.
"""

from __future__ import annotations

import argparse
import os

# One BLAS thread per rank: trials and ranks run side by side. Must be set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

BATCH_SIZE = 100
LOG_EVERY = 10
CLASSES = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Tensorflow MNIST Example")
    parser.add_argument("--use-adasum", action="store_true", default=False, help="accepted; no effect here")
    parser.add_argument("--lr", default=0.001, type=float, help="Adam learning rate")
    parser.add_argument("--num-steps", default=20000, type=int, help="Number of training steps")
    return parser.parse_args()


def shard(rank: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """This rank's part of a fixed 80% training split of digits, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, _, y_train, _ = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    return x_train[rank::size], y_train[rank::size]


def loss_and_gradient(
    weights: np.ndarray, bias: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Softmax cross-entropy of a batch, and its gradient."""
    logits = x @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    loss = float(-np.log(probabilities[np.arange(len(y)), y] + 1e-12).mean())
    delta = probabilities
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    return loss, x.T @ delta, delta.sum(axis=0)


def main() -> None:
    args = parse_args()
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    x, y = shard(rank, size)
    # The same initial weights on every rank, as Horovod's broadcast from rank 0 makes them.
    weights = np.random.default_rng(0).normal(0.0, 0.01, (x.shape[1], CLASSES))
    bias = np.zeros(CLASSES)
    params = [weights, bias]
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    lr = args.lr * size  # Horovod: the learning rate scales with the number of ranks
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    batches = np.random.default_rng(1 + rank)
    last_step = args.num_steps // size  # Horovod: the steps are divided among the ranks
    for step in range(last_step):
        batch = batches.choice(len(y), size=min(BATCH_SIZE, len(y)), replace=False)
        loss, *grads = loss_and_gradient(weights, bias, x[batch], y[batch])
        if rank == 0 and step % LOG_EVERY == 0:
            print(f"INFO:tensorflow:loss = {loss:.7f}, step = {step}", flush=True)
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            moments[i] = beta1 * moments[i] + (1 - beta1) * grad
            squares[i] = beta2 * squares[i] + (1 - beta2) * grad * grad
            corrected = moments[i] / (1 - beta1 ** (step + 1))
            param -= lr * corrected / (np.sqrt(squares[i] / (1 - beta2 ** (step + 1))) + eps)


if __name__ == "__main__":
    main()
