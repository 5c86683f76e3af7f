"""Helpers for the web UI's tests: Playwright driving Debian's Chromium (/usr/bin/chromium, `make chromium`),
experiments whose trials wait for a gate file (so a test sees a page before and after its trials finish, with
no timing), and reading what Plotly drew from the page."""

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
# What each analysis plot drew: its points (one per finished trial), read from Plotly's gd.data.
PLOT_POINTS = """() => {
  const gd = (key) => document.getElementById('plot-' + key).data || [];
  const segments = (traces) => traces.reduce((n, t) => n + (t.x || []).filter((v) => v === null).length, 0);
  const intermediate = gd('intermediate')[0] || {text: []};
  return {
    history: (gd('history')[0]?.x || []).length,
    parallel: (gd('parallel')[0]?.dimensions?.[0]?.values || []).length,
    parallelAxes: (gd('parallel')[0]?.dimensions || []).map((d) => d.label),
    slice: gd('slice').map((t) => (t.x || []).length),
    sliceTypes: Object.fromEntries(Object.entries(document.getElementById('plot-slice')._fullLayout || {})
      .filter(([k]) => /^xaxis\\d*$/.test(k)).map(([k, v]) => [v.title?.text, v.type])),
    contour: (gd('contour').find((t) => t.mode === 'markers')?.x || []).length,
    importance: gd('importance')[0]?.y || [],
    intermediateCurves: new Set((intermediate.text || []).filter((v) => v !== null)).size,
    intermediatePoints: (intermediate.y || []).filter((v) => v !== null).length,
    timeline: segments(gd('timeline')),
    edf: (gd('edf')[0]?.x || []).length,
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
