// The experiment page: overview, plots and trials table, kept up to date without reloading (every 2 s it asks
// for what changed since its last answer); stop, delete, edit the budget, the Experiment as YAML.
import {
  PREFIX, POLL_MS, answerOf, badge, confirmDelete, deleteExperiment, el, every, experimentPath, fmt, getJSON, kube, loadCharts,
  setMessage, stopExperiment, toYAML, warmUp, wirePlotActions,
} from './common.js';
import {Trials} from './model.js';
import {Plots} from './plots.js';
import {TrialsTable} from './table.js';

const namespace = document.body.dataset.namespace;
const name = document.body.dataset.name;
const base = `${PREFIX}/api/experiments/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
const trials = new Trials();
// A status metric value: a number, or text as Katib keeps it ("unavailable", a DARTS genotype).
const metricValue = (v) => (v !== '' && Number.isFinite(Number(v)) ? Number(v) : v);
let experiment = {spec: {}, statusBlock: {}};
let since = 0;
let first = true; // the first answer's drawing is marked (performance marks) for benchmarks
let importanceCount = -1;
let importanceBusy = false;
const plots = new Plots(trials, () => experiment);
const table = new TrialsTable(trials, () => experiment);
window.pykatib = {trials, plots, table};

function dl(pairs) {
  return el('dl', {}, ...pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function card(title, ...children) {
  return el('section', {class: title === 'Status' ? 'card wide' : 'card'}, el('h3', {}, title), ...children);
}

function metricTable(metrics) {
  if (!metrics || !metrics.length) return el('p', {class: 'muted'}, 'No metrics reported.');
  return el('table', {class: 'grid'}, el('thead', {}, el('tr', {}, ...['Metric', 'Min', 'Max', 'Latest'].map((h) => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, ...metrics.map((m) => el('tr', {}, el('td', {}, m.name), ...['min', 'max', 'latest'].map((k) => el('td', {class: 'num'}, fmt(metricValue(m[k]))))))));
}

function overview() {
  const spec = experiment.spec || {};
  const status = experiment.statusBlock || {};
  const objective = spec.objective || {};
  const algorithm = spec.algorithm || {};
  const conditions = status.conditions || [];
  badge(experiment.status, document.getElementById('status'));
  document.getElementById('stop').disabled = experiment.ended || experiment.stopRequested;
  const conditionRows = conditions.map((c) => el('tr', {'data-condition': c.type}, el('td', {}, c.type), el('td', {}, c.status),
    el('td', {}, c.reason || ''), el('td', {}, c.message || ''), el('td', {}, c.lastTransitionTime || '')));
  const best = status.currentOptimalTrial || {};
  const bestLink = best.bestTrialName ? el('a', {href: `${PREFIX}/experiments/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/trials/${encodeURIComponent(best.bestTrialName)}`}, best.bestTrialName) : null;
  const settings = (algorithm.algorithmSettings || []).map((s) => `${s.name}=${s.value}`).join(', ');
  document.getElementById('overview').replaceChildren(
    card('Status', el('table', {class: 'grid', id: 'conditions'}, el('thead', {}, el('tr', {}, ...['Condition', 'Status', 'Reason', 'Message', 'Since'].map((h) => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, ...conditionRows)), dl([['Started', status.startTime], ['Completed', status.completionTime]])),
    card('Objective', dl([
      ['Type', objective.type], ['Metric', objective.objectiveMetricName], ['Goal', objective.goal],
      ['Additional metrics', (objective.additionalMetricNames || []).join(', ')],
      ['Algorithm', algorithm.algorithmName], ['Settings', settings],
      ['Early stopping', spec.earlyStopping?.algorithmName],
    ])),
    card('Trials', dl([
      ['Trials', status.trials || 0], ['Succeeded', status.trialsSucceeded || 0], ['Running', status.trialsRunning || 0],
      ['Pending', status.trialsPending || 0], ['Failed', status.trialsFailed || 0], ['Killed', status.trialsKilled || 0],
      ['Early stopped', status.trialsEarlyStopped || 0], ['Metrics unavailable', status.trialMetricsUnavailable || 0],
      ['Budget', `${spec.maxTrialCount ?? 'unlimited'} trials, ${spec.parallelTrialCount ?? 1} at a time` +
        (spec.maxFailedTrialCount === undefined ? '' : `, at most ${spec.maxFailedTrialCount} failed`)],
    ])),
    card('Best trial', bestLink ? el('p', {id: 'best-trial'}, bestLink) : el('p', {class: 'muted'}, 'None yet.'),
      bestLink ? dl((best.parameterAssignments || []).map((p) => [p.name, p.value])) : null,
      bestLink ? metricTable(best.observation?.metrics) : null),
  );
  const form = document.getElementById('budget');
  if (!form.contains(document.activeElement) && !form.dataset.dirty) {
    for (const key of ['maxTrialCount', 'parallelTrialCount', 'maxFailedTrialCount']) form.elements[key].value = spec[key] ?? '';
  }
}

// Asked for at once, beside the first data request (its answer does not need the trials).
// Both first requests were started by the page's HTML (pages.py), before this module was fetched.
const early = window.pykatibEarly || {};
let prefetched = (early.importance ? answerOf(early.importance) : getJSON(`${base}/importance`)).catch(() => null);

async function importance() {
  const succeeded = (experiment.statusBlock || {}).trialsSucceeded || 0;
  if (importanceBusy || succeeded === importanceCount) return;
  importanceBusy = true;
  try {
    const answer = (prefetched && await prefetched) || await getJSON(`${base}/importance`);
    prefetched = null;
    // As many as the answer counted (an answer computed before the status moved is asked for again).
    importanceCount = Math.min(succeeded, answer.trials);
    await loadCharts();
    await plots.setImportance(answer);
  } catch (error) {
    console.error(error);
  } finally {
    importanceBusy = false;
  }
}

async function poll() {
  let answer;
  try {
    const request = since === 0 ? early.data : null; // the HTML's request, used once, failed or not
    early.data = null;
    answer = await (request ? answerOf(request) : getJSON(`${base}?since=${since}`));
  } catch (error) {
    if (error.status === 404) {
      setMessage(`Experiment ${namespace}/${name} does not exist (any more).`, true);
      document.body.dataset.gone = 'true';
      return false;
    }
    setMessage(`Cannot reach the server: ${error.message}`, true);
    return true;
  }
  const mark = (what) => { if (first) performance.mark(`pykatib:${what}`); }; // for bench/ui_load.py, once
  mark('data');
  const before = experiment.resourceVersion;
  experiment = answer.experiment;
  since = answer.since;
  const changed = trials.merge(answer);
  mark('merged');
  if (before !== experiment.resourceVersion) overview();
  if (changed || before !== experiment.resourceVersion) {
    table.render();
    mark('table');
    const weights = importance();
    try {
      await loadCharts();
    } catch (error) {
      setMessage(error.message, true);
      return true;
    }
    await Promise.all([plots.draw(), weights]);
    mark('plots');
    first = false;
  }
  document.body.dataset.rendered = String(trials.version);
  document.body.dataset.status = experiment.status;
  return true;
}

document.getElementById('stop').addEventListener('click', async () => {
  const answer = await stopExperiment(namespace, name);
  setMessage(answer.ok ? 'Stopping: running trials are killed, results kept.' : `Stop failed: ${answer.message}`, !answer.ok);
});

document.getElementById('delete').addEventListener('click', async () => {
  if (!await confirmDelete(`Delete ${namespace}/${name}? Its running trials are stopped, and its trials, metrics and files are removed.`)) return;
  const answer = await deleteExperiment(namespace, name);
  if (answer.ok) window.location.assign(`${PREFIX}/`);
  else setMessage(`Delete failed: ${answer.message}`, true);
});

const budget = document.getElementById('budget');
budget.addEventListener('input', () => { budget.dataset.dirty = 'true'; });
budget.addEventListener('submit', async (event) => {
  event.preventDefault();
  const spec = {};
  for (const key of ['maxTrialCount', 'parallelTrialCount', 'maxFailedTrialCount']) {
    const value = budget.elements[key].value;
    if (value !== '' && Number(value) !== experiment.spec[key]) spec[key] = Number(value);
  }
  const message = document.getElementById('budget-message');
  if (!Object.keys(spec).length) { message.textContent = 'Nothing changed.'; return; }
  const answer = await kube(experimentPath(namespace, name), {method: 'PATCH', body: {spec}, contentType: 'application/merge-patch+json'});
  message.textContent = answer.ok ? `Saved: ${Object.entries(spec).map(([k, v]) => `${k}=${v}`).join(', ')}.` : answer.message;
  message.classList.toggle('error', !answer.ok);
  if (answer.ok) delete budget.dataset.dirty;
});

document.getElementById('yaml-box').addEventListener('toggle', async (event) => {
  if (!event.target.open) return;
  const answer = await kube(experimentPath(namespace, name));
  if (!answer.ok) { document.getElementById('yaml').textContent = answer.message; return; }
  const shown = answer.body;
  for (const key of Object.keys(shown.status || {})) {
    // Katib lists every trial's name in its status: shown as counts, not 10,000 lines
    if (key.endsWith('TrialList')) shown.status[key] = `${shown.status[key].length} trials`;
  }
  document.getElementById('yaml').textContent = toYAML(shown);
});

wirePlotActions();
// The charts follow the system's light or dark colours: drawn again when they change.
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { plots.drawn = -1; plots.draw(); });
// Parsed, and warmed up, while the first answer is computed (no more of that once the answer is in).
let answered = false;
early.data?.then(() => { answered = true; }, () => { answered = true; });
loadCharts().then(() => warmUp(() => answered)).catch(() => {});
every(POLL_MS, poll);
