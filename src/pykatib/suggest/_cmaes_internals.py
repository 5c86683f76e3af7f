"""Every use pykatib makes of the ``cmaes`` library's private names, and nothing else.

pykatib saves a CMA optimizer in the experiment's state (JSON, never a pickle: the store is no place for
code to run) so that a restarted controller continues the very same CMA-ES run. ``cmaes`` offers no public
state besides pickling, so the optimizer goes through its pickle protocol (``__getstate__`` /
``__setstate__``) without the pickle: the state is a dict of its private attributes, numbers and arrays,
which pykatib encodes as JSON. Nothing outside this module looks at those attributes.
``tests/suggest/test_library_internals.py`` fails with the cmaes version and the name when the protocol
or the attributes relied on here change; pyproject.toml pins ``cmaes`` below its next minor version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from cmaes import CMA

# How CMA.__getstate__ stores the covariance matrix (its upper triangle, row by row), and the attribute it
# stands for; pykatib up to this version saved the attributes themselves, covariance included.
_PACKED_COVARIANCE = "_c_1d"
_COVARIANCE = "_C"


def optimizer_state(optimizer: CMA) -> dict[str, Any]:
    """What pickling the optimizer would save (``CMA.__getstate__``): every attribute but its random
    generator (pykatib seeds that before each ask), with the covariance matrix packed."""
    return optimizer.__getstate__()


def optimizer_from_state(state: Mapping[str, Any]) -> CMA:
    """The optimizer :func:`optimizer_state` describes, built as unpickling builds it (``CMA.__new__``, then
    ``CMA.__setstate__``, which also gives it a new random generator).

    A state saved by an earlier pykatib holds the attributes as they were (``vars(optimizer)``, the private
    ``_C`` unpacked): its covariance is packed first, exactly (the matrix is symmetric)."""
    attributes = dict(state)
    if _PACKED_COVARIANCE not in attributes and _COVARIANCE in attributes:
        covariance = np.asarray(attributes.pop(_COVARIANCE))
        attributes[_PACKED_COVARIANCE] = covariance[np.triu_indices(len(covariance))]
    optimizer = CMA.__new__(CMA)
    optimizer.__setstate__(attributes)
    return optimizer
