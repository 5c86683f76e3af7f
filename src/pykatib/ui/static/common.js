// What every page shares: requests to the UI's data and to the server's API, DOM and number helpers, the
// charts' loading and theme, and a small YAML writer.

export const PREFIX = '/ui';
export const STOP_ANNOTATION = 'pykatib.kubeflow.org/stop';
export const GROUP = 'kubeflow.org';
export const POLL_MS = 2000;
export const ACTIVE = new Set(['Created', 'Running']);
export const PHASE_COLORS = {
  Succeeded: '#2e9d4f', Running: '#3b82f6', Created: '#9aa5b1', Failed: '#dc2626',
  Killed: '#f59e0b', EarlyStopped: '#a855f7', MetricsUnavailable: '#8b5e3c',
};

/** The page of trial `trial` of experiment `namespace`/`name`. */
export function trialHref(namespace, name, trial) {
  return `${PREFIX}/experiments/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/trials/${encodeURIComponent(trial)}`;
}

/** A Kubernetes Status (or any error body) as one line. */
function problem(response, body) {
  if (body && typeof body === 'object' && body.message) return body.message;
  return `${response.status} ${response.statusText}`;
}

/** GET the UI's data (JSON); throws an Error whose `status` is the HTTP status. */
export async function getJSON(path) {
  return answerOf(fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store'}));
}

/** The JSON of a fetch (a promise of its response) as getJSON returns it. */
export async function answerOf(request) {
  const response = await request;
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
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i); // (Uint8Array.from with a map: 5x slower)
  return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
}

// --- charts: Apache ECharts (static/vendor/), drawn on a 2D canvas --------------------------------

const VIRIDIS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];
let charts = null;

/** ECharts (the page's data-charts), run once: pages start it beside their first data request. */
export function loadCharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  charts ||= new Promise((resolve, reject) => {
    const script = el('script', {src: document.body.dataset.charts});
    script.addEventListener('load', () => resolve(window.echarts));
    script.addEventListener('error', () => reject(new Error('The charting library (ECharts) did not load.')));
    document.head.append(script);
  });
  return charts;
}

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Draw every kind of series the pages use, a few points each, in a chart off the page, one kind a task, until
 *  `done()` (its data has come): ECharts' first drawing of a kind costs several times the next (code compiled,
 *  components set up), and a page waiting for its data pays it then rather than on the way to showing it. */
export async function warmUp(done = () => false) {
  const box = el('div', {style: 'position:absolute;left:-10000px;top:0;width:400px;height:300px', 'aria-hidden': 'true'});
  document.body.append(box);
  const chart = echarts.init(box, null, {renderer: 'canvas'});
  const points = [[1, 1, 1], [2, 3, 2], [3, 2, 3]];
  const scale = colorScale(2, 0, [1, 3], 'warm');
  const kinds = [
    {type: 'scatter', large: true, largeThreshold: 1, symbol: 'rect', data: points}, {type: 'scatter', data: points},
    {type: 'line', step: 'end', data: points}, {type: 'bar', data: [1, 2, 3]},
    {type: 'lines', coordinateSystem: 'cartesian2d', polyline: true, large: true, largeThreshold: 1, data: [{coords: points}]},
    {type: 'custom', data: points,
      renderItem: (params, api) => ({type: 'rect', shape: {x: api.coord([api.value(0), 0])[0], y: 0, width: 2, height: 2}})},
  ];
  try {
    for (const series of kinds) {
      if (done()) return;
      chart.setOption(baseOption({xAxis: axis(), yAxis: axis(), visualMap: [scale], series: [series]}), true);
      await new Promise((resolve) => { setTimeout(resolve, 0); }); // the data's answer may be read in between
    }
    if (done()) return;
    chart.setOption(baseOption({parallelAxis: [{dim: 0}, {dim: 1}, {dim: 2, type: 'category', data: ['a']}],
      visualMap: [scale], series: [{type: 'parallel', data: points.map(([a, b]) => [a, b, 'a'])}]}), true);
  } finally {
    chart.dispose();
    box.remove();
  }
}

/** The chart of a plot container, made on first use and resized with its box. Each drawing it finishes sets
 *  the container's data-drawn to the data-version it was given (what tests and bench/ui_load.py wait for). */
