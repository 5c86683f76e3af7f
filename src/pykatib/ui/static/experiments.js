// The experiments list: status, counts and optimal value from /ui/api/experiments every 2 s; a namespace
// filter; stop and delete (after a confirmation) through the server's API.
import {
  PREFIX, POLL_MS, badge, confirmDelete, deleteExperiment, el, every, fmt, fmtTime, getJSON, setMessage,
  stopExperiment,
} from './common.js';

const select = document.getElementById('namespace');
const body = document.querySelector('#experiments tbody');
let items = [];
let shownText = '';

function namespaces() {
  const seen = [...new Set(items.map((item) => item.namespace))].sort();
  const current = new Set([...select.options].map((option) => option.value));
  for (const namespace of seen) {
    if (!current.has(namespace)) select.append(el('option', {value: namespace}, namespace));
  }
}

async function stop(item) {
  const answer = await stopExperiment(item.namespace, item.name);
  setMessage(answer.ok ? `Stopping ${item.name}…` : `Stop failed: ${answer.message}`, !answer.ok);
  await refresh();
}

async function remove(item) {
  const sure = await confirmDelete(`Delete ${item.namespace}/${item.name}? Its running trials are stopped, and its trials, metrics and files are removed.`);
  if (!sure) return;
  const answer = await deleteExperiment(item.namespace, item.name);
  setMessage(answer.ok ? `Deleted ${item.namespace}/${item.name}.` : `Delete failed: ${answer.message}`, !answer.ok);
  await refresh();
}

function row(item) {
  const link = `${PREFIX}/experiments/${encodeURIComponent(item.namespace)}/${encodeURIComponent(item.name)}`;
  const optimal = item.optimal === null ? '' : `${fmt(item.optimal)} (${item.objectiveMetric})`;
  return el('tr', {'data-name': item.name, 'data-namespace': item.namespace},
    el('td', {}, badge(item.status), item.stopRequested && !item.ended ? el('span', {class: 'muted'}, ' stopping') : null),
    el('td', {}, el('a', {href: link}, item.name)),
    el('td', {}, item.namespace),
    el('td', {}, fmtTime(item.created)),
    el('td', {class: 'num', title: `${item.succeeded} succeeded, ${item.running} running, ${item.failed} failed of ${item.trials}`},
      `${item.succeeded} / ${item.running} / ${item.failed}`),
    typeof item.optimal === 'string' ? el('td', {class: 'text', title: optimal}, optimal) : el('td', {class: 'num'}, optimal),
    el('td', {}, item.algorithm || ''),
    el('td', {},
      el('button', {type: 'button', class: 'stop', disabled: item.ended || item.stopRequested, onclick: () => stop(item),
        'aria-label': `Stop ${item.name}`}, 'Stop'), ' ',
      el('button', {type: 'button', class: 'danger delete', onclick: () => remove(item), 'aria-label': `Delete ${item.name}`}, 'Delete')),
  );
}

function render() {
  const namespace = select.value;
  const shown = items.filter((item) => !namespace || item.namespace === namespace);
  body.replaceChildren(...shown.map(row));
  if (!shown.length) {
    body.append(el('tr', {}, el('td', {colspan: 8, class: 'muted'},
      items.length ? 'No experiment in this namespace.' : 'No experiments yet: create one with "New experiment".')));
  }
  document.body.dataset.rendered = String(Date.now());
}

async function refresh() {
  let text;
  try {
    const answer = await getJSON(`${PREFIX}/api/experiments`);
    text = JSON.stringify(answer.items);
    items = answer.items;
  } catch (error) {
    setMessage(`Cannot list experiments: ${error.message}`, true);
    return;
  }
  if (text === shownText) return; // unchanged: the rows (and the focus in them) stay
  shownText = text;
  namespaces();
  render();
}

select.addEventListener('change', render);
every(POLL_MS, refresh);
