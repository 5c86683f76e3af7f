"""The web UI in Chromium against a real ``pykatib server``: an experiment created from the YAML page, watched
live to its end (list, overview, every plot, the trials table, its CSV), a trial's log and curve, stop and
delete, and the editor's errors beside their lines. Each test saves a screenshot of what it checked."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from e2e_support import PROJECT
from pykatib.suggest.hyperband import PARENT_LABEL as HYPERBAND_PARENT
from pykatib.suggest.pbt import PARENT_LABEL
from server_support import Server
from ui_support import PLOT_POINTS, gated_experiment, open_gate, screenshot

WAIT_MS = 120_000  # the longest a page may take to show what the trials did (the trials are instant once gated)


def experiment_page(context: Any, server: Server, name: str, namespace: str = "default") -> Any:
    page = context.new_page()
    page.goto(f"{server.local_url}/ui/experiments/{namespace}/{name}")
    page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=WAIT_MS)
    return page


def fill_editor(page: Any, text: str) -> None:
    page.fill("#yaml-text", text)


def test_experiment_created_from_the_editor_runs_live_to_its_end(context: Any, server: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    doc = gated_experiment("ui-live", gate, trials=6, parallel=3)
    page = context.new_page()
    page.goto(f"{server.local_url}/ui/new")
    page.wait_for_function("document.body.dataset.rendered === 'true'", timeout=WAIT_MS)
    assert page.locator("#example option").count() > 1  # the shipped examples to start from

    fill_editor(page, yaml.safe_dump(doc, sort_keys=False))
    page.click("#validate")
    page.wait_for_function("document.body.dataset.valid === 'true'", timeout=WAIT_MS)
    assert "would create experiment default/ui-live" in page.inner_text("#message")
    with server.client() as http:  # a dry run creates nothing
        assert http.get(server.experiment_path("ui-live")).status_code == 404

    page.click("#create")
    page.wait_for_url("**/ui/experiments/default/ui-live", timeout=WAIT_MS)
    page.wait_for_function("document.body.dataset.status === 'Running'", timeout=WAIT_MS)
    page.evaluate("window.notReloaded = true")
    before = page.evaluate(PLOT_POINTS)
    assert before["history"] == 0 and before["edf"] == 0  # no trial may finish before the gate opens
    listing = context.new_page()
    listing.goto(f"{server.local_url}/ui/")
    row = listing.locator("#experiments tr[data-name='ui-live']")
    row.locator(".badge.Running").wait_for(timeout=WAIT_MS)

    open_gate(gate)  # every trial finishes now; the pages follow without a reload
    page.wait_for_function("document.body.dataset.status === 'Succeeded'", timeout=WAIT_MS)
    page.wait_for_function(f"({PLOT_POINTS})().history === 6 && ({PLOT_POINTS})().intermediatePoints === 18",
                           timeout=WAIT_MS)  # fmt: skip
    assert page.evaluate("window.notReloaded") is True
    row.locator(".badge.Succeeded").wait_for(timeout=WAIT_MS)
    assert "6 / 0 / 0" in row.inner_text()
    screenshot(listing, tmp_path / "experiments.png")

    trials = server.trials("ui-live")
    assert len(trials) == 6 and all(_phase(t) == "Succeeded" for t in trials)
    points = page.evaluate(PLOT_POINTS)
    assert points["history"] == points["parallel"] == points["contour"] == points["edf"] == 6
    assert points["slice"] == [6, 6]
    assert points["sliceTypes"]["opt"] == "category" and points["sliceTypes"]["x"] == "value"
    assert points["parallelAxes"] == ["x", "opt", "accuracy"]
    assert points["intermediateCurves"] == 6 and points["intermediatePoints"] == 18  # 3 reports per trial
    assert points["timeline"] == 6
    page.wait_for_function(f"({PLOT_POINTS})().importance.length === 2", timeout=WAIT_MS)
    assert sorted(page.evaluate(PLOT_POINTS)["importance"]) == ["opt", "x"]  # 6 succeeded: importance is shown
    _brush_parallel_axis(page)

    experiment = server.experiment("ui-live")
    best = experiment["status"]["currentOptimalTrial"]["bestTrialName"]
    assert page.locator("#trials tr.best").get_attribute("data-trial") == best
    assert page.inner_text("#best-trial") == best
    assert page.locator("#conditions tr[data-condition='Succeeded']").inner_text().startswith("Succeeded")
    screenshot(page, tmp_path / "experiment.png", readme=True)

    _check_table(page, trials)
    _check_csv(page, trials)
    _check_trial_page(page, server, best, tmp_path)


def _phase(trial: dict[str, Any]) -> str:
    return [c["type"] for c in trial["status"]["conditions"] if c["status"] == "True"][-1]


def _objective(trial: dict[str, Any]) -> float:
    metrics = {m["name"]: m for m in trial["status"]["observation"]["metrics"]}
    return float(metrics["accuracy"]["max"])  # maximize: Katib's default strategy is max


def _column(page: Any, header: str) -> list[str]:
    headers = page.locator("#trials thead th").all_inner_texts()
    index = next(i for i, text in enumerate(headers) if text.startswith(header))
    return [cell.strip() for cell in page.locator(f"#trials tbody tr td:nth-child({index + 1})").all_inner_texts()]


def _check_table(page: Any, trials: list[dict[str, Any]]) -> None:
    page.click("#trials th button[data-key='objective']")
    shown = [float(v) for v in _column(page, "Objective")]
    assert shown == sorted(shown) and len(shown) == 6
    page.click("#trials th button[data-key='objective']")
    assert [float(v) for v in _column(page, "Objective")] == sorted(shown, reverse=True)
    assert page.get_attribute("#trials th:has(button[data-key='objective'])", "aria-sort") == "descending"
    page.select_option("#status-filter", "Succeeded")
    assert len(_column(page, "Trial")) == 6
    page.select_option("#page-size", "25")
    assert page.inner_text("#page-info").startswith("1–6 of 6")
    assert sorted(v.removesuffix(" ★") for v in _column(page, "Trial")) == sorted(t["metadata"]["name"] for t in trials)


def _check_csv(page: Any, trials: list[dict[str, Any]]) -> None:
    with page.expect_download() as download:
        page.click("#csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    by_name = {t["metadata"]["name"]: t for t in trials}
    assert sorted(r["Trial"] for r in rows) == sorted(by_name)
    assert [float(r["Objective (accuracy)"]) for r in rows] == sorted((_objective(t) for t in trials), reverse=True)
    for row in rows:
        trial = by_name[row["Trial"]]
        assignments = {a["name"]: a["value"] for a in trial["spec"]["parameterAssignments"]}
        metrics = {m["name"]: m for m in trial["status"]["observation"]["metrics"]}
        assert row["Status"] == _phase(trial)
        assert float(row["x"]) == float(assignments["x"]) and row["opt"] == assignments["opt"]
        for part in ("min", "max", "latest"):
            assert float(row[f"accuracy {part}"]) == float(metrics["accuracy"][part])


# The parallel coordinates' lines inside (active) and outside (inactive) the brushed ranges, as ECharts keeps them.
BRUSHED = """(() => {
  const series = echarts.getInstanceByDom(document.getElementById('plot-parallel')).getModel().getSeries()[0];
  return [series.getRawIndicesByActiveState('active').length, series.getRawIndicesByActiveState('inactive').length];
})()"""


def _brush_parallel_axis(page: Any) -> None:
    """Drag along the first axis (x) over a few pixels around the largest x: the lines outside the range fade;
    the range stays when the plots are drawn again (as they are when trials change)."""
    scale, values = page.evaluate("""(() => {
      const model = echarts.getInstanceByDom(document.getElementById('plot-parallel')).getModel();
      return [model.getComponent('parallelAxis', 0).axis.scale.getExtent(),
              model.getSeries()[0].getRawData().mapArray(0, (v) => v)];
    })()""")
    page.locator("#plot-parallel").scroll_into_view_if_needed()
    box = page.locator("#plot-parallel").bounding_box()
    top, length = box["y"] + 24, box["height"] - 24 - 40  # the parallel's margins (plots.js)
    target = top + (scale[1] - max(values)) / (scale[1] - scale[0]) * length  # where the largest x is drawn
    page.mouse.move(box["x"] + 48, target - 4)
    page.mouse.down()
    page.mouse.move(box["x"] + 48, target + 4, steps=4)
    page.mouse.up()
    (low, high), *_ = page.evaluate("""echarts.getInstanceByDom(document.getElementById('plot-parallel')).getModel()
      .getComponent('parallelAxis', 0).activeIntervals""")  # the range as ECharts took it from the drag
    inside = sum(1 for v in values if low <= v <= high)
    assert len(values) == 6 and 1 <= inside < 6
    assert page.evaluate(BRUSHED) == [inside, 6 - inside]
    page.evaluate("window.pykatib.trials.version += 1; window.pykatib.plots.draw()")
    redrawn = "document.getElementById('plot-parallel').dataset.drawn === String(window.pykatib.trials.version)"
    page.wait_for_function(redrawn)
    assert page.evaluate(BRUSHED) == [inside, 6 - inside]


def _check_trial_page(page: Any, server: Server, best: str, tmp_path: Path) -> None:
    page.click(f"#trials a:text-is('{best}')")
    page.wait_for_url(f"**/trials/{best}", timeout=WAIT_MS)
    page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=WAIT_MS)
    page.wait_for_function("document.getElementById('log').dataset.complete === 'true'", timeout=WAIT_MS)
    log = page.inner_text("#log")
    assert log.startswith("training") and log.count("accuracy=") == 3
    curve = page.evaluate(PLOT_POINTS)["curve"]
    assert curve == [["accuracy", 3]]
    (trial,) = [t for t in server.trials("ui-live") if t["metadata"]["name"] == best]
    metrics = {m["name"]: m for m in trial["status"]["observation"]["metrics"]}
    cells = page.locator("#metrics tr[data-metric='accuracy'] td").all_inner_texts()
    shown = [float(v) for v in cells[1:4]]  # as the page prints numbers: 6 significant digits
    assert shown == pytest.approx([float(metrics["accuracy"][k]) for k in ("min", "max", "latest")], rel=1e-5)
    page.click("#spec-box summary")
    spec = yaml.safe_load(page.inner_text("#spec"))
    assert spec["kind"] == "Job" and spec["spec"]["template"]["spec"]["containers"][0]["command"][0] == "python3"
    screenshot(page, tmp_path / "trial.png")


def test_stop_and_delete_from_the_list(context: Any, server: Server, tmp_path: Path) -> None:
    server.create(gated_experiment("ui-stop", tmp_path / "never", trials=4, parallel=2))
    page = context.new_page()
    page.goto(f"{server.local_url}/ui/")
    row = page.locator("#experiments tr[data-name='ui-stop']")
    row.locator(".badge.Running").wait_for(timeout=WAIT_MS)
    row.locator("button.stop").click()
    row.locator(".badge.Succeeded").wait_for(timeout=WAIT_MS)  # stopped: Succeeded, ExperimentStopped
    status = server.experiment("ui-stop")["status"]
    assert [c["reason"] for c in status["conditions"] if c["type"] == "Succeeded"] == ["ExperimentStopped"]
    assert row.locator("button.stop").is_disabled()
    screenshot(page, tmp_path / "stopped.png")

    row.locator("button.delete").click()
    page.locator("#confirm").wait_for(state="visible")
    page.click("#confirm button[value='cancel']")
    with server.client() as http:
        assert http.get(server.experiment_path("ui-stop")).status_code == 200  # cancelled: still there
    row.locator("button.delete").click()
    page.click("#confirm-delete")
    row.wait_for(state="detached", timeout=WAIT_MS)
    with server.client() as http:
        assert http.get(server.experiment_path("ui-stop")).status_code == 404
    screenshot(page, tmp_path / "deleted.png")


def test_delete_from_the_experiment_page(context: Any, server: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    server.create(gated_experiment("ui-gone", gate, trials=1, parallel=1))
    open_gate(gate)
    server.wait_for("ui-gone")
    page = experiment_page(context, server, "ui-gone")
    page.wait_for_function("document.body.dataset.status === 'Succeeded'", timeout=WAIT_MS)
    page.click("#yaml-box summary")
    page.wait_for_function("document.getElementById('yaml').textContent.includes('kind: Experiment')")
    shown = yaml.safe_load(page.inner_text("#yaml"))
    assert shown["metadata"]["name"] == "ui-gone" and shown["spec"]["maxTrialCount"] == 1
    screenshot(page, tmp_path / "experiment.png")
    page.click("#delete")
    page.click("#confirm-delete")
    page.wait_for_url(f"{server.local_url}/ui/", timeout=WAIT_MS)
    with server.client() as http:
        assert http.get(server.experiment_path("ui-gone")).status_code == 404


def test_budget_edit(context: Any, server: Server, tmp_path: Path) -> None:
    server.create(gated_experiment("ui-budget", tmp_path / "gate", trials=3, parallel=1))
    page = experiment_page(context, server, "ui-budget")
    page.click("#budget-box summary")
    page.fill("#budget input[name='maxTrialCount']", "5")
    page.click("#budget button[type='submit']")
    page.wait_for_function("document.getElementById('budget-message').textContent.startsWith('Saved')")
    assert server.experiment("ui-budget")["spec"]["maxTrialCount"] == 5
    page.fill("#budget input[name='parallelTrialCount']", "9")  # more than maxTrialCount: refused, shown
    page.click("#budget button[type='submit']")
    page.wait_for_function("document.getElementById('budget-message').classList.contains('error')")
    assert "parallelTrialCount" in page.inner_text("#budget-message")
    screenshot(page, tmp_path / "budget.png")
    open_gate(tmp_path / "gate")


INVALID = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: ui-invalid
spec:
  objective:
    type: maximize
    objectiveMetricName: accuracy
  algorithm:
    algorithmName: random
  parameters:
    - name: x
      parameterType: double
      feasibleSpace: {min: "0", max: "1"}
    - name: y
      parameterType: double
      feasibleSpace:
        min: "3"
        max: "1"
  maxTrialCount: -3
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: x
        reference: x
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                command: [python3, -c, "print(1)"]
"""


