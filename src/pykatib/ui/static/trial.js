// A trial's page: assignments, conditions, each metric's min / max / latest and its curve (over time or
// report), the primary replica's log (followed while the trial runs) and the rendered trial spec as YAML.
import {
  GROUP, PREFIX, POLL_MS, axis, badge, baseOption, draw, el, every, fmt, fmtDuration, fmtTime, getJSON, kube, loadCharts,
  setMessage, toYAML, wirePlotActions,
} from './common.js';

const {namespace, experiment, trial} = document.body.dataset;
const dataPath = `${PREFIX}/api/experiments/${encodeURIComponent(namespace)}/${encodeURIComponent(experiment)}/trials/${encodeURIComponent(trial)}`;
const trialPath = `/apis/${GROUP}/v1beta1/namespaces/${encodeURIComponent(namespace)}/trials/${encodeURIComponent(trial)}`;
const MAX_LOG_CHARS = 2_000_000;
// The server reads no more of a log than its last lines (a trial's log may be gigabytes).
const LOG_TAIL_LINES = 20000;
let xKind = 'time'; // the curve's x axis: 'time' or 'step' (report)
let last = null;
let following = false;

function dl(pairs) {
  return el('dl', {}, ...pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function card(title, ...children) {
  return el('section', {class: 'card'}, el('h3', {}, title), ...children);
}

function summary(values) {
  return {min: Math.min(...values), max: Math.max(...values), latest: values[values.length - 1], count: values.length};
}

function render(data, object) {
  badge(data.phase, document.getElementById('status'));
  const conditions = object?.status?.conditions || [];
  const metrics = Object.entries(data.observations);
  document.getElementById('overview').replaceChildren(
    card('Assignments', dl(Object.entries(data.assignments))),
    card('Status', el('table', {class: 'grid', id: 'conditions'},
      el('thead', {}, el('tr', {}, ...['Condition', 'Status', 'Reason', 'Message', 'Since'].map((h) => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, ...conditions.map((c) => el('tr', {}, el('td', {}, c.type), el('td', {}, c.status), el('td', {}, c.reason || ''),
        el('td', {}, c.message || ''), el('td', {}, c.lastTransitionTime || ''))))),
    dl([['Created', fmtTime(data.created)], ['Started', fmtTime(data.start)], ['Completed', fmtTime(data.end)],
      ['Duration', data.start ? fmtDuration((data.end ?? Date.now()) - data.start) : ''], ['Exit code', data.exitCode],
      ['Objective value', fmt(data.objective)]])),
    card('Metrics', metrics.length ? el('table', {class: 'grid', id: 'metrics'},
      el('thead', {}, el('tr', {}, ...['Metric', 'Min', 'Max', 'Latest', 'Reports'].map((h) => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, ...metrics.map(([name, series]) => {
        const s = summary(series.value);
        return el('tr', {'data-metric': name}, el('td', {}, name), el('td', {class: 'num'}, fmt(s.min)), el('td', {class: 'num'}, fmt(s.max)),
          el('td', {class: 'num'}, fmt(s.latest)), el('td', {class: 'num'}, s.count));
      }))) : el('p', {class: 'muted'}, 'No metrics reported yet.')),
    Object.keys(data.labels).length ? card('Labels', dl(Object.entries(data.labels))) : '',
  );
  return curve(data);
}

let drawnAxis = null;
let version = 0;

async function curve(data) {
  try {
    await loadCharts();
  } catch (error) {
    setMessage(error.message, true);
    return;
  }
  const time = xKind === 'time';
  const series = Object.entries(data.observations).map(([name, reports]) => ({
    type: 'line', name, showSymbol: reports.value.length <= 500, symbolSize: 5,
    data: reports.value.map((v, i) => [time ? reports.time[i] : i + 1, v]), // ECharts shows local time
  }));
  // The axes are set again only when the x axis changes (a zoom stays while reports arrive).
  const replace = drawnAxis === xKind ? [] : ['xAxis', 'yAxis'];
  drawnAxis = xKind;
  version += 1;
  return draw(document.getElementById('plot-curve'), baseOption({
    tooltip: {trigger: 'axis'},
    xAxis: time ? axis({name: 'Time', type: 'time'}) : axis({name: 'Report', minInterval: 1}),
    yAxis: axis({}), series,
  }), {version, replace});
}

function controls() {
  const select = el('select', {id: 'curve-axis', onchange: (event) => { xKind = event.target.value; if (last) curve(last); }},
    el('option', {value: 'time'}, 'time'), el('option', {value: 'step'}, 'report'));
  document.getElementById('controls-curve').replaceChildren(el('label', {}, 'x axis ', select));
}

async function primaryPod() {
  const selector = encodeURIComponent(`katib.kubeflow.org/trial=${trial}`);
  const answer = await kube(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${selector}`);
  if (!answer.ok) return null;
  const pods = answer.body.items || [];
  const primary = pods.find((p) => (p.metadata.labels || {})['pykatib.kubeflow.org/primary'] === 'true') || pods[0];
  return primary ? primary.metadata.name : null;
}

function append(text) {
  const node = document.getElementById('log');
  const atEnd = node.scrollTop + node.clientHeight >= node.scrollHeight - 8;
  let shown = node.textContent + text;
  if (shown.length > MAX_LOG_CHARS) shown = `…\n${shown.slice(-MAX_LOG_CHARS)}`;
  node.textContent = shown;
  if (atEnd) node.scrollTop = node.scrollHeight;
}

/** The primary pod's log from its last LOG_TAIL_LINES lines, streamed with follow=true while the trial runs. */
async function log(active) {
  const state = document.getElementById('log-state');
  const pod = await primaryPod();
  if (!pod) { state.textContent = '(no pod: the trial has no job to run)'; return; }
  state.textContent = active ? `(${pod}, following)` : `(${pod})`;
  following = active;
  const response = await fetch(`${PREFIX}/kube/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?tailLines=${LOG_TAIL_LINES}${active ? '&follow=true' : ''}`);
  if (!response.ok) { state.textContent = `(${pod}: ${response.status})`; following = false; return; }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  document.getElementById('log').textContent = '';
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    append(decoder.decode(value, {stream: true}));
  }
  append(decoder.decode());
  following = false;
  state.textContent = `(${pod}, ended)`;
  document.getElementById('log').dataset.complete = 'true';
}

async function refresh() {
  let data;
  try {
    data = await getJSON(dataPath);
  } catch (error) {
    setMessage(error.status === 404 ? `Trial ${trial} does not exist (any more).` : `Cannot reach the server: ${error.message}`, true);
    return error.status !== 404;
  }
  const object = await kube(trialPath);
  const first = last === null;
  last = data;
  await render(data, object.ok ? object.body : null);
  if (first) {
    log(data.active);
    if (object.ok && object.body.spec?.runSpec) document.getElementById('spec').textContent = toYAML(object.body.spec.runSpec);
  }
  document.body.dataset.rendered = String(Date.now());
  document.body.dataset.phase = data.phase;
  return data.active || following;
}

controls();
loadCharts().catch(() => {});
wirePlotActions();
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { if (last) curve(last); });
every(POLL_MS, refresh);
