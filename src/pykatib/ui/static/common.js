// What every page shares: requests to the UI's data and to the server's API, DOM and number helpers, the
// plots' theme, and a small YAML writer.

export const PREFIX = '/ui';
export const STOP_ANNOTATION = 'pykatib.kubeflow.org/stop';
export const GROUP = 'kubeflow.org';
export const POLL_MS = 2000;
// Above this many points a plot draws with WebGL (scattergl) instead of SVG.
export const GL_POINTS = 1000;
export const ACTIVE = new Set(['Created', 'Running']);
export const PHASE_COLORS = {
  Succeeded: '#2e9d4f', Running: '#3b82f6', Created: '#9aa5b1', Failed: '#dc2626',
  Killed: '#f59e0b', EarlyStopped: '#a855f7', MetricsUnavailable: '#8b5e3c',
};

/** A Kubernetes Status (or any error body) as one line. */
function problem(response, body) {
  if (body && typeof body === 'object' && body.message) return body.message;
  return `${response.status} ${response.statusText}`;
}

/** GET the UI's data (JSON); throws an Error whose `status` is the HTTP status. */
export async function getJSON(path) {
  const response = await fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store'});
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(problem(response, body));
    error.status = response.status;
    throw error;
  }
  return body;
}

/** A request to the server's own Kubernetes API (through /ui/kube, with the UI's cookie):
 *  `{ok, status, body}`, body parsed when it is JSON. */
export async function kube(path, {method = 'GET', body = undefined, contentType = 'application/json'} = {}) {
  const headers = {Accept: 'application/json'};
  if (method !== 'GET') headers['X-Pykatib-UI'] = '1';
  if (body !== undefined) headers['Content-Type'] = contentType;
  const init = {method, headers, cache: 'no-store'};
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${PREFIX}/kube${path}`, init);
  const text = await response.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* a log, or plain text */ }
  return {ok: response.ok, status: response.status, body: parsed, message: response.ok ? '' : problem(response, parsed)};
}

export function experimentPath(namespace, name) {
  return `/apis/${GROUP}/v1beta1/namespaces/${encodeURIComponent(namespace)}/experiments/${encodeURIComponent(name)}`;
}

/** Stop an experiment: pykatib's stop annotation, as `pykatib stop` sets it. */
export function stopExperiment(namespace, name) {
  const patch = {metadata: {annotations: {[STOP_ANNOTATION]: 'true'}}};
  return kube(experimentPath(namespace, name), {method: 'PATCH', body: patch, contentType: 'application/merge-patch+json'});
}

export function deleteExperiment(namespace, name) {
  return kube(experimentPath(namespace, name), {method: 'DELETE'});
}

/** Ask in the page's <dialog id="confirm">; resolves true when the user confirms. */
export function confirmDelete(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), {once: true});
    dialog.returnValue = '';
    dialog.showModal();
  });
}

/** An element: `el('a', {href: '/x', class: 'y'}, 'text', child)`; `on*` attributes become listeners. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setMessage(text, isError = false) {
  const node = document.getElementById('message');
  if (!node) return;
  node.textContent = text || '';
  node.classList.toggle('error', Boolean(isError));
}

export function fmt(value) {
  if (value === null || value === undefined || value === '') return '';
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e6 || magnitude < 1e-4)) return value.toExponential(4);
  return String(Number(value.toPrecision(6)));
}

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '';
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function badge(status, node = null) {
  const target = node || el('span');
  target.className = `badge ${status}`;
  target.textContent = status;
  return target;
}

/** Run `task` now and then every `ms` after it finished; `task` returns false to stop. Paused while the page
 *  is hidden. */
export function every(ms, task) {
  let timer = null;
  let stopped = false;
  async function tick() {
    timer = null;
    if (stopped) return;
    if (document.hidden) { timer = setTimeout(tick, ms); return; }
    let again = true;
    try { again = (await task()) !== false; } catch (error) { console.error(error); }
    if (again && !stopped) timer = setTimeout(tick, ms);
    else stopped = true;
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden && !stopped && timer === null) tick(); });
  tick();
  return () => { stopped = true; if (timer) clearTimeout(timer); };
}

/** A base64 string of little-endian float32 values. */
export function decodeF32(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
}

export function traceType(points) {
  return points > GL_POINTS ? 'scattergl' : 'scatter';
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** A Plotly layout in the page's colours (light or dark), merged with `extra`. */
export function layout(extra = {}) {
  const fg = cssVar('--fg');
  const grid = cssVar('--grid');
  const axis = {gridcolor: grid, zerolinecolor: grid, linecolor: grid, automargin: true};
  const base = {
    paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: 'rgba(0,0,0,0)', font: {color: fg, size: 12},
    margin: {l: 56, r: 16, t: 16, b: 48}, height: 340, showlegend: true,
    legend: {orientation: 'h', y: -0.2}, xaxis: {...axis}, yaxis: {...axis}, hovermode: 'closest',
  };
  for (const [key, value] of Object.entries(extra)) {
    if (/^[xy]axis\d*$/.test(key)) base[key] = {...axis, ...(base[key] || {}), ...value};
    else base[key] = value;
  }
  return base;
}

export const PLOT_CONFIG = {responsive: true, displaylogo: false};

let plotly = null;

/** Plotly.js (the page's data-plotly), run once: pages start it beside their first data request, so that
 *  its ~5 MB are parsed while the server answers. */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  plotly ||= new Promise((resolve, reject) => {
    const script = el('script', {src: document.body.dataset.plotly});
    script.addEventListener('load', () => resolve(window.Plotly));
    script.addEventListener('error', () => reject(new Error('Plotly.js did not load (is the plotly package installed?)')));
    document.head.append(script);
  });
  return plotly;
}

// --- YAML ------------------------------------------------------------------------------------------

const PLAIN = /^[A-Za-z_/.$][A-Za-z0-9_\-./$ ]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|y|n|~)$/i;

function yamlScalar(value) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = String(value);
  if (PLAIN.test(text) && !RESERVED.test(text) && !text.endsWith(' ') && !text.includes(': ') && !text.includes(' #')) {
    return text;
  }
  return JSON.stringify(text); // a double-quoted YAML scalar
}

function isEmpty(value) {
  return value === null || typeof value !== 'object' || Object.keys(value).length === 0;
}

function yamlLines(value, depth, out) {
  const pad = '  '.repeat(depth);
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isEmpty(item)) {
        out.push(`${pad}- ${Array.isArray(item) ? '[]' : (item !== null && typeof item === 'object' ? '{}' : yamlScalar(item))}`);
      } else {
        const inner = [];
        yamlLines(item, depth + 1, inner);
        out.push(`${pad}- ${inner[0].trimStart()}`, ...inner.slice(1));
      }
    }
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const name = yamlScalar(key);
    if (isEmpty(item)) {
      const shown = Array.isArray(item) ? '[]' : (item !== null && typeof item === 'object' ? '{}' : yamlScalar(item));
      out.push(`${pad}${name}: ${shown}`);
    } else {
      out.push(`${pad}${name}:`);
      yamlLines(item, depth + 1, out);
    }
  }
}

/** A JSON-like value as block YAML (strings quoted where YAML would read them otherwise). */
export function toYAML(value) {
  if (isEmpty(value)) return `${yamlScalar(value)}\n`;
  const out = [];
  yamlLines(value, 0, out);
  return `${out.join('\n')}\n`;
}

export function downloadText(filename, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const link = el('a', {href: url, download: filename});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