def test_invalid_yaml_shows_each_error_beside_its_line(context: Any, server: Server, tmp_path: Path) -> None:
    page = context.new_page()
    page.goto(f"{server.local_url}/ui/new")
    page.wait_for_function("document.body.dataset.rendered === 'true'", timeout=WAIT_MS)
    fill_editor(page, INVALID)
    for button in ("#validate", "#create"):
        page.click(button)
        page.wait_for_function("document.querySelectorAll('#notes .has-error').length > 0", timeout=WAIT_MS)
        notes = {int(n.get_attribute("data-line")): n.inner_text() for n in page.locator("#notes .has-error").all()}
        assert "spec.maxTrialCount" in notes[20]  # the line of `maxTrialCount: -3`
        assert "spec.parameters[1].feasibleSpace.min" in notes[18]  # the line of `min: "3"`
        # a defaulted field has no line of its own: the error goes to the nearest field written (spec)
        assert "spec.parallelTrialCount" in notes[5]
        assert page.locator("#gutter div.has-error").count() == len(notes)
        assert "nothing was created" in page.inner_text("#message")
        with server.client() as http:
            assert http.get(server.experiment_path("ui-invalid")).status_code == 404
    screenshot(page, tmp_path / "invalid.png")

    fill_editor(page, INVALID.replace("  name: ui-invalid", "  name: [ui-invalid"))
    page.click("#validate")
    page.wait_for_function("document.getElementById('message').textContent.includes('not valid YAML')")
    notes = {int(n.get_attribute("data-line")): n.inner_text() for n in page.locator("#notes .has-error").all()}
    assert sorted(notes) == [4, 5]  # the unclosed `[` of line 4, found wanting on line 5
    assert "flow sequence, from here, fails on line 5" in notes[4] and "expected ',' or ']'" in notes[5]


