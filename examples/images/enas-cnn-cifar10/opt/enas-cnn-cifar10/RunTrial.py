"""Stand-in for Katib's ``enas-cnn-cifar10`` trial image (``/opt/enas-cnn-cifar10/RunTrial.py``, the
image's WORKDIR; Katib's ENAS examples run it as ``python3 -u RunTrial.py``).

The original builds the ENAS architecture it is given with Keras and trains it on CIFAR-10 (Adam, lr 1e-3,
batch 128), printing ``Training-Accuracy=``, ``Training-Loss=``, ``Validation-Accuracy=`` and
``Validation-Loss=`` after every epoch, which Katib's StdOut collector reads. This stand-in takes the same
arguments and builds the same network in PyTorch (ModelConstructor.py, op_library.py), but trains on
scikit-learn's bundled 8x8 ``digits`` resized to the input size of ``nn_config`` (offline, a fixed
split of 1000 training and 400 validation images; batch 32 so that one epoch still takes ~30 Adam steps;
no augmentation: flipped digits are other digits). On CPU (one thread), or on the GPU as Katib's does.
After each epoch BatchNormalization's statistics are recomputed at the final weights (see
``settle_batch_norm``): the one departure from Keras's arithmetic, forced by the shorter epoch.

Katib's container gets ``--architecture="[[...]]"`` with the quotes (the example's template writes them; in
Katib the shell that runs the command drops them); both forms are accepted, and ``'`` read as ``"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np
import torch
from ModelConstructor import ModelConstructor
from torch import Tensor
from torch.nn import functional

TRAIN_SIZE, VALIDATION_SIZE, BATCH_SIZE = 1000, 400, 32
SETTLE_SIZE = 320  # training images whose batches settle BatchNormalization's statistics after each epoch


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="TrainingContainer")
    parser.add_argument("--architecture", type=str, default="", metavar="N", help="architecture of the neural network")
    parser.add_argument(
        "--nn_config", type=str, default="", metavar="N", help="configurations and search space embeddings"
    )
    parser.add_argument(
        "--num_epochs", type=int, default=10, metavar="N", help="number of epoches that each child will be trained"
    )
    parser.add_argument("--num_gpus", type=int, default=1, metavar="N", help="number of GPU that used for training")
    args = parser.parse_args(argv)
    args.architecture = katib_json(args.architecture)
    args.nn_config = katib_json(args.nn_config)
    return args


def katib_json(value: str) -> str:
    """The JSON text of an argument: one pair of surrounding double quotes dropped, then ``'`` as ``"``
    (RunTrial.py: ``args.architecture.replace("\\'", "\\"")``)."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value.replace("'", '"')


def load_data(input_sizes: Sequence[int], classes: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Digits as NCHW float images in [0, 1] of the input size (bilinear resize, gray repeated per channel),
    the first ``classes`` digit classes; a fixed shuffle, the same for every trial."""
    from sklearn.datasets import load_digits

    if len(input_sizes) != 3:
        raise SystemExit(f"nn_config input_sizes must be [height, width, channels], got {list(input_sizes)}")
    height, width, channels = (int(v) for v in input_sizes)
    digits = load_digits()
    keep = digits.target < classes
    images = torch.tensor(digits.images[keep] / 16.0, dtype=torch.float32).unsqueeze(1)
    labels = torch.tensor(digits.target[keep], dtype=torch.int64)
    order = torch.tensor(np.random.default_rng(0).permutation(len(labels)))
    images, labels = images[order], labels[order]
    images = functional.interpolate(images, size=(height, width), mode="bilinear", align_corners=False)
    images = images.repeat(1, channels, 1, 1)
    train, test = slice(0, TRAIN_SIZE), slice(TRAIN_SIZE, TRAIN_SIZE + VALIDATION_SIZE)
    return images[train], labels[train], images[test], labels[test]


def settle_batch_norm(model: torch.nn.Module, images: Tensor) -> None:
    """BatchNormalization's statistics recomputed at the epoch's final weights from training images.

    Keras's running averages (momentum 0.99) have caught up with the weights after a CIFAR-10 epoch of 391
    steps; after the stand-in's ~30 they still describe the first steps' network, and inference predicts one
    class. Averaging over a few training batches at the final weights gives what the longer epoch would.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches below
    model.train()
    with torch.no_grad():
        for start in range(0, min(len(images), SETTLE_SIZE), BATCH_SIZE):
            model(images[start : start + BATCH_SIZE])
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


def evaluate(model: torch.nn.Module, images: Tensor, labels: Tensor) -> tuple[float, float]:
    """(accuracy, mean loss) in inference mode, a batch at a time (memory stays that of training)."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(labels), BATCH_SIZE):
            logits = model(images[start : start + BATCH_SIZE])
            batch = labels[start : start + BATCH_SIZE]
            loss_sum += functional.cross_entropy(logits, batch, reduction="sum").item()
            correct += int((logits.argmax(dim=1) == batch).sum())
    return correct / len(labels), loss_sum / len(labels)


def main(argv: Sequence[str] | None = None) -> None:
    torch.set_num_threads(1)  # trials run in parallel: one core each
    torch.manual_seed(0)
    args = parse_args(argv)
    print(">>> arch received by trial")
    print(args.architecture)
    print(">>> nn_config received by trial")
    print(args.nn_config)
    print(">>> num_epochs received by trial")
    print(args.num_epochs)
    print(">>> num_gpus received by trial:")
    print(args.num_gpus)

    print("\n>>> Constructing Model...")
    try:
        model = ModelConstructor(args.architecture, args.nn_config).build_model()
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
        sys.exit(f"cannot build the model from --architecture and --nn_config: {error!r}")
    # Katib's: the GPUs when 1 <= --num_gpus <= the GPUs there are (here the first), else the CPU.
    device = torch.device("cuda" if 1 <= args.num_gpus <= torch.cuda.device_count() else "cpu")
    model.to(device)
    print(model.summary())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(">>> Model Constructed Successfully\n")

    nn_config = json.loads(args.nn_config)
    data = load_data(nn_config["input_sizes"], int(nn_config["output_sizes"][-1]))
    x_train, y_train, x_test, y_test = (tensor.to(device) for tensor in data)
    print(">>> Data Loaded. Training starts.")
    generator = torch.Generator().manual_seed(0)
    for e in range(args.num_epochs):
        print(f"\nTotal Epoch {e + 1}/{args.num_epochs}")
        model.train()
        order = torch.randperm(len(y_train), generator=generator).to(device)
        seen, loss_sum, correct = 0, 0.0, 0
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            logits = model(x_train[batch])
            loss = functional.cross_entropy(logits, y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(batch)
            loss_sum += loss.item() * len(batch)
            correct += int((logits.argmax(dim=1) == y_train[batch]).sum())
        settle_batch_norm(model, x_train)
        accuracy, validation_loss = evaluate(model, x_test, y_test)
        # Keras's history: the epoch's running training figures, then the validation set's.
        print(f"Training-Accuracy={correct / seen}")
        print(f"Training-Loss={loss_sum / seen}")
        print(f"Validation-Accuracy={accuracy}")
        print(f"Validation-Loss={validation_loss}")


if __name__ == "__main__":
    main()