export function chartOf(container) {
  const found = echarts.getInstanceByDom(container);
  if (found) return found;
  const chart = echarts.init(container, null, {renderer: 'canvas'});
  new ResizeObserver(() => {
    // Only when the box and the chart differ: not on the observer's first call, nor after a page's own resize()
    if (container.clientWidth !== chart.getWidth() || container.clientHeight !== chart.getHeight()) chart.resize();
  }).observe(container);
  chart.on('finished', () => { container.dataset.drawn = container.dataset.version || '0'; });
  return chart;
}

/** The plot cards' buttons (pages.py PLOT_ACTIONS): reset the zoom, save the chart as a PNG. */
export function wirePlotActions() {
  document.addEventListener('click', (event) => {
    const button = event.target.closest?.('[data-plot-action]');
    const box = button?.closest('.plot-card')?.querySelector('.plot');
    const chart = box && window.echarts && echarts.getInstanceByDom(box);
    if (!chart) return;
    if (button.dataset.plotAction === 'zoom') chart.dispatchAction({type: 'dataZoom', start: 0, end: 100});
    else el('a', {href: chart.getDataURL({type: 'png', pixelRatio: 2, backgroundColor: cssVar('--bg')}), download: `${box.id}.png`}).click();
  });
}

/** Draw `option` into the container's chart: series (and `replace`d components) replaced, the rest merged, so
 *  a zoom or a brushed range stays while the data changes; data-points counts its series' items. Resolves after
 *  the browser had a chance to paint. */
export function draw(container, option, {version = 0, replace = []} = {}) {
  container.dataset.version = String(version);
  container.dataset.points = String((option.series || []).reduce((n, s) => n + (s.data?.length || 0), 0));
  // Every series in one go, not a few hundred items a frame: all of a plot shows at once, and sooner.
  for (const series of option.series || []) series.progressive ??= 0;
  chartOf(container).setOption(option, {replaceMerge: ['series', ...replace]});
  return new Promise((resolve) => { setTimeout(resolve, 0); });
}

/** An axis in the page's colours; `extra` is ECharts' axis option. */
export function axis(extra = {}) {
  const grid = cssVar('--grid');
  const muted = cssVar('--muted');
  return {
    nameLocation: 'middle', nameGap: 32, nameTextStyle: {color: cssVar('--fg')}, scale: true,
    axisLine: {lineStyle: {color: grid}}, axisTick: {lineStyle: {color: grid}}, axisLabel: {color: muted, hideOverlap: true},
    splitLine: {lineStyle: {color: grid}}, ...extra,
  };
}

/** The base of every chart's option: the page's colours, no animation, a tooltip, zoom and save tools. */
export function baseOption(extra = {}) {
  const fg = cssVar('--fg');
  return {
    animation: false, backgroundColor: 'transparent', textStyle: {color: fg, fontFamily: 'system-ui, sans-serif'},
    tooltip: {trigger: 'item', confine: true, backgroundColor: cssVar('--panel'), borderColor: cssVar('--line'), textStyle: {color: fg}},
    legend: {bottom: 0, textStyle: {color: fg}, type: 'scroll'},
    grid: {left: 64, right: 24, top: 32, bottom: 64},
    toolbox: {right: 8, top: 0, iconStyle: {borderColor: cssVar('--muted')},
      feature: {dataZoom: {title: {zoom: 'Zoom', back: 'Undo zoom'}}, restore: {title: 'Reset'}, saveAsImage: {title: 'Save as PNG'}}},
    ...extra,
  };
}

/** A colour scale (viridis) over `dimension` of the series `seriesIndex`: low values dark, high ones yellow; the
 *  other way round with `reverse` (the objective's best values are yellow: reversed when it is minimised). */
export function colorScale(dimension, seriesIndex, [min, max], title, {reverse = false} = {}) {
  return {
    type: 'continuous', dimension, seriesIndex, min, max: max > min ? max : min + 1, calculable: false,
    orient: 'vertical', right: 0, top: 'middle', itemHeight: 120, text: [title, ''], textStyle: {color: cssVar('--fg')},
    inRange: {color: reverse ? [...VIRIDIS].reverse() : VIRIDIS},
  };
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
