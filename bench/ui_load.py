"""The web UI's experiment page of a large experiment in Chromium (issue 14): the time until every plot is drawn
and shown, and the page's data requests.

    .venv/bin/python bench/ui_load.py [--trials 10000] [--repeat 5] [--quick] [--profile]

1. One finished experiment of TRIALS trials (up to 20 reports each of the objective, a loss falling towards a
   level set by the trial's parameters; four parameters: lr (double, log), momentum (double), batch_size (int),
   optimizer (categorical)); about 6 % of the trials Failed part way (no objective value), 8 % EarlyStopped
   after 5 to 14 reports, the rest Succeeded; written straight into a new store (bench/large_experiment.py, as
   bench/api_load.py does), then `pykatib server --port 0` on it (its own home, plain http on loopback). Then
   the same for 1,000 trials.
2. REPEAT loads of its experiment page (/ui/experiments/NS/NAME) in Debian's Chromium (/usr/bin/chromium,
   headless, through Playwright), each in a new browser context (no HTTP cache: ECharts is fetched and
   compiled every time). The first load is the server's first answer for the experiment; later ones may find
   what the server keeps. Measured from outside the page's code: a script installed before navigation
   (`page.add_init_script`) checks every animation frame which of the plot containers of the page's HTML (the
   elements `[id^="plot-"]` of the cards shown) has finished drawing (ECharts' `finished` event) the data the
   page last gave it, with points in it (the points are read back from ECharts at the end). Printed per load,
   then as medians and max:
   - page fully drawn: from navigation start (performance.timeOrigin) to the end of the animation frame that
     found every plot drawn with data, its commit included. Target: under 2 s;
   - data requests: every request under /ui/api/ made before that moment (Resource Timing): their count and
     bytes, and the time from the first one's start to the last one's end. Target: under 1 s;
   - each request's queueing, wait for its first byte and download as the browser saw them; each endpoint's
     answer size and its time with httpx (median of 10, the server warm: to the headers and to the last byte;
     the experiment's data also with `since=1`, every trial sent as changed: computed, never kept);
   - the page's own performance marks and measures when it sets them (experiment.js: `pykatib:data` when its
     data is parsed, `pykatib:<plot>` per plot drawn);
   - as information, the page drawn on later visits in one context (ECharts from the HTTP cache).
   `--profile`: two more loads of the largest experiment, one traced (Chromium's trace: the page's main thread
   by kind of work, ECharts' evaluation, the GPU process's busy time), one with V8's sampling profiler (the
   page's JavaScript by script, and the inclusive time of each of the page's own functions: the plots' draws).
A missing route, a failed request, an error in the page or a plot that never draws ends the run with a
message naming them. `--quick`: 1,000 trials only, REPEAT 2. The server and Chromium share this machine's
CPU with this process.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from math import exp, log10
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from large_experiment import Outcome, Seeded, Server, seed, server  # noqa: E402  (the seeded store, the server)
from overhead import load  # noqa: E402

CHROMIUM = Path(os.environ.get("PYKATIB_CHROMIUM", "/usr/bin/chromium"))
API = "/ui/api/"
PAGE_TARGET_S = 2.0
DATA_TARGET_S = 1.0
QUICK_TRIALS = 1000
SLACK_S = 3.0  # a finished experiment: its rows were written this long before the first load at least

# Installed before the page's own scripts: watches the plot containers every animation frame.
WATCH = r"""(() => {
  const bench = {expected: [], drawn: {}, frame: null, done: null, frames: 0};
  Object.defineProperty(window, '__pykatibBench', {value: bench});
  function frame() {
    bench.frames += 1;
    // Every card shown (a card the page shows later, as the lineage, is waited for once it shows), read once the
    // whole HTML is parsed; the page must have finished its first drawing pass (body's data-rendered).
    if (document.readyState !== 'loading') {
      for (const e of document.querySelectorAll('.plot-card:not([hidden]) [id^="plot-"]')) {
        if (!bench.expected.includes(e.id)) bench.expected.push(e.id);
      }
    }
    const now = performance.now();
    for (const id of bench.expected) {
      if (bench.drawn[id] !== undefined) continue;
      // Drawn: ECharts' 'finished' event came for the data the page last gave it, and that had points.
      const box = document.getElementById(id);
      if (box && box.dataset.drawn !== undefined && box.dataset.drawn === box.dataset.version
        && Number(box.dataset.points) > 0) bench.drawn[id] = now;
    }
    if (bench.expected.length && document.body.dataset.rendered !== undefined
      && bench.expected.every((id) => bench.drawn[id] !== undefined)) {
      // This frame shows them once it is committed: the first task after this one comes after the commit.
      bench.frame = now;
      setTimeout(() => { bench.done = performance.now(); }, 0);
      return;
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();"""

# What a finished load left: the watcher's times, each plot's points (read back from ECharts), Resource Timing,
# the page's own marks.
RESULTS = r"""() => {
  const bench = window.__pykatibBench;
  const count = (series) => (series || []).reduce((n, s) => n + (s.data || []).length, 0);
  const plots = Object.fromEntries(bench.expected.map((id) => {
    const chart = window.echarts && echarts.getInstanceByDom(document.getElementById(id));
    const option = chart ? chart.getOption() : {};
    const traces = (option.series || []).map((s) => s.type);
    return [id, {drawn: bench.drawn[id], points: count(option.series), traces}];
  }));
  const nav = performance.getEntriesByType('navigation')[0] || {};
  const own = (type) => performance.getEntriesByType(type).filter((m) => m.name.startsWith('pykatib:'));
  const resources = performance.getEntriesByType('resource').map((e) => ({
    url: e.name, start: e.startTime, requestStart: e.requestStart, responseStart: e.responseStart,
    end: e.responseEnd, transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize}));
  return {
    done: bench.done, frame: bench.frame, frames: bench.frames, plots, resources,
    document: nav.responseEnd, domReady: nav.domContentLoadedEventEnd,
    marks: own('mark').map((m) => [m.name, m.startTime]),
    measures: own('measure').map((m) => [m.name, m.duration]),
  };
}"""

WEBGL = """() => { const gl = document.createElement('canvas').getContext('webgl');
  if (!gl) return 'none'; const d = gl.getExtension('WEBGL_debug_renderer_info');
  return d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER); }"""


class Missing(Exception):
    """What the UI lacks for this bench: said in one message, no traceback."""


# --- the experiment ---------------------------------------------------------------------------------

OPTIMIZERS = {"sgd": 0.06, "adam": 0.0, "rmsprop": 0.03}


class Training:
    """A network's training loss per epoch: it falls from ln(10) towards a level set by the parameters (best
    near lr 0.005, momentum 0.9, batch 64, adam), at a rate set by lr, with noise; some trials fail part way,
    some are stopped early (mostly bad ones)."""

    def __init__(self) -> None:
        self.phases: Counter[str] = Counter()

    def document(self, document: dict[str, Any], count: int) -> None:
        spec = document["spec"]
        spec.update(maxTrialCount=count, parallelTrialCount=10, maxFailedTrialCount=count)
        spec["earlyStopping"] = {"algorithmName": "medianstop"}
        spec["parameters"] = [
            {
                "name": "lr",
                "parameterType": "double",
                "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"},
            },
            {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0.5", "max": "0.99"}},
            {"name": "batch_size", "parameterType": "int", "feasibleSpace": {"min": "16", "max": "256"}},
            {"name": "optimizer", "parameterType": "categorical", "feasibleSpace": {"list": list(OPTIMIZERS)}},
        ]
        template = spec["trialTemplate"]
        template["trialParameters"] = [
            {"name": name, "reference": name} for name in ("lr", "momentum", "batch_size", "optimizer")
        ]
        container = template["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
        container["command"] = [
            "python3",
            "/opt/pytorch-mnist/mnist.py",
            "--epochs=20",
            "--lr=${trialParameters.lr}",
            "--momentum=${trialParameters.momentum}",
            "--batch-size=${trialParameters.batch_size}",
            "--optimizer=${trialParameters.optimizer}",
        ]

    def trial(self, rng: random.Random, index: int, observations: int) -> Outcome:
        lr = 10 ** rng.uniform(-4, -1)
        momentum = rng.uniform(0.5, 0.99)
        batch = rng.randint(16, 256)
        optimizer = rng.choice(list(OPTIMIZERS))
        level = (
            0.05
            + 0.12 * (log10(lr) + 2.3) ** 2
            + 0.8 * (momentum - 0.9) ** 2
            + 0.02 * abs(log10(batch / 64))
            + OPTIMIZERS[optimizer]
        )
        rate = 0.15 + 2 * lr**0.5
        losses = []
        for epoch in range(1, observations + 1):
            mean = level + (2.3026 - level) * exp(-rate * epoch)
            losses.append(max(0.001, mean * (1 + rng.gauss(0, 0.03))))
        assignment = {
            "lr": f"{lr:.6g}",
            "momentum": f"{momentum:.4f}",
            "batch_size": str(batch),
            "optimizer": optimizer,
        }
        draw = rng.random()
        if draw < 0.06:
            outcome = Outcome(assignment, losses[: rng.randrange(observations)], None, "Failed")
        elif draw < 0.16 and (level > 0.15 or draw < 0.08):
            kept = losses[: rng.randint(5, 14)]
            outcome = Outcome(assignment, kept, min(kept), "EarlyStopped")
        else:
            outcome = Outcome(assignment, losses, min(losses))
        self.phases[outcome.phase] += 1
        return outcome

    def started(self, index: int) -> float:
        return 2.5 * index  # 10 at a time, 20-odd seconds each


# --- one page load ----------------------------------------------------------------------------------


@dataclass
class Request:
    path: str  # under /ui/api/, with its query
    start: float  # ms from navigation start
    request_start: float
    response_start: float
    end: float
    transfer: int
    encoded: int
    decoded: int

    @property
    def queued(self) -> float:
        return self.request_start - self.start if self.request_start else 0.0

    @property
    def waited(self) -> float:
        return self.response_start - self.request_start if self.request_start else float("nan")

    @property
    def download(self) -> float:
        return self.end - self.response_start if self.response_start else float("nan")


@dataclass
class Load:
    drawn: float  # ms: every plot drawn with data, and the frame showing them committed
    frame: float  # ms: the animation frame that found every plot drawn (before its commit)
    plots: dict[str, dict[str, Any]]  # id -> drawn (ms), points, trace types
    requests: list[Request]  # under /ui/api/, started before `drawn`
    later: int  # requests under /ui/api/ started after it (the page's polling)
    charts: float | None  # ms: ECharts received
    dom_ready: float
    marks: dict[str, float]
    measures: dict[str, float]

    @property
    def data_window(self) -> float:
        if not self.requests:
            return float("nan")
        return max(r.end for r in self.requests) - min(r.start for r in self.requests)

    @property
    def data_bytes(self) -> int:
        return sum(r.transfer for r in self.requests)


def short(path: str, seeded: Seeded) -> str:
    """An API path as the tables show it: the experiment's namespace and name as {ns} and {name}."""
    return path.replace(f"/{seeded.namespace}/{seeded.name}", "/{ns}/{name}")


DONE = "() => window.__pykatibBench && window.__pykatibBench.done !== null"


def new_context(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WATCH)
    return context


def page_load(browser: Any, url: str, timeout: float, record: str = "") -> tuple[Load, Any]:
    """One load of ``url`` in a new context; ``record`` "profile": with V8's CPU profile of it (CDP's Profiler),
    "trace": with Chromium's trace of it (JSON bytes)."""
    context = new_context(browser)
    try:
        return visit(browser, context, url, timeout, record)
    finally:
        context.close()


def warm_loads(browser: Any, url: str, timeout: float, count: int) -> list[Load]:
    """``count`` loads of ``url`` in one context after a first one: ECharts from the HTTP cache, compiled
    code from V8's cache once Chromium has made it."""
    context = new_context(browser)
    try:
        return [visit(browser, context, url, timeout)[0] for _ in range(count + 1)][1:]
    finally:
        context.close()


def visit(browser: Any, context: Any, url: str, timeout: float, record: str = "") -> tuple[Load, Any]:
    """One load of ``url`` in a new page of ``context``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    problems: list[str] = []
    page = context.new_page()
    try:
        page.on("pageerror", lambda error: problems.append(f"error in the page: {error}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.method} {r.url} ({r.failure})"))
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} for {r.request.method} {r.url}") if r.status >= 400 else None,
        )
        session = None
        if record == "trace":
            browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
        if record == "profile":
            session = context.new_cdp_session(page)
            session.send("Profiler.enable")
            session.send("Profiler.setSamplingInterval", {"interval": 200})
            session.send("Profiler.start")
        page.goto(url, wait_until="commit")
        deadline = time.monotonic() + timeout
        troubled: float | None = None  # when a problem was first seen: the load is given 3 s more
        while True:
            now = time.monotonic()
            try:
                page.wait_for_function(DONE, timeout=1000, polling=200)
                break
            except PlaywrightTimeout:
                troubled = troubled or (now if problems else None)
                if time.monotonic() < min(deadline, (troubled or deadline) + 3):
                    continue
            state = page.evaluate("() => window.__pykatibBench || null")
            expected = (state or {}).get("expected") or []
            drawn = (state or {}).get("drawn") or {}
            if not expected:
                what = "the experiment page has no plot containers (elements with an id plot-*)"
            else:
                waiting = [i for i in expected if i not in drawn]
                what = f"{len(waiting)} of {len(expected)} plots never drew with data: {', '.join(waiting)}"
            seen = "; ".join(dict.fromkeys(problems)) or "no failed request and no error in the page"
            raise Missing(f"after {time.monotonic() - deadline + timeout:.0f} s, {what} ({seen})")
        found = page.evaluate(RESULTS)
        recorded = session.send("Profiler.stop")["profile"] if session is not None else None
        if record == "trace":
            recorded = browser.stop_tracing()
        if problems:
            raise Missing("the page loaded with problems: " + "; ".join(dict.fromkeys(problems)))
    finally:
        page.close()
    drawn = found["done"]
    requests, later = [], 0
    charts = None
    for entry in found["resources"]:
        parts = urlsplit(entry["url"])
        if parts.path.endswith("/echarts.min.js"):
            charts = entry["end"]
        if not parts.path.startswith(API):
            continue
        if entry["start"] > drawn:
            later += 1
            continue
        path = unquote(parts.path[len(API) :]) + (f"?{parts.query}" if parts.query else "")
        fields = ("start", "requestStart", "responseStart", "end", "transfer", "encoded", "decoded")
        requests.append(Request(path, *(entry[k] for k in fields)))
    marks = dict(found["marks"])
    measures: dict[str, float] = {}
    for name, duration in found["measures"]:
        measures.setdefault(name, duration)  # the first draw
    load_ = Load(drawn, found["frame"], found["plots"], requests, later, charts, found["domReady"], marks, measures)
    return load_, recorded


# --- the server's own time --------------------------------------------------------------------------


@dataclass
class Endpoint:
    label: str
    bytes: int
    headers_ms: float  # median time to the response's headers
    body_ms: float  # median time to its last byte
    uncached_ms: float | None = None


def timed_get(http: httpx.Client, path: str) -> tuple[float, float, int]:
    start = time.perf_counter()
    with http.stream("GET", path) as response:
        headers = time.perf_counter() - start
        body = response.read()
        whole = time.perf_counter() - start
    if response.status_code != 200:
        raise Missing(f"GET {path} answered {response.status_code}: {body[:300]!r}")
    return headers * 1000, whole * 1000, len(body)


def server_times(srv: Server, paths: list[str], seeded: Seeded, rounds: int = 10) -> list[Endpoint]:
    found = []
    with srv.client(timeout=120) as http:
        for path in paths:
            samples = [timed_get(http, API + path) for _ in range(rounds)]
            endpoint = Endpoint(
                short(path, seeded),
                samples[-1][2],
                statistics.median(s[0] for s in samples),
                statistics.median(s[1] for s in samples),
            )
            if "since=" in path:
                base = path.split("?")[0]
                endpoint.uncached_ms = statistics.median(timed_get(http, f"{API}{base}?since=1")[1] for _ in range(3))
            found.append(endpoint)
    return found


# --- profile ----------------------------------------------------------------------------------------

TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "blink.user_timing",
    "toplevel",
    "v8",
    "v8.execute",
    "gpu",
    "loading",
]
# The renderer main thread's events by what they are (their own time, less their children's); GLES2 and command
# buffer calls are WebGL's, waiting for the GPU process (SwiftShader here) when they read pixels back.
TRACE_KINDS = (
    ("waiting for the GPU process", ("GLES2", "CommandBuffer", "ImplementationBase", "WaitForGetOffset")),
    ("garbage collection", ("GC", "Sweep", "Marking")),
    ("style and layout", ("UpdateLayoutTree", "Layout", "RecalculateStyles", "HitTest", "StyleRecalc")),
    ("paint and compositor commit", ("Paint", "Layerize", "Commit", "Raster", "Composite", "UpdateLayer")),
    ("parsing HTML and CSS", ("ParseHTML", "ParseAuthorStyleSheet")),
    (
        "JavaScript (ECharts' and the page's, compile included)",
        (
            "FunctionCall",
            "EvaluateScript",
            "v8",
            "V8",
            "Microtask",
            "TimerFire",
            "AnimationFrame",
            "EventDispatch",
            "Script",
        ),
    ),
    ("network, IPC and scheduling", ("URLLoader", "Mojo", "mojo", "Resource", "Watcher", "RunTask", "Receive")),
)


def summarize_trace(trace: bytes, url: str, drawn_ms: float) -> None:
    """The page's main thread from navigation start until every plot was drawn: busy by kind of work, idle;
    and the GPU process's main thread (WebGL, run by SwiftShader on the CPU) busy meanwhile."""
    found = json.loads(trace)
    events = found["traceEvents"] if isinstance(found, dict) else found
    threads = {
        (e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
    }
    starts = [
        e
        for e in events
        if e.get("name") == "navigationStart"
        and ((e.get("args") or {}).get("data") or {}).get("documentLoaderURL") == url
    ]
    if not starts:
        print("  trace: no navigationStart of the page found")
        return
    pid, start = starts[0]["pid"], starts[0]["ts"]
    end = start + drawn_ms * 1000
    thread = [key for key, name in threads.items() if key[0] == pid and name == "CrRendererMain"]
    main = [e for e in events if e.get("ph") == "X" and (e["pid"], e["tid"]) in thread and start <= e["ts"] < end]
    main.sort(key=lambda e: (e["ts"], -e.get("dur", 0)))
    kinds: Counter[str] = Counter()
    in_commit = 0.0
    stack: list[dict[str, Any]] = []
    own: dict[int, float] = {}
    for event in main:
        while stack and stack[-1]["ts"] + stack[-1].get("dur", 0) <= event["ts"]:
            stack.pop()
        within = min(event["ts"] + event.get("dur", 0), end) - event["ts"]  # the part before all were drawn
        if stack:
            own[id(stack[-1])] -= within
        own[id(event)] = within
        event["_commit"] = event["name"] == "Commit" or bool(stack and stack[-1].get("_commit"))
        stack.append(event)
    busy = 0.0
    for event in main:
        ms = max(0.0, own[id(event)]) / 1000
        busy += ms
        kind = next((k for k, words in TRACE_KINDS if any(w in event["name"] for w in words)), "other")
        kinds[kind] += ms
        if kind == "waiting for the GPU process" and event["_commit"]:
            in_commit += ms
    gpu = [
        e
        for e in events
        if e.get("ph") == "X"
        and threads.get((e["pid"], e["tid"])) == "CrGpuMain"
        and e["name"] == "RunTask"
        and start <= e["ts"] < end
    ]
    gpu_ms = sum(e.get("dur", 0) for e in gpu) / 1000
    print(
        f"  Chromium trace, navigation start to all drawn ({drawn_ms:.0f} ms): the page's main thread busy "
        f"{busy:.0f} ms, idle {drawn_ms - busy:.0f} ms; the GPU process (SwiftShader) busy {gpu_ms:.0f} ms"
    )
    for event in main:
        if event["name"] == "EvaluateScript" and "echarts" in str(
            ((event.get("args") or {}).get("data") or {}).get("url")
        ):
            at = (event["ts"] - start) / 1000
            print(f"    ECharts evaluated (compile included) from {at:.0f} ms for {event.get('dur', 0) / 1000:.0f} ms")
    for kind, ms in kinds.most_common():
        extra = (
            f" ({in_commit:.0f} of it in compositor commits: WebGL canvases read back)"
            if kind.startswith("waiting")
            else ""
        )
        print(f"    {kind:56} {ms:7.0f} ms{extra}")


def summarize_profile(profile: dict[str, Any]) -> None:
    """Self time by script, and the inclusive time of the page's own functions (/ui/static/, not ECharts)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {child: n["id"] for n in profile["nodes"] for child in n.get("children", [])}
    deltas = profile.get("timeDeltas") or []
    self_ms: Counter[int] = Counter()
    for sample, delta in zip(profile.get("samples") or [], [*deltas[1:], 0], strict=True):
        self_ms[sample] += delta / 1000
    by_script: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for node_id, ms in self_ms.items():
        frame = nodes[node_id]["callFrame"]
        url = frame.get("url") or ""
        name = frame.get("functionName") or "(anonymous)"
        if not url:
            by_script[name if name.startswith("(") else f"(native) {name}"] += ms
        else:
            by_script[urlsplit(url).path.rsplit("/", 1)[-1]] += ms
        seen: set[str] = set()
        current: int | None = node_id
        while current is not None:
            call = nodes[current]["callFrame"]
            where = urlsplit(call.get("url") or "").path
            if "/ui/static/" in where and not where.endswith("echarts.min.js"):
                key = f"{call.get('functionName') or '(anonymous)'} ({where.rsplit('/', 1)[-1]})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += ms
            current = parent.get(current)
    total = sum(self_ms.values())
    print(f"  V8 profile: {total:.0f} ms sampled; self time by script:")
    for name, ms in by_script.most_common(8):
        print(f"    {name:40} {ms:8.0f} ms")
    print("  inclusive time of the page's own functions (ECharts' work under them included):")
    for name, ms in inclusive.most_common(16):
        print(f"    {name:40} {ms:8.0f} ms")


# --- a size -----------------------------------------------------------------------------------------


@dataclass
class Figures:
    trials: int
    plots: int
    drawn: list[float] = field(default_factory=list)  # s
    data: list[float] = field(default_factory=list)  # s
    warm: list[float] = field(default_factory=list)  # s: page fully drawn, ECharts cached


def fmt_ms(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.0f}"


def medians(found: list[dict[str, float]]) -> str:
    """``name value, ...``: each name's median over the loads that have it."""
    names = list(dict.fromkeys(name for one in found for name in one))
    values = {name: statistics.median(one[name] for one in found if name in one) for name in names}
    return ", ".join(f"{name.removeprefix('pykatib:')} {value:.0f}" for name, value in values.items())


def check_pages(srv: Server, url: str) -> None:
    with srv.client() as http:
        for path in ("/ui/", url):
            response = http.get(path)
            if response.status_code != 200:
                raise Missing(
                    f"GET {path} answered {response.status_code}: the server does not serve the UI's "
                    f"{'experiments list' if path == '/ui/' else 'experiment page'} (src/pykatib/ui)"
                )


def run_size(browser: Any, trials: int, args: argparse.Namespace, tmp: Path) -> Figures:
    home = tmp / f"home-{trials}"
    home.mkdir()
    start = time.perf_counter()
    design = Training()
    seeded = seed(home, trials, args.observations, design, logs=False)
    written = time.monotonic()
    size = (home / "pykatib.db").stat().st_size / 1e6
    print(
        f"\n== {trials:,} trials x up to {args.observations} reports: seeded in {time.perf_counter() - start:.1f} s, "
        f"store {size:.0f} MB; " + ", ".join(f"{n:,} {phase}" for phase, n in design.phases.most_common())
    )
    with server(home, None, tmp / f"server-{trials}.log") as srv:
        path = f"/ui/experiments/{seeded.namespace}/{seeded.name}"
        check_pages(srv, path)
        time.sleep(max(0.0, SLACK_S - (time.monotonic() - written)))
        loads: list[Load] = []
        for i in range(args.repeat):
            found, _ = page_load(browser, srv.url + path, args.timeout)
            loads.append(found)
            frames = sorted({v["drawn"] for v in found.plots.values()})
            last = [k.removeprefix("plot-") for k, v in found.plots.items() if v["drawn"] == frames[-1]]
            spans = ", ".join(f"{short(r.path, seeded)} {r.start:.0f}-{r.end:.0f}" for r in found.requests)
            print(
                f"load {i + 1}{' (server cold)' if i == 0 else ''}: all {len(found.plots)} plots drawn and shown at "
                f"{found.drawn / 1000:.2f} s (found drawn in {len(frames)} frame(s), the last at "
                f"{found.frame / 1000:.2f} s: {', '.join(last)}; its commit {found.drawn - found.frame:.0f} ms); "
                f"data requests {found.data_window / 1000:.2f} s ({len(found.requests)}, "
                f"{found.data_bytes / 1e6:.2f} MB); ECharts in at {fmt_ms(found.charts)} ms; DOMContentLoaded "
                f"{fmt_ms(found.dom_ready)} ms; load average {load()}\n  requests, ms from navigation start: {spans}"
            )
        first = loads[0]
        warm = warm_loads(browser, srv.url + path, args.timeout, min(args.repeat, 3))
        print(
            f"warm (later visits in one context: ECharts from the HTTP cache): all drawn at "
            f"{', '.join(f'{w.drawn / 1000:.2f}' for w in warm)} s; ECharts in at "
            f"{', '.join(fmt_ms(w.charts) for w in warm)} ms"
        )
        print(
            "plots waited for: "
            + ", ".join(
                f"{k} ({', '.join(dict.fromkeys(v['traces']))}: {v['points']:,} points)" for k, v in first.plots.items()
            )
        )
        paths = list(dict.fromkeys(r.path for r in first.requests))
        endpoints = server_times(srv, paths, seeded)
        print("data requests (browser: median over the loads; httpx: median of 10, server warm):")
        print(
            f"  {'endpoint':40} {'n':>3} {'bytes':>10} {'decoded':>10} {'queue':>6} {'wait':>6} {'down':>6} "
            f"{'total':>6} {'cold':>6}   httpx {'head':>6} {'body':>6} {'uncached':>8}"
        )
        for endpoint, p in zip(endpoints, paths, strict=True):
            seen = [r for load_ in loads for r in load_.requests if r.path == p]

            def med(attribute: str, seen: list[Request] = seen) -> float:
                return statistics.median(getattr(r, attribute) for r in seen)

            cold = next((r.end - r.start for r in first.requests if r.path == p), float("nan"))
            total = statistics.median(r.end - r.start for r in seen)
            per_load = len(seen) / len(loads)
            print(
                f"  {endpoint.label[:40]:40} {per_load:3.0f} {seen[0].transfer:10,} {seen[0].decoded:10,} "
                f"{fmt_ms(med('queued')):>6} {fmt_ms(med('waited')):>6} {fmt_ms(med('download')):>6} "
                f"{fmt_ms(total):>6} {fmt_ms(cold):>6}         {endpoint.headers_ms:6.1f} {endpoint.body_ms:6.1f} "
                f"{fmt_ms(endpoint.uncached_ms):>8}"
            )
        marks = medians([x.marks for x in loads])
        if marks:
            print("the page's own marks, ms from navigation start (median): " + marks)
        measures = medians([x.measures for x in loads])
        if measures:
            print("the page's own measures, ms (median; the first of each name): " + measures)
        if args.profile and trials == max(args.sizes):
            traced, trace = page_load(browser, srv.url + path, args.timeout, record="trace")
            summarize_trace(trace, srv.url + path, traced.drawn)
            _, profiled = page_load(browser, srv.url + path, args.timeout, record="profile")
            summarize_profile(profiled)
    drawn = [x.drawn / 1000 for x in loads]
    return Figures(
        trials, len(first.plots), drawn, [x.data_window / 1000 for x in loads], [x.drawn / 1000 for x in warm]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--observations", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a load may take to draw every plot")
    parser.add_argument("--profile", action="store_true", help="one more load of the largest, profiled")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (its path is printed)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_TRIALS:,} trials only, REPEAT 2")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeat = [QUICK_TRIALS], 2
    else:
        args.sizes = list(dict.fromkeys([args.trials, QUICK_TRIALS]))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("bench/ui_load.py needs Playwright for Python: .venv/bin/pip install playwright")
    if not CHROMIUM.exists():
        sys.exit(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or PYKATIB_CHROMIUM=PATH)")
    os.chdir(ROOT)
    import pykatib

    compileall.compile_dir(Path(pykatib.__file__).parent, quiet=1)
    print(f"load average at start {load()}; {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="pykatib-ui-load-"))
    results: list[Figures] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                context = browser.new_context()
                renderer = context.new_page().evaluate(WEBGL)
                context.close()
                print(f"Chromium {browser.version}, headless; WebGL: {renderer}")
                for trials in args.sizes:
                    results.append(run_size(browser, trials, args, tmp))
            finally:
                browser.close()
    except Missing as exc:
        sys.exit(f"bench/ui_load.py: the UI is not complete for this bench: {exc}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average at end {load()}")
    print()
    print(f"{'figure':52} {'median':>8} {'max':>8} {'target':>8}  result")
    for figures in results:
        rows = (
            (f"{figures.trials:,} trials: page fully drawn ({figures.plots} plots)", figures.drawn, PAGE_TARGET_S),
            (f"{figures.trials:,} trials: data requests, first start to last end", figures.data, DATA_TARGET_S),
            (f"{figures.trials:,} trials: page fully drawn, ECharts cached", figures.warm, None),
        )
        for label, values, target in rows:
            median = statistics.median(values)
            verdict = "" if target is None else ("met" if median < target else "not met")
            shown = "" if target is None else f"< {target}s"
            print(f"{label:52} {median:7.2f}s {max(values):7.2f}s {shown:>8}  {verdict}")


if __name__ == "__main__":
    main()