def test_a_running_trials_page_follows_its_log(context: Any, server: Server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    server.create(gated_experiment("ui-follow", gate, trials=1, parallel=1))
    page = experiment_page(context, server, "ui-follow")
    link = page.locator("#trials tbody a").first
    link.wait_for(timeout=WAIT_MS)
    trial = link.inner_text()
    link.click()
    page.wait_for_url(f"**/trials/{trial}", timeout=WAIT_MS)
    page.wait_for_function("document.getElementById('log').textContent.includes('training')", timeout=WAIT_MS)
    assert "following" in page.inner_text("#log-state") and page.get_attribute("body", "data-phase") == "Running"
    assert "accuracy=" not in page.inner_text("#log")
    page.evaluate("window.notReloaded = true")
    open_gate(gate)
    page.wait_for_function("document.getElementById('log').dataset.complete === 'true'", timeout=WAIT_MS)
    assert page.inner_text("#log").count("accuracy=") == 3
    page.wait_for_function("document.body.dataset.phase === 'Succeeded'", timeout=WAIT_MS)
    page.wait_for_function(f"({PLOT_POINTS})().curve[0]?.[1] === 3", timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, tmp_path / "trial.png")


def test_pbt_lineage(context: Any, server: Server, tmp_path: Path) -> None:
    """PBT's generations and parents (Katib's labels) on the lineage plot: a point per finished trial, a line
    from each child's parent; other experiments' pages do not show it."""
    doc = yaml.safe_load((PROJECT / "examples" / "pbt.yaml").read_text())
    doc["metadata"]["name"] = "ui-pbt"
    doc["spec"]["maxTrialCount"] = 10  # two generations of 5
    server.create(doc)
    server.wait_for("ui-pbt", timeout=300)
    page = experiment_page(context, server, "ui-pbt")
    page.wait_for_function(f"({PLOT_POINTS})().lineage === 10", timeout=WAIT_MS)
    assert page.locator("#card-lineage").is_visible()
    children = [t for t in server.trials("ui-pbt") if PARENT_LABEL in t["metadata"].get("labels", {})]
    assert len(children) == 5 and page.evaluate(PLOT_POINTS)["lineageLinks"] == 5
    page.locator("#card-lineage").screenshot(path=str(tmp_path / "lineage.png"))
    screenshot(page, tmp_path / "pbt.png")
    # A click on a point of the optimisation history opens that trial's page.
    x, y, first = page.evaluate("""(() => {
      const chart = echarts.getInstanceByDom(document.getElementById('plot-history'));
      const [x, y] = chart.convertToPixel({seriesIndex: 0}, chart.getOption().series[0].data[0]);
      const trials = window.pykatib.trials;
      return [x, y, trials.cols.name[trials.finished()[0]]];
    })()""")
    page.locator("#plot-history").scroll_into_view_if_needed()
    box = page.locator("#plot-history").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url(f"**/ui/experiments/default/ui-pbt/trials/{first}", timeout=WAIT_MS)
    gate = tmp_path / "gate"
    server.create(gated_experiment("ui-no-lineage", gate, trials=1, parallel=1))
    open_gate(gate)
    server.wait_for("ui-no-lineage")
    other = experiment_page(context, server, "ui-no-lineage")
    other.wait_for_function(f"({PLOT_POINTS})().history === 1", timeout=WAIT_MS)
    assert not other.locator("#card-lineage").is_visible()


def test_tooltips_show_user_text_as_text(context: Any, server: Server, tmp_path: Path) -> None:
    """A categorical value with markup in it is shown as text in a plot's tooltip, never as HTML."""
    gate = tmp_path / "gate"
    doc = gated_experiment("ui-markup", gate, trials=1, parallel=1)
    marked = "<img src=x onerror=window.injected=1><i>adam</i>"
    doc["spec"]["parameters"][1]["feasibleSpace"]["list"] = [marked]
    server.create(doc)
    open_gate(gate)
    server.wait_for("ui-markup")
    page = experiment_page(context, server, "ui-markup")
    page.wait_for_function(f"({PLOT_POINTS})().slice.length === 2", timeout=WAIT_MS)
    page.locator("#plot-slice").scroll_into_view_if_needed()
    page.evaluate("""echarts.getInstanceByDom(document.getElementById('plot-slice'))
      .dispatchAction({type: 'showTip', seriesIndex: 1, dataIndex: 0})""")
    tooltip = page.locator("#plot-slice div", has_text="opt = ").last
    tooltip.wait_for(timeout=WAIT_MS)
    assert marked in tooltip.inner_text()  # the text, as typed
    assert tooltip.locator("i, img").count() == 0 and page.evaluate("window.injected") is None
    screenshot(page, tmp_path / "markup.png")


def test_times_are_drawn_once_in_local_time_and_plots_save_as_png(browser: Any, server: Server, tmp_path: Path) -> None:
    """In a browser far from UTC the timeline holds each trial's real start (ECharts shows it in local time:
    shifted once, not twice); a plot's Save PNG button downloads its picture."""
    gate = tmp_path / "gate"
    server.create(gated_experiment("ui-kolkata", gate, trials=1, parallel=1))
    open_gate(gate)
    server.wait_for("ui-kolkata")
    (trial,) = server.trials("ui-kolkata")
    started = datetime.fromisoformat(trial["status"]["startTime"].replace("Z", "+00:00"))
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="Asia/Kolkata",
                                  accept_downloads=True)  # fmt: skip
    try:
        page = experiment_page(context, server, "ui-kolkata")
        page.wait_for_function(f"({PLOT_POINTS})().timeline === 1", timeout=WAIT_MS)
        assert page.evaluate("new Date().getTimezoneOffset()") == -330
        drawn = page.evaluate(
            "echarts.getInstanceByDom(document.getElementById('plot-timeline')).getOption().series[0].data[0][0]"
        )
        assert abs(drawn / 1000 - started.timestamp()) < 1  # startTime is in whole seconds
        with page.expect_download() as download:
            page.locator("#card-timeline [data-plot-action='save']").click()
        assert download.value.suggested_filename == "plot-timeline.png"
        assert download.value.path().read_bytes().startswith(b"\x89PNG")
    finally:
        context.close()


