"""Fixtures: a valid v1beta1 experiment to mutate, and the shared/ folder of Katib's examples if present."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests_support import base_experiment

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def base() -> dict[str, Any]:
    return base_experiment()


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present: Katib's examples live in the project's shared/ folder beside the clone")
    return SHARED
