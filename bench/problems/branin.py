"""Branin-Hoo on x1 in [-5, 10], x2 in [0, 15]; global minimum 0.397887 (three minimisers).

python3 branin.py --x1=X1 --x2=X2     prints value=<f(x1, x2)>
"""

import math
import sys


def branin(x1: float, x2: float) -> float:
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


if __name__ == "__main__":
    args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
    print(f"value={branin(float(args['x1']), float(args['x2']))!r}")