def test_the_page_recovers_when_its_first_request_fails(context: Any, server: Server, tmp_path: Path) -> None:
    """The first answer lost (the server restarting, say): the page says so, then asks again and shows it."""
    gate = tmp_path / "gate"
    server.create(gated_experiment("ui-retry", gate, trials=1, parallel=1))
    open_gate(gate)
    server.wait_for("ui-retry")
    page = context.new_page()
    page.route("**/ui/api/experiments/default/ui-retry?since=0", lambda route: route.abort())
    page.goto(f"{server.local_url}/ui/experiments/default/ui-retry")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('Cannot reach the server')",
                           timeout=WAIT_MS)  # fmt: skip
    page.unroute("**/ui/api/experiments/default/ui-retry?since=0")
    page.wait_for_function("document.body.dataset.status === 'Succeeded'", timeout=WAIT_MS)
    page.wait_for_function(f"({PLOT_POINTS})().history === 1", timeout=WAIT_MS)
    screenshot(page, tmp_path / "recovered.png")


def test_hyperband_lineage(context: Any, server: Server, tmp_path: Path) -> None:
    """Hyperband's rungs (pykatib's labels): a point per finished trial; the trial promoted to the next rung is
    drawn from its parent."""
    doc = yaml.safe_load((PROJECT / "examples" / "hyperband.yaml").read_text())
    doc["metadata"]["name"] = "ui-hyperband"
    doc["spec"]["algorithm"]["algorithmSettings"][2]["value"] = "2"  # r_l 2: 5 trials (tests/e2e_support.py)
    server.create(doc)
    server.wait_for("ui-hyperband", condition="Succeeded", timeout=600)
    trials = server.trials("ui-hyperband")
    finished = [t for t in trials if t["status"].get("observation")]
    promoted = [t for t in trials if HYPERBAND_PARENT in t["metadata"].get("labels", {})]
    assert promoted  # the better of the first rung goes on
    page = experiment_page(context, server, "ui-hyperband")
    page.wait_for_function(f"({PLOT_POINTS})().lineage === {len(finished)}", timeout=WAIT_MS)
    assert page.evaluate(PLOT_POINTS)["lineageLinks"] == len(promoted)
    axis = page.evaluate("echarts.getInstanceByDom(document.getElementById('plot-lineage')).getOption().xAxis[0].name")
    assert axis.startswith("Rung")  # hyperband's stages; PBT's are generations
    page.locator("#card-lineage").screenshot(path=str(tmp_path / "lineage.png"))
