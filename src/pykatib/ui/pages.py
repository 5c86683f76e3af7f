"""The UI's pages: a server-rendered HTML shell each (header, headings, the containers its script fills in),
with its one JavaScript module; everything comes from this package (``static/``), no CDN, no build step."""

from __future__ import annotations

import html
import json
from urllib.parse import quote

from pykatib.ui.auth import PREFIX

STATIC = f"{PREFIX}/static"


def shell(
    title: str, script: str, body: str, *, charts: str | None = None, data: dict[str, str] | None = None, head: str = ""
) -> str:
    """A page: ``body`` inside <main>, ``script`` (a module under static/), ECharts preloaded when ``charts``
    (its URL, ``data-charts``) is given; ``data`` becomes data-* attributes of <body>, which the script reads;
    ``head`` ends the <head>."""
    data = {**(data or {}), **({"charts": charts} if charts else {})}
    attributes = "".join(f' data-{key}="{html.escape(value)}"' for key, value in data.items())
    # Only fetched early here: the page's script runs it once its own data request is under way (both at once).
    charts_tag = f'<link rel="preload" as="script" href="{html.escape(charts)}">' if charts else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><link rel="icon" href="data:,">
<title>{html.escape(title)} · pykatib</title>
<link rel="stylesheet" href="{STATIC}/ui.css">{charts_tag}
<script type="module" src="{STATIC}/{script}"></script>{head}</head>
<body{attributes}><a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="{PREFIX}/">pykatib</a><nav aria-label="Main">
<a href="{PREFIX}/">Experiments</a><a href="{PREFIX}/new">New experiment</a></nav></header>
<main id="main">{body}</main></body></html>
"""


def experiments_page() -> str:
    body = """
<div class="bar"><h1>Experiments</h1>
<label>Namespace <select id="namespace"><option value="">all</option></select></label>
<a class="button" href="new">New experiment</a></div>
<p id="message" role="status" aria-live="polite"></p>
<table id="experiments" class="grid"><thead><tr>
<th scope="col">Status</th><th scope="col">Name</th><th scope="col">Namespace</th><th scope="col">Created</th>
<th scope="col" title="succeeded / running / failed">Trials ✓ / ▶ / ✗</th><th scope="col">Optimal objective</th>
<th scope="col">Algorithm</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody></tbody></table>
<dialog id="confirm" aria-labelledby="confirm-title"><form method="dialog">
<h2 id="confirm-title">Delete experiment?</h2><p id="confirm-text"></p>
<div class="actions"><button value="cancel" autofocus>Cancel</button>
<button value="delete" class="danger" id="confirm-delete">Delete</button></div></form></dialog>
"""
    return shell("Experiments", "experiments.js", body)


PLOTS = (
    ("history", "Optimisation history"),
    ("parallel", "Parallel coordinates"),
    ("slice", "Slice"),
    ("contour", "Contour"),
    ("importance", "Parameter importance"),
    ("intermediate", "Intermediate values"),
    ("timeline", "Timeline"),
    ("edf", "Empirical distribution of the objective"),
    ("lineage", "Lineage"),  # hyperband's rungs, PBT's generations: shown when the trials carry their labels
)


PLOT_ACTIONS = (
    '<div class="plot-actions"><button type="button" data-plot-action="zoom">Reset zoom</button>'
    '<button type="button" data-plot-action="save">Save PNG</button></div>'
)  # the canvas's own tool icons take no keyboard focus: the same as buttons (common.js wirePlotActions)


def experiment_page(namespace: str, name: str, charts: str) -> str:
    plots = "".join(
        f'<section class="plot-card" id="card-{key}" aria-labelledby="h-{key}"{" hidden" if key == "lineage" else ""}>'
        f'<h3 id="h-{key}">{title}</h3>{PLOT_ACTIONS}'
        f'<div class="plot-controls" id="controls-{key}"></div>'
        f'<div class="plot" id="plot-{key}" role="img" aria-label="{title}"></div>'
        f'<p class="plot-note" id="note-{key}"></p></section>'
        for key, title in PLOTS
    )
    body = f"""
