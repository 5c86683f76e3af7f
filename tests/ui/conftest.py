"""Fixtures of the web UI's tests: one Chromium for the session, one loopback server per module, a fresh
browser context (cookies, downloads) per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from server_support import Server, running_server
from ui_support import launched_browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    yield from launched_browser()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("ui") / "home") as started:
        yield started


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    opened = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True,
                                 ignore_https_errors=True)  # fmt: skip
    yield opened
    opened.close()
