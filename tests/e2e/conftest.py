"""Fixtures for the end-to-end tests: each test gets its own state directory (store and trial directories).

The helpers themselves (make_experiment, run_pykatib, store_for, ...) live in ``tests/e2e_support.py``, so
that ``tests/control`` uses the same ones.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from e2e_support import (
    ONE_TRIAL,
    OTHER_EXAMPLES,
    PROJECT,
    PROJECT_EXAMPLES,
    RUNNABLE_EXAMPLES,
    SMALL_BUDGET,
    UNCHANGED_EXAMPLES,
    BackgroundRuns,
)

EXAMPLES_MODULE = "test_katib_examples.py"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """``--workdir`` of the run: ``pykatib.db`` and ``experiments/<namespace>/<name>/trials/<trial>/`` land here."""
    return tmp_path / "state"


_example_runs: BackgroundRuns | None = None


def _examples() -> BackgroundRuns:
    global _example_runs
    if _example_runs is None:
        planned = {name: (PROJECT / name, SMALL_BUDGET) for name in RUNNABLE_EXAMPLES}
        planned.update({name: (PROJECT / name, ONE_TRIAL) for name in OTHER_EXAMPLES})
        planned.update({name: (PROJECT / name, []) for name in UNCHANGED_EXAMPLES})
        planned.update({name: (PROJECT / name, args) for name, (args, _) in PROJECT_EXAMPLES.items()})
        _example_runs = BackgroundRuns(Path(tempfile.mkdtemp(prefix="pykatib-examples-")), planned)
    return _example_runs


def pytest_collection_finish(session: pytest.Session) -> None:
    """The examples take over a minute of CPU: started as soon as the session knows it will check them (at
    low priority), they run while the other tests wait on their own trials, and are mostly done by the time
    their own tests ask for the results."""
    if session.config.option.collectonly:
        return
    if any(item.path.name == EXAMPLES_MODULE for item in session.items):
        _examples().start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _example_runs is not None:
        _example_runs.stop()
        shutil.rmtree(_example_runs.base, ignore_errors=True)


@pytest.fixture(scope="session")
def example_runs() -> BackgroundRuns:
    """One ``pykatib run`` per Katib example, all started together (see test_katib_examples.py)."""
    return _examples()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Ask for the examples' results last: their runs then overlap every other end-to-end test."""
    examples = [item for item in items if item.path.name == EXAMPLES_MODULE]
    if examples:
        items[:] = [item for item in items if item.path.name != EXAMPLES_MODULE] + examples
