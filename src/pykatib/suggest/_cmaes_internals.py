"""Every use pykatib makes of the ``cmaes`` library's private names, and nothing else.

pykatib saves the CMA optimizer in the experiment's state (JSON, never a pickle: the store is no place for
code to run) so that a restarted controller continues the very same CMA-ES run. The only state ``cmaes``
offers is its pickle protocol (``__getstate__``), and that is not exact: it keeps the upper triangle of the
covariance matrix, which CMA computes as B·D²·Bᵀ and so is symmetric only up to rounding, while the next
update reads all of it. So the optimizer is saved as its attributes, whatever their (private) names, and
rebuilt without ``__init__``. Nothing outside this module looks at those attributes.
``tests/suggest/test_library_internals.py`` fails with the cmaes version and the name when this changes
shape; pyproject.toml pins ``cmaes`` below its next minor version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from cmaes import CMA


def optimizer_state(optimizer: CMA) -> dict[str, Any]:
    """The optimizer's attributes (``vars()``: its private state, numbers and arrays), without its random
    generator, which pykatib seeds before every ask (``CMA.reseed_rng``)."""
    return {name: value for name, value in vars(optimizer).items() if not isinstance(value, np.random.RandomState)}


def optimizer_from_state(state: Mapping[str, Any]) -> CMA:
    """The optimizer whose attributes are ``state``: made with ``CMA.__new__`` (its ``__init__`` would draw a
    fresh one), the attributes set as they were, and a new random generator as the private ``_rng`` (the
    attribute ``reseed_rng`` seeds; ``CMA.__setstate__`` sets it the same way)."""
    optimizer = CMA.__new__(CMA)
    for name, value in state.items():
        setattr(optimizer, name, value)
    optimizer._rng = np.random.RandomState()
    return optimizer
