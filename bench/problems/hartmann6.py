"""Hartmann 6-d on [0, 1]^6; global minimum -3.32237.

python3 hartmann6.py --x1=.. --x2=.. ... --x6=..     prints value=<f(x)>
"""

import math
import sys

ALPHA = (1.0, 1.2, 3.0, 3.2)
A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def hartmann6(x: list[float]) -> float:
    return -sum(
        alpha * math.exp(-sum(a * (xj - p) ** 2 for a, xj, p in zip(row, x, prow, strict=True)))
        for alpha, row, prow in zip(ALPHA, A, P, strict=True)
    )


if __name__ == "__main__":
    args = dict(arg.lstrip("-").split("=", 1) for arg in sys.argv[1:])
    print(f"value={hartmann6([float(args[f'x{i}']) for i in range(1, 7)])!r}")
