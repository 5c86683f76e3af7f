"""Helpers for the web UI's tests: Playwright driving Debian's Chromium (/usr/bin/chromium, `make chromium`),
experiments whose trials wait for a gate file (so a test sees a page before and after its trials finish, with
no timing), and reading what the page's charts (ECharts) drew."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_support import PROJECT
from server_support import tiny_experiment

CHROMIUM = Path(os.environ.get("PYKATIB_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = PROJECT / "docs" / "images" / "ui-experiment.png"
# A trial: prints a line, waits until the file `open` exists in the directory argv[2] (a directory that exists:
# a path that does not is the trial's own, inside its root), then reports accuracy three times (x/2, 4x/5, x).
GATED_TRIAL = (
    "import os, sys, time\n"
    "print('training', flush=True)\n"
    "while not os.path.exists(os.path.join(sys.argv[2], 'open')): time.sleep(0.05)\n"
    "x = float(sys.argv[1])\n"
    "for part in (0.5, 0.8, 1.0): print('accuracy=%r' % (x * part), flush=True)\n"
)
PARAMETERS = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.9"}},
    {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["adam", "sgd"]}},
]
# What each analysis plot drew: its points (one per finished trial), read back from its ECharts chart.
PLOT_POINTS = """() => {
  const option = (key) => {
    const box = document.getElementById('plot-' + key);
    const chart = window.echarts && box && echarts.getInstanceByDom(box);
    return chart ? chart.getOption() : {};
  };
  const series = (key, test = () => true) => (option(key).series || []).find(test) || {data: []};
  const slice = option('slice');
  return {
    history: series('history', (s) => s.name === 'Objective value').data.length,
    parallel: series('parallel').data.length,
    parallelAxes: (option('parallel').parallelAxis || []).map((a) => a.name),
    slice: (slice.series || []).map((s) => s.data.length),
    sliceTypes: Object.fromEntries((slice.xAxis || []).map((a) => [a.name, a.type])),
    contour: series('contour', (s) => s.name === 'Trials').data.length,
    importance: option('importance').yAxis?.[0]?.data || [],
    intermediateCurves: series('intermediate', (s) => s.type === 'lines').data.length,
    intermediatePoints: series('intermediate', (s) => s.type === 'scatter' && s.name === 'Reports').data.length,
    timeline: (option('timeline').series || []).reduce((n, s) => n + s.data.length, 0),
    edf: series('edf').data.length,
    curve: (option('curve').series || []).map((s) => [s.name, s.data.length]),
    lineage: series('lineage', (s) => s.name === 'Trials').data.length,
    lineageLinks: series('lineage', (s) => s.type === 'lines').data.length,
  };
}"""


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: `make chromium` (apt-get install -y chromium)")


def gated_experiment(name: str, gate: Path, *, trials: int, parallel: int, **spec: Any) -> dict[str, Any]:
    """An experiment of ``trials`` trials (x double, opt categorical) that all wait for ``open_gate(gate)``."""
    gate.mkdir(parents=True, exist_ok=True)
    doc = tiny_experiment(name, trials=trials, parallel=parallel, parameters=PARAMETERS, **spec)
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python3", "-c", GATED_TRIAL, "${trialParameters.x}", str(gate)]
    return doc


def open_gate(gate: Path) -> None:
    """Let every trial of a ``gated_experiment`` waiting on ``gate`` (and every later one) finish."""
    (gate / "open").touch()


def screenshot(page: Any, path: Path, *, readme: bool = False) -> None:
    """Save what the test checked; the README's image too when PYKATIB_UPDATE_SCREENSHOT=1."""
    page.screenshot(path=str(path), full_page=True)
    if readme and os.environ.get("PYKATIB_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True, clip={"x": 0, "y": 0, "width": 1400, "height": 1560})


def launched_browser() -> Iterator[Any]:
    """Chromium through Playwright for a whole session (skips the test when either is missing)."""
    require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            browser.close()
