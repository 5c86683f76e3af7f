"""Stand-in for Katib's ``simple-pbt`` image: a toy training whose best learning rate changes as it learns.

    python3 /opt/pbt/pbt_test.py --epochs 20 --lr 0.005 --checkpoint /var/log/katib/checkpoints/

The model's "accuracy" grows each epoch by an amount that depends on how close ``--lr`` is to the learning
rate that suits the current accuracy: low at the start, highest half-way, low again near the end (a
warm-up then decay schedule, as real models want). A learning rate more than three times too large makes
it lose accuracy. No single learning rate is right for the whole run, which is what population based
training is for: a trial resumes from ``<checkpoint>/training.ckpt`` (step and accuracy, JSON) when it
exists and saves it at the end, so a child trial that starts from a copy of its parent's checkpoint goes
on where the parent stopped, with its own learning rate.

Prints one line per epoch, ``epoch 3: lr=0.0050 Validation-accuracy=0.0312`` (Katib's metric name), to
stdout. The "noise" is a fixed function of step and lr, so a run is reproducible.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

CHECKPOINT_FILE = "training.ckpt"
START_LR, PEAK_LR, END_LR = 0.002, 0.01, 0.001  # the schedule: warm up from START to PEAK, decay to END
TOLERANCE = 3.0  # a learning rate this many times off the best one no longer helps


def best_lr(accuracy: float) -> float:
    """The learning rate that suits a model at this accuracy: a triangle peaking at accuracy 0.5."""
    if accuracy < 0.5:
        return START_LR + (PEAK_LR - START_LR) * accuracy / 0.5
    return PEAK_LR - (PEAK_LR - END_LR) * (accuracy - 0.5) / 0.5


def jitter(step: int, lr: float) -> float:
    """A deterministic stand-in for batch noise, in [0.5, 1)."""
    return 0.5 + 0.5 * ((math.sin(step * 12.9898 + lr * 78233.0) * 43758.5453) % 1.0)


def train_epoch(step: int, accuracy: float, lr: float) -> float:
    target = best_lr(accuracy)
    ratio = max(lr, target) / min(lr, target)
    if ratio < TOLERANCE:
        accuracy += 0.02 * jitter(step, lr) / ratio
    elif lr > target:
        accuracy -= 0.004 * (ratio - TOLERANCE) * jitter(step, lr)
    return min(1.0, max(0.0, accuracy))


def main() -> None:
    parser = argparse.ArgumentParser(description="simple-pbt stand-in")
    parser.add_argument("--lr", type=float, default=0.0001, help="learning rate (default: 0.0001)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs to train (default: 20)")
    parser.add_argument("--checkpoint", default="/var/log/katib/checkpoints/", help="checkpoint directory")
    args = parser.parse_args()
    if args.lr <= 0:
        parser.error("--lr must be positive")

    directory = Path(args.checkpoint)
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint = directory / CHECKPOINT_FILE
    step, accuracy = 0, 0.0
    if checkpoint.is_file():
        saved = json.loads(checkpoint.read_text())
        step, accuracy = int(saved["step"]), float(saved["accuracy"])
        # Not in the metric's "name=value" form: the parent's result is not this trial's observation.
        print(f"resumed from step {step} at accuracy {accuracy:.4f}", flush=True)
    for _ in range(args.epochs):
        step += 1
        accuracy = train_epoch(step, accuracy, args.lr)
        print(f"epoch {step}: lr={args.lr:.4f} Validation-accuracy={accuracy:.4f}", flush=True)
    # Written whole and then renamed, so a trial stopped mid-save never leaves half a checkpoint.
    partial = checkpoint.with_suffix(".tmp")
    partial.write_text(json.dumps({"step": step, "accuracy": accuracy, "lr": args.lr}))
    os.replace(partial, checkpoint)


if __name__ == "__main__":
    main()
