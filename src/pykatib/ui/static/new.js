// The new-experiment page: a YAML editor prefilled from the shipped examples. Validate asks the server to
// create it with ?dryRun=All (every check, nothing stored); each error is shown beside the line of the field
// it names (found from the YAML's node marks, /ui/api/marks). Create does the same for real and opens it.
import {GROUP, PREFIX, el, getJSON, kube, setMessage} from './common.js';

const text = document.getElementById('yaml-text');
const gutter = document.getElementById('gutter');
const notes = document.getElementById('notes');
const errorsList = document.getElementById('errors');
const examples = document.getElementById('example');
let errors = new Map(); // line -> messages

function lines() {
  return text.value.split('\n').length;
}

function paint() {
  const count = lines();
  gutter.replaceChildren(...Array.from({length: count}, (_, i) => el('div', {class: errors.has(i + 1) ? 'has-error' : ''}, String(i + 1))));
  notes.replaceChildren(...Array.from({length: count}, (_, i) => {
    const found = errors.get(i + 1);
    return found ? el('div', {class: 'has-error', 'data-line': i + 1, title: found.join('\n')}, `⚠ ${found.join('; ')}`) : el('div');
  }));
  errorsList.replaceChildren(...[...errors.entries()].sort((a, b) => a[0] - b[0]).flatMap(([line, messages]) => messages.map((message) =>
    el('li', {}, el('button', {type: 'button', class: 'link', onclick: () => goTo(line)}, `line ${line}`), `: ${message}`))));
  sync();
}

function sync() {
  gutter.scrollTop = text.scrollTop;
  notes.scrollTop = text.scrollTop;
}

function goTo(line) {
  const offsets = text.value.split('\n').slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
  text.focus();
  text.setSelectionRange(offsets, offsets);
  text.scrollTop = Math.max(0, (line - 5) * 20);
  sync();
}

/** The line of `field` (a Kubernetes field path), or of the nearest field above it that is written. */
function lineOf(field, marks) {
  let path = field || '';
  while (path) {
    if (marks[path]) return marks[path];
    const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
    if (cut <= 0) break;
    path = path.slice(0, cut);
  }
  return marks[path] || 1;
}

function show(found) {
  errors = new Map();
  for (const [line, message] of found) errors.set(line, [...(errors.get(line) || []), message]);
  paint();
}

async function submit(dryRun) {
  setMessage(dryRun ? 'Validating…' : 'Creating…');
  const response = await fetch(`${PREFIX}/api/marks`, {method: 'POST', body: text.value, headers: {'Content-Type': 'application/yaml'}});
  const marks = await response.json();
  if (marks.error) {
    const {line, message, context, contextLine} = marks.error;
    const found = [[line, `YAML: ${message}`]];
    if (contextLine && contextLine !== line) found.push([contextLine, `YAML: ${context}, from here, fails on line ${line}`]);
    show(found);
    setMessage('The text is not valid YAML.', true);
    return;
  }
  if (marks.documents !== 1 || marks.kind !== 'Experiment') {
    show([]);
    setMessage('The text must hold one Experiment (kind: Experiment).', true);
    return;
  }
  const version = (marks.apiVersion || '').endsWith('/v1alpha3') ? 'v1alpha3' : 'v1beta1';
  const namespace = marks.namespace || 'default';
  const path = `/apis/${GROUP}/${version}/namespaces/${encodeURIComponent(namespace)}/experiments${dryRun ? '?dryRun=All' : ''}`;
  const answer = await kube(path, {method: 'POST', body: text.value, contentType: 'application/yaml'});
  if (answer.ok) {
    show([]);
    const created = answer.body.metadata;
    if (dryRun) {
      setMessage(`Valid: this would create experiment ${created.namespace}/${created.name}.`);
      document.body.dataset.valid = 'true';
      return;
    }
    window.location.assign(`${PREFIX}/experiments/${encodeURIComponent(created.namespace)}/${encodeURIComponent(created.name)}`);
    return;
  }
  const causes = answer.body?.details?.causes || [];
  if (answer.status === 422 && causes.length) {
    show(causes.map((cause) => [lineOf(cause.field, marks.marks), cause.field ? `${cause.field}: ${cause.message}` : cause.message]));
    setMessage(`${causes.length} error${causes.length > 1 ? 's' : ''}: nothing was created.`, true);
  } else {
    show(answer.status === 409 ? [[lineOf('metadata.name', marks.marks), answer.message]] : []);
    setMessage(answer.message, true);
  }
}

async function load(name) {
  const response = await fetch(`${PREFIX}/api/examples/${name.split('/').map(encodeURIComponent).join('/')}`);
  text.value = response.ok ? await response.text() : '';
  show([]);
  setMessage('');
}

async function start() {
  const {items} = await getJSON(`${PREFIX}/api/examples`);
  examples.replaceChildren(...items.map((name) => el('option', {value: name}, name)));
  await load(items[0]);
  document.body.dataset.rendered = 'true';
}

text.addEventListener('scroll', sync);
text.addEventListener('input', () => { if (errors.size) { errors = new Map(); } paint(); delete document.body.dataset.valid; });
text.addEventListener('keydown', (event) => {
  if (event.key === 'Tab' && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey && event.target.selectionStart === event.target.selectionEnd) {
    // two spaces; Escape, then Tab, leaves the editor (keyboard users are not trapped)
    if (text.dataset.escaped) { delete text.dataset.escaped; return; }
    event.preventDefault();
    text.setRangeText('  ', text.selectionStart, text.selectionEnd, 'end');
    paint();
  } else if (event.key === 'Escape') {
    text.dataset.escaped = 'true';
  }
});
examples.addEventListener('change', () => load(examples.value));
document.getElementById('validate').addEventListener('click', () => submit(true));
document.getElementById('create').addEventListener('click', () => submit(false));
start();
