"""A trainer with a learning curve: the loss decays over epochs towards a floor set by lr and momentum.

Prints ``epoch N loss=X`` once per epoch (the StdOut collector's default format), flushing each line so
early stopping sees the curve while it runs. Standard library only, so a trial costs little more than
Python's start-up.
"""

import argparse
import math
import random
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--momentum", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epoch-seconds", type=float, default=0.1)
    args = parser.parse_args()
    # Best near lr 0.05, momentum 0.9; far from it the floor rises (too small: slow, too large: unstable).
    distance = (math.log10(args.lr) - math.log10(0.05)) ** 2
    floor = 0.05 + 0.25 * distance + 0.4 * (args.momentum - 0.9) ** 2
    # Most of the progress comes in the first epochs, as in real training: the speed of the early drop
    # grows with the step size, the floor is what the hyperparameters allow.
    speed = 0.5 + 0.5 * min(10 * args.lr * (1 + args.momentum), 1.0)
    # Too large a step diverges: the loss never leaves its starting value (and creeps up).
    diverged = args.lr * (1 + args.momentum) > 1.0
    rng = random.Random(f"{args.seed}-{args.lr}-{args.momentum}")
    for epoch in range(1, args.epochs + 1):
        if diverged:
            loss = 2.3 + 0.01 * epoch + rng.gauss(0, 0.005)
        else:
            loss = floor + (2.3 - floor) * math.exp(-speed * epoch) + rng.gauss(0, 0.005)
        sys.stdout.write(f"epoch {epoch} loss={loss:.6f}\n")
        sys.stdout.flush()
        time.sleep(args.epoch_seconds)


if __name__ == "__main__":
    main()
