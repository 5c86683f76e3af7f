"""Fixtures: a valid v1beta1 experiment to mutate."""

from __future__ import annotations

from typing import Any

import pytest

from tests_support import base_experiment


@pytest.fixture
def base() -> dict[str, Any]:
    return base_experiment()