<nav class="crumbs" aria-label="Breadcrumb"><a href="{PREFIX}/">Experiments</a> / {html.escape(namespace)} /</nav>
<div class="bar"><h1 id="title">{html.escape(name)}</h1><span id="status" class="badge"></span>
<button id="stop" type="button">Stop</button><button id="delete" type="button" class="danger">Delete</button></div>
<p id="message" role="status" aria-live="polite"></p>
<section id="overview" class="cards" aria-label="Overview"></section>
<h2>Plots</h2><div id="plots" class="plots">{plots}</div>
<h2 id="trials-heading">Trials</h2>
<div class="bar" id="table-controls"></div>
<div class="table-wrap"><table id="trials" class="grid" aria-labelledby="trials-heading"></table></div>
<div class="bar" id="pager"></div>
<details id="budget-box"><summary>Edit budget</summary><form id="budget" class="budget">
<label>Max trial count <input type="number" min="1" name="maxTrialCount"></label>
<label>Parallel trial count <input type="number" min="1" name="parallelTrialCount"></label>
<label>Max failed trial count <input type="number" min="0" name="maxFailedTrialCount"></label>
<button type="submit">Save budget</button><p id="budget-message" role="status" aria-live="polite"></p></form>
</details>
<details id="yaml-box"><summary>Experiment YAML</summary><pre id="yaml" tabindex="0"></pre></details>
<dialog id="confirm" aria-labelledby="confirm-title"><form method="dialog">
<h2 id="confirm-title">Delete experiment?</h2><p id="confirm-text"></p>
<div class="actions"><button value="cancel" autofocus>Cancel</button>
<button value="delete" class="danger" id="confirm-delete">Delete</button></div></form></dialog>
"""
    # The page's two first requests start while its HTML is parsed, not after its modules are fetched (the
    # names are percent-encoded: nothing in them can end the script).
    base = f"{PREFIX}/api/experiments/{quote(namespace, safe='')}/{quote(name, safe='')}"
    ask = "{headers: {Accept: 'application/json'}, cache: 'no-store'}"
    early = (
        f"<script>window.pykatibEarly = {{data: fetch({json.dumps(base + '?since=0')}, {ask}), "
        f"importance: fetch({json.dumps(base + '/importance')}, {ask})}};</script>"
    )
    data = {"namespace": namespace, "name": name}
    return shell(name, "experiment.js", body, charts=charts, data=data, head=early)


def trial_page(namespace: str, experiment: str, trial: str, charts: str) -> str:
    back = f"{PREFIX}/experiments/{html.escape(namespace)}/{html.escape(experiment)}"
    body = f"""
<nav class="crumbs" aria-label="Breadcrumb"><a href="{PREFIX}/">Experiments</a> / {html.escape(namespace)} /
<a href="{back}">{html.escape(experiment)}</a> /</nav>
<div class="bar"><h1>{html.escape(trial)}</h1><span id="status" class="badge"></span></div>
<p id="message" role="status" aria-live="polite"></p>
<section id="overview" class="cards" aria-label="Overview"></section>
<section class="plot-card" aria-labelledby="h-curve"><h2 id="h-curve">Metrics over time</h2>{PLOT_ACTIONS}
<div class="plot-controls" id="controls-curve"></div>
<div class="plot" id="plot-curve" role="img" aria-label="Metrics over time"></div></section>
<h2 id="log-heading">Log <span id="log-state" class="muted"></span></h2>
<pre id="log" class="log" tabindex="0" aria-labelledby="log-heading" aria-live="off"></pre>
<details id="spec-box"><summary>Trial spec (rendered) as YAML</summary><pre id="spec" tabindex="0"></pre></details>
"""
    data = {"namespace": namespace, "experiment": experiment, "trial": trial}
    return shell(trial, "trial.js", body, charts=charts, data=data)


def new_page() -> str:
    body = """
<h1>New experiment</h1>
<div class="bar"><label>Start from <select id="example"></select></label>
<button id="validate" type="button">Validate</button><button id="create" type="button" class="primary">Create</button>
</div>
<p id="message" role="status" aria-live="polite"></p>
<div class="editor" id="editor"><div class="gutter" id="gutter" aria-hidden="true"></div>
<label for="yaml-text" class="sr-only">Experiment YAML</label>
<textarea id="yaml-text" spellcheck="false" autocomplete="off" wrap="off"></textarea>
<div class="notes" id="notes" aria-live="polite"></div></div>
<ul id="errors" class="errors" aria-label="Validation errors"></ul>
"""
    return shell("New experiment", "new.js", body)
