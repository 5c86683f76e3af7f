// The experiment page's analysis plots (optuna-dashboard's): optimisation history, parallel coordinates,
// slice, contour, parameter importance, intermediate values, timeline, the objective's EDF, and for hyperband
// and PBT the lineage of their trials. Each is drawn from the page's Trials with ECharts on a 2D canvas, in
// place (a zoom or a brushed range stays while points arrive).
import {ACTIVE, PHASE_COLORS, axis, baseOption, colorScale, cssVar, draw, el, trialHref} from './common.js';

const MISSING = 'No finished trial with an objective value yet.';
const MAX_CURVES = 1000;
// Above this many points a scatter is drawn as one shape in one colour (ECharts' large mode): far faster.
const LARGE = 2000;
const CONTOUR_BINS = 16;
// The labels that hyperband (pykatib's) and PBT (Katib's) give their trials: the stage and the parent.
const LINEAGES = [
  {stage: 'hyperband.suggestion.pykatib.kubeflow.org/stage', parent: 'hyperband.suggestion.pykatib.kubeflow.org/parent',
    bracket: 'hyperband.suggestion.pykatib.kubeflow.org/bracket', rung: 'hyperband.suggestion.pykatib.kubeflow.org/rung', x: 'Rung (in schedule order)'},
  {stage: 'pbt.suggestion.katib.kubeflow.org/generation', parent: 'pbt.suggestion.katib.kubeflow.org/parent', x: 'Generation'},
];

function note(key, text) {
  document.getElementById(`note-${key}`).textContent = text || '';
}

function container(key) {
  return document.getElementById(`plot-${key}`);
}

function extent(values) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue; // a report past float32's range is Infinity
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min === Infinity ? [0, 1] : [min, max];
}

/** A scatter's symbols: past LARGE points, ECharts' large mode (one shape, one colour) with squares (a circle
 *  costs a third more to draw). */
function dots(count, size) {
  return count > LARGE ? {large: true, largeThreshold: LARGE, symbol: 'rect', symbolSize: size - 1} : {symbolSize: size};
}

/** [lo, hi] widened to round numbers (an axis whose range is given shows its ends as labels). */
function nice([lo, hi]) {
  const raw = (hi - lo) / 5 || Math.abs(hi) / 5 || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= raw);
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step].map((v) => Number(v.toPrecision(12)));
}

/** Text as HTML: tooltips are HTML, and parameter values, metric names and texts are the user's. */
function escape(text) {
  return echarts.format.encodeHTML(String(text ?? ''));
}

/** A tooltip: the point's name (`names[dataIndex]`) above the lines `lines(value, dataIndex)` (text). */
function tip(names, lines) {
  return {formatter: (p) => [`<b>${escape(names[p.dataIndex])}</b>`, ...lines(p.value, p.dataIndex).map(escape)].join('<br>')};
}

const num = (v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v);

export class Plots {
  /** `trials`: the page's Trials; `experiment()`: its current overview (spec, status). */
  constructor(trials, experiment) {
    this.trials = trials;
    this.experiment = experiment;
    this.axes = null;      // parallel coordinates: axis name -> shown
    this.axesKey = '';     // the shown axes when the chart's axes were last set
    this.contourPair = null;
    this.importance = null;
    this.drawn = -1;
    this.measured = false;
  }

  spec() { return this.experiment().spec || {}; }

  objective() {
    const objective = this.spec().objective || {};
    return {name: objective.objectiveMetricName || 'objective', minimize: objective.type !== 'maximize', goal: objective.goal};
  }

  parameters() {
    const types = Object.fromEntries((this.spec().parameters || []).map((p) => [p.name, p.parameterType]));
    return Object.keys(this.trials.params).map((name) => ({name, categorical: types[name] === 'categorical' || types[name] === undefined && typeof this.trials.params[name].find((v) => v !== null && v !== undefined) === 'string'}));
  }

  /** The hyperband or PBT labels these trials carry, if any. */
  lineage() {
    return LINEAGES.find((l) => this.trials.labels[l.stage]) || null;
  }

  /** Draw every plot whose data changed; resolves once all are drawn. */
  async draw() {
    if (this.drawn === this.trials.version) return;
    this.drawn = this.trials.version;
    this.controls();
    // One after the other, in the page's order, each in a task of its own (the browser may paint in between).
    for (const plot of [this.history, this.parallel, this.slice, this.contour, this.drawImportance, this.intermediate,
      this.timeline, this.edf, this.lineagePlot]) {
      const start = performance.now();
      try {
        await plot.call(this);
      } catch (error) { // one plot's failure leaves the others drawn
        console.error(`plot ${plot.name}:`, error);
        note(plot.name === 'drawImportance' ? 'importance' : plot.name === 'lineagePlot' ? 'lineage' : plot.name, `This plot failed: ${error.message}`);
      }
      if (!this.measured) performance.measure(`pykatib:${plot.name}`, {start}); // the first drawing only
    }
    this.measured = true;
  }

  /** Draw a plot's option (see common.js draw); a click on a point of the series at index `points` (of any
   *  series when it is null) opens the trial `names[dataIndex]`. */
  plot(key, option, {names = null, points = null, replace = []} = {}) {
    const box = container(key);
    const done = draw(box, option, {version: this.trials.version, replace});
    const chart = echarts.getInstanceByDom(box);
    chart.off('click');
    if (names) {
      chart.on('click', (p) => {
        const trial = points === null || p.seriesIndex === points ? names[p.dataIndex] : null;
        if (!trial) return;
        const {namespace, name} = document.body.dataset;
        window.location.assign(trialHref(namespace, name, trial));
      });
    }
    return done;
  }

  controls() {
    const parameters = this.parameters();
    const metrics = Object.keys(this.trials.metrics).filter((name) => name !== this.objective().name);
    const names = [...parameters.map((p) => p.name), this.objective().name, ...metrics];
    if (!this.axes || names.some((name) => !(name in this.axes))) {
      const before = this.axes || {};
      this.axes = Object.fromEntries(names.map((name) => [name, before[name] ?? !metrics.includes(name)]));
      const box = document.getElementById('controls-parallel');
      box.replaceChildren(el('span', {class: 'muted'}, 'Axes:'), ...names.map((name) => el('label', {},
        el('input', {type: 'checkbox', checked: this.axes[name], 'data-axis': name,
          onchange: (event) => { this.axes[name] = event.target.checked; this.parallel(); }}), ` ${name}`)));
    }
    const numeric = parameters.map((p) => p.name);
    if (numeric.length >= 2 && (!this.contourPair || !numeric.includes(this.contourPair[0]) || !numeric.includes(this.contourPair[1]))) {
      this.contourPair = [numeric[0], numeric[1]];
      const choose = (index, label) => el('label', {}, `${label} `, el('select', {'aria-label': `Contour ${label}`,
        onchange: (event) => { this.contourPair[index] = event.target.value; this.contour(); }},
        ...numeric.map((name) => el('option', {value: name, selected: name === this.contourPair[index]}, name))));
      document.getElementById('controls-contour').replaceChildren(choose(0, 'x'), choose(1, 'y'));
    }
  }

  /** Why a plot of objective values is empty. */
  missing() {
    const {name} = this.objective();
    const latest = this.trials.metrics[name]?.latest || [];
    if (latest.some((v) => typeof v === 'string' && v !== 'unavailable')) {
      return `The objective (${name}) is text, not a number: the trials table shows it.`;
    }
    return MISSING;
  }

  points() {
    const rows = this.trials.finished();
    const {objective, name} = this.trials.cols;
    return {rows, y: rows.map((row) => objective[row]), names: rows.map((row) => name[row])};
  }

  history() {
    const {rows, y, names} = this.points();
    const {name, minimize, goal} = this.objective();
    note('history', rows.length ? '' : this.missing());
    // The best value so far, as its steps only.
    const best = [];
    let current = null;
    y.forEach((value, i) => {
      if (current === null || (minimize ? value < current : value > current)) {
        current = value;
        best.push([rows[i] + 1, value]);
      }
    });
    if (rows.length) best.push([rows[rows.length - 1] + 1, current]);
    const markLine = goal === undefined || goal === null ? undefined : {silent: true, symbol: 'none',
      lineStyle: {type: 'dotted', color: PHASE_COLORS.Failed}, label: {formatter: 'goal'}, data: [{yAxis: goal}]};
    return this.plot('history', baseOption({
      xAxis: axis({name: 'Trial'}), yAxis: axis({name}),
      series: [
        {type: 'scatter', name: 'Objective value', ...dots(rows.length, 6), itemStyle: {color: PHASE_COLORS.Running},
          data: rows.map((row, i) => [row + 1, y[i]]), tooltip: tip(names, (v) => [`trial ${v[0]}: ${name} = ${num(v[1])}`])},
        {type: 'line', name: 'Best value', step: 'end', showSymbol: false, silent: true, data: best, markLine,
          lineStyle: {color: PHASE_COLORS.Failed}, itemStyle: {color: PHASE_COLORS.Failed}},
      ],
    }), {names, points: 0});
  }

  parallel() {
    const {rows, y} = this.points();
    const {name, minimize} = this.objective();
    note('parallel', rows.length ? 'Drag along an axis to filter; click the axis elsewhere to clear it.' : this.missing());
    const parallelAxis = [];
    const columns = [];
    const add = (label, values, categorical) => {
      if (!this.axes[label]) return;
      const dimension = {dim: columns.length, name: label, nameLocation: 'start', nameGap: 12, type: categorical ? 'category' : 'value'};
      if (categorical) dimension.data = [...new Set(values.filter((v) => v !== null && v !== undefined))].sort();
      parallelAxis.push(dimension);
      columns.push(values);
    };
    for (const parameter of this.parameters()) {
      add(parameter.name, rows.map((row) => this.trials.value(this.trials.params[parameter.name], row)), parameter.categorical);
    }
    const objectiveDim = this.axes[name] ? columns.length : -1;
    add(name, y, false);
    for (const [metric, stats] of Object.entries(this.trials.metrics)) {
      if (metric !== name) add(metric, rows.map((row) => this.trials.value(stats.latest, row)), false);
    }
    const data = rows.map((_, i) => columns.map((values) => values[i] ?? '-'));
    // The axes are set again only when they change (a brushed range lives on them).
    const key = JSON.stringify(parallelAxis.map((a) => [a.name, a.data]));
    const replace = key === this.axesKey ? [] : ['parallelAxis', 'visualMap'];
    this.axesKey = key;
    const fg = cssVar('--fg');
    return this.plot('parallel', baseOption({
      toolbox: {show: false}, legend: {show: false}, tooltip: {show: false},
      parallel: {left: 48, right: 120, top: 24, bottom: 40,
        parallelAxisDefault: {nameTextStyle: {color: fg}, axisLabel: {color: fg, hideOverlap: true}, axisLine: {lineStyle: {color: fg}},
          areaSelectStyle: {width: 16}}},
      parallelAxis,
      visualMap: objectiveDim >= 0 && rows.length ? [colorScale(objectiveDim, 0, extent(y), name, {reverse: minimize})] : [],
      series: [{type: 'parallel', lineStyle: {width: 1, opacity: 0.5, color: PHASE_COLORS.Running}, inactiveOpacity: 0.04,
        activeOpacity: 0.6, progressive: 100000, progressiveThreshold: 3000, data}], // one chunk, on a layer of its own: faster
    }), {replace});
  }

  slice() {
    const {rows, y, names} = this.points();
    const parameters = this.parameters();
    note('slice', rows.length ? '' : this.missing());
    const columns = Math.min(parameters.length, 3) || 1;
    const gridRows = Math.max(1, Math.ceil(parameters.length / columns));
    const box = container('slice');
    box.style.height = `${300 * gridRows}px`;
    // Coloured by trial number while the points are few: past LARGE a scatter is drawn in one colour (and
    // a series a colour band costs as much as a plot).
    const coloured = rows.length <= LARGE;
    const grid = [];
    const xAxis = [];
    const yAxis = [];
    const series = parameters.map((parameter, p) => {
      const [c, r] = [p % columns, Math.floor(p / columns)];
      grid.push({left: `${(c * 100) / columns + 7}%`, width: `${100 / columns - 10}%`,
        top: `${(r * 100) / gridRows + 12 / gridRows}%`, height: `${100 / gridRows - 30 / gridRows}%`});
      const x = rows.map((row) => this.trials.value(this.trials.params[parameter.name], row));
      xAxis.push(axis({gridIndex: p, name: parameter.name, type: parameter.categorical ? 'category' : 'value',
        ...(parameter.categorical ? {data: [...new Set(x.filter((v) => v !== null))].sort()} : {})}));
      yAxis.push(axis({gridIndex: p, name: c === 0 ? this.objective().name : '', nameGap: 48}));
      return {type: 'scatter', name: parameter.name, xAxisIndex: p, yAxisIndex: p, ...dots(rows.length, 6),
        itemStyle: {color: PHASE_COLORS.Running}, data: x.map((v, i) => (coloured ? [v, y[i], rows[i] + 1] : [v, y[i]])),
        tooltip: tip(names, (v) => [`${parameter.name} = ${num(v[0])}`, `${this.objective().name} = ${num(v[1])}`])};
    });
    if (rows.length && !coloured) note('slice', `One colour: ${rows.length.toLocaleString()} trials (colour by trial number up to ${LARGE.toLocaleString()}).`);
    echarts.getInstanceByDom(box)?.resize();
    return this.plot('slice', baseOption({
      legend: {show: false}, grid, xAxis, yAxis, series,
      visualMap: rows.length && coloured ? [colorScale(2, series.map((_, i) => i), [1, Math.max(2, this.trials.count)], 'Trial')] : [],
    }), {names, replace: ['grid', 'xAxis', 'yAxis', 'visualMap']});
  }

  contour() {
    const {rows, y, names} = this.points();
    if (!this.contourPair) {
      note('contour', 'A contour needs two parameters.');
      return this.plot('contour', baseOption({xAxis: axis(), yAxis: axis(), series: []}));
    }
    note('contour', rows.length ? 'Each cell: the mean objective of the trials in it.' : this.missing());
    const [xName, yName] = this.contourPair;
    const byName = Object.fromEntries(this.parameters().map((p) => [p.name, p]));
    const {name, minimize} = this.objective();
    // Per axis: a categorical parameter's categories (as indexes), or a numeric one cut in CONTOUR_BINS.
    const side = (parameter) => {
      const values = rows.map((row) => this.trials.value(this.trials.params[parameter], row));
      if (byName[parameter]?.categorical) {
        const categories = [...new Set(values.filter((v) => v !== null))].sort();
        const index = values.map((v) => categories.indexOf(v));
        return {values, bin: (i) => index[i], edges: (b) => [b, b], axis: {type: 'category', data: categories}};
      }
      const [lo, hi] = extent(values);
      const width = (hi - lo) / CONTOUR_BINS || 1;
      return {values, bin: (i) => Math.min(CONTOUR_BINS - 1, Math.floor((values[i] - lo) / width)),
        edges: (b) => [lo + b * width, lo + (b + 1) * width], axis: {type: 'value'}};
    };
    const sx = side(xName);
    const sy = side(yName);
    const cells = new Map();
    rows.forEach((_, i) => {
      if (sx.values[i] === null || sy.values[i] === null) return;
      const key = `${sx.bin(i)},${sy.bin(i)}`;
      const cell = cells.get(key) || {sum: 0, n: 0};
      cell.sum += y[i];
      cell.n += 1;
      cells.set(key, cell);
    });
    const heat = [...cells.entries()].map(([key, cell]) => {
      const [bx, by] = key.split(',').map(Number);
      return [...sx.edges(bx), ...sy.edges(by), cell.sum / cell.n, cell.n];
    });
    const categorical = [sx.axis.type === 'category', sy.axis.type === 'category'];
    const renderItem = (params, api) => {
      const a = api.coord([api.value(0), api.value(2)]);
      const b = api.coord([api.value(1), api.value(3)]);
      const band = api.size([1, 1]);
      let [x0, x1, y0, y1] = [Math.min(a[0], b[0]), Math.max(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[1], b[1])];
      if (categorical[0]) { x0 -= band[0] / 2; x1 += band[0] / 2; }
      if (categorical[1]) { y0 -= band[1] / 2; y1 += band[1] / 2; }
      return {type: 'rect', shape: {x: x0, y: y0, width: x1 - x0, height: y1 - y0}, style: {fill: api.visual('color')}};
    };
    return this.plot('contour', baseOption({
      legend: {show: false}, grid: {left: 64, right: 110, top: 32, bottom: 56},
      xAxis: axis({name: xName, ...sx.axis, splitLine: {show: false}}), yAxis: axis({name: yName, nameGap: 48, ...sy.axis, splitLine: {show: false}}),
      visualMap: heat.length ? [colorScale(4, 0, extent(heat.map((h) => h[4])), name, {reverse: minimize})] : [],
      series: [
        {type: 'custom', name, renderItem, encode: {x: [0, 1], y: [2, 3]}, data: heat, z: 1,
          tooltip: {formatter: (p) => escape(`${name}: mean ${num(p.value[4])} over ${p.value[5]} trial(s)`)}},
        {type: 'scatter', name: 'Trials', ...dots(rows.length, 5), z: 2, itemStyle: {color: '#111', borderColor: '#fff', borderWidth: 1},
          data: rows.map((_, i) => [sx.values[i], sy.values[i]]), tooltip: tip(names, (v) => [`${xName} = ${num(v[0])}`, `${yName} = ${num(v[1])}`])},
      ],
    }), {names, points: 1, replace: ['xAxis', 'yAxis', 'visualMap']});
  }

  /** The importance answer from /importance (drawn when it comes, and with the other plots). */
  setImportance(answer) {
    this.importance = answer;
    return this.drawImportance();
  }

  drawImportance() {
    const answer = this.importance;
    const found = answer ? Object.entries(answer.importances) : [];
    found.sort((a, b) => a[1] - b[1]);
    if (!answer) note('importance', 'Computing…');
    else if (answer.used < answer.minTrials) note('importance', `Shown once ${answer.minTrials} trials have succeeded with every parameter (${answer.used} so far).`);
    else if (!found.length) note('importance', 'No parameter varies enough to tell.');
    else note('importance', `Optuna's PED-ANOVA over ${answer.used} of ${answer.trials} succeeded trials.`);
    return this.plot('importance', baseOption({
      legend: {show: false}, grid: {left: 24, right: 24, top: 32, bottom: 48, containLabel: true},
      xAxis: axis({name: 'Importance', min: 0, scale: false}), yAxis: axis({type: 'category', data: found.map((f) => f[0])}),
      series: [{type: 'bar', name: 'Importance', data: found.map((f) => num(f[1])), itemStyle: {color: PHASE_COLORS.Running}}],
    }), {replace: ['yAxis']});
  }

  /** The rows whose reports are drawn: all of them up to MAX_CURVES; past it the best fifth of that many, the
   *  running ones and an even sample of the rest (thousands of overlapping curves show nothing more, and cost). */
  curveRows() {
    const {cols, series} = this.trials;
    const rows = [];
    for (let row = 0; row < this.trials.count; row += 1) if (series.get(cols.id[row])?.length) rows.push(row);
    if (rows.length <= MAX_CURVES) return {rows, total: rows.length};
    const {minimize} = this.objective();
    const ranked = rows.filter((row) => cols.objective[row] !== null && cols.objective[row] !== undefined)
      .sort((a, b) => (minimize ? 1 : -1) * (cols.objective[a] - cols.objective[b]));
    const chosen = new Set(ranked.slice(0, MAX_CURVES / 5));
    for (const row of rows) if (ACTIVE.has(cols.phase[row])) chosen.add(row);
    const step = rows.length / (MAX_CURVES - chosen.size);
    for (let i = 0; chosen.size < MAX_CURVES && i < rows.length; i += step) chosen.add(rows[Math.floor(i)]);
    return {rows: [...chosen].sort((a, b) => a - b), total: rows.length};
  }

  intermediate() {
    const {cols, series} = this.trials;
    const {rows, total} = this.curveRows();
    let longest = 1;
    const values = [];
    const curves = rows.map((row) => {
      const reports = series.get(cols.id[row]);
      longest = Math.max(longest, reports.length);
      const coords = Array.from(reports, (v, i) => [i + 1, v]);
      for (const v of reports) values.push(v);
      // A polyline needs two points (ECharts fails on one): a single report is its own segment.
      return {name: cols.name[row], coords: coords.length === 1 ? [coords[0], coords[0]] : coords};
    });
    // Each report as a marker too while they are few (as a curve of one report shows only so).
    const markers = values.length <= 2000 ? rows.flatMap((row) => Array.from(series.get(cols.id[row]), (v, i) => [i + 1, v])) : [];
    const markerNames = markers.length ? rows.flatMap((row) => Array(series.get(cols.id[row]).length).fill(cols.name[row])) : [];
    const stopped = [];
    const stoppedNames = [];
    for (let row = 0; row < this.trials.count; row += 1) {
      const reports = series.get(cols.id[row]);
      if (cols.phase[row] === 'EarlyStopped' && reports?.length) {
        stopped.push([reports.length, reports[reports.length - 1]]);
        stoppedNames.push(cols.name[row]);
      }
    }
    note('intermediate', !total ? 'No reports yet.' : (rows.length < total
      ? `The reports of ${rows.length.toLocaleString()} of ${total.toLocaleString()} trials: the best, the running and an even sample of the rest.` : ''));
    const [lo, hi] = nice(extent(values));
    // A lines series (polylines) does not widen its axes: their ranges are given.
    return this.plot('intermediate', baseOption({
      xAxis: axis({name: 'Report', min: 1, max: Math.max(2, longest), minInterval: 1}),
      yAxis: axis({name: this.objective().name, nameGap: 48, min: lo, max: hi}),
      series: [
        {type: 'lines', name: 'Reports', coordinateSystem: 'cartesian2d', polyline: true, data: curves, large: true, largeThreshold: LARGE / 4,
          lineStyle: {width: 1, opacity: curves.length > 100 ? 0.35 : 0.9, color: PHASE_COLORS.Running},
          tooltip: {formatter: (p) => `<b>${escape(p.name)}</b>`}},
        {type: 'scatter', name: 'Reports', symbolSize: 4, data: markers, itemStyle: {color: PHASE_COLORS.Running},
          tooltip: tip(markerNames, (v) => [`report ${v[0]}: ${num(v[1])}`])},
        {type: 'scatter', name: 'Early stopped', symbol: 'diamond', symbolSize: 9, data: stopped,
          itemStyle: {color: PHASE_COLORS.EarlyStopped}, tooltip: tip(stoppedNames, (v) => [`stopped after report ${v[0]}: ${num(v[1])}`])},
      ],
    }), {replace: ['xAxis', 'yAxis']});
  }

  timeline() {
    const {cols} = this.trials;
    const now = Date.now();
    const byPhase = {};
    const names = {};
    let started = 0;
    for (let row = 0; row < this.trials.count; row += 1) {
      const start = cols.start[row];
      if (start === null || start === undefined) continue;
      started += 1;
      const phase = cols.phase[row];
      (byPhase[phase] ||= []).push([start, cols.end[row] ?? now, row + 1]);  // ECharts shows local time
      (names[phase] ||= []).push(cols.name[row]);
    }
    note('timeline', started ? '' : 'No trial has started yet.');
    const renderItem = (params, api) => {
      const a = api.coord([api.value(0), api.value(2)]);
      const b = api.coord([api.value(1), api.value(2)]);
      const height = Math.max(1, Math.min(8, api.size([0, 1])[1] * 0.8));
      return {type: 'rect', shape: {x: a[0], y: a[1] - height / 2, width: Math.max(1, b[0] - a[0]), height},
        style: {fill: api.visual('color')}};
    };
    const color = (phase) => PHASE_COLORS[phase] || '#888';
    if (started > LARGE) {
      // Many trials: a segment each, drawn as one path per status (ECharts' large lines; no tooltip per trial).
      // Lines do not widen the axes: their ranges are given.
      let [first, last] = [Infinity, -Infinity];
      const series = Object.entries(byPhase).map(([phase, data]) => ({
        type: 'lines', name: phase, coordinateSystem: 'cartesian2d', large: true, largeThreshold: 0, silent: true,
        lineStyle: {color: color(phase), width: 2, opacity: 1}, itemStyle: {color: color(phase)},
        data: data.map(([start, end, row]) => {
          first = Math.min(first, start);
          last = Math.max(last, end);
          return {coords: [[start, row], [Math.max(end, start + 1), row]]};
        }),
      }));
      return this.plot('timeline', baseOption({tooltip: {show: false}, series,
        xAxis: axis({name: 'Time', type: 'time', min: first, max: last}), yAxis: axis({name: 'Trial', min: 0, max: this.trials.count})}),
      {replace: ['xAxis', 'yAxis']});
    }
    const series = Object.entries(byPhase).map(([phase, data]) => ({
      type: 'custom', name: phase, renderItem, encode: {x: [0, 1], y: 2}, data, itemStyle: {color: color(phase)},
      tooltip: tip(names[phase], (v) => [phase, `${new Date(v[0]).toLocaleString()}, ${((v[1] - v[0]) / 1000).toFixed(1)} s`]),
    }));
    return this.plot('timeline', baseOption({xAxis: axis({name: 'Time', type: 'time'}), yAxis: axis({name: 'Trial', minInterval: 1}), series}),
      {replace: ['xAxis', 'yAxis']});
  }

  edf() {
    const {y} = this.points();
    note('edf', y.length ? '' : this.missing());
    const x = [...y].sort((a, b) => a - b);
    return this.plot('edf', baseOption({
      legend: {show: false}, tooltip: {trigger: 'axis'},
      xAxis: axis({name: this.objective().name}), yAxis: axis({name: 'Cumulative probability', nameGap: 40, min: 0, max: 1, scale: false}),
      series: [{type: 'line', name: 'EDF', step: 'end', showSymbol: false, data: x.map((v, i) => [v, (i + 1) / x.length]),
        lineStyle: {color: PHASE_COLORS.Running}, itemStyle: {color: PHASE_COLORS.Running}}],
    }));
  }

  /** Hyperband's rungs or PBT's generations: each finished trial at its stage and objective, a line from its parent
   *  (the trial whose assignment it continues). Hidden for other algorithms. */
  lineagePlot() {
    const card = document.getElementById('card-lineage');
    const lineage = this.lineage();
    card.hidden = !lineage;
    if (!lineage) return Promise.resolve();
    const {cols, labels} = this.trials;
    const {name} = this.objective();
    const stage = labels[lineage.stage];
    const parent = labels[lineage.parent] || [];
    const {rows, y, names} = this.points();
    const at = new Map(rows.map((row, i) => [cols.name[row], [Number(stage[row]), y[i]]]));
    const links = [];
    rows.forEach((row, i) => {
      const from = parent[row] && at.get(parent[row]);
      if (from) links.push({coords: [from, [Number(stage[row]), y[i]]]});
    });
    const groups = lineage.bracket ? rows.map((row) => `bracket ${labels[lineage.bracket]?.[row]}, rung ${labels[lineage.rung]?.[row]}`) : null;
    note('lineage', rows.length ? `${rows.length} trials, ${links.length} continued from a parent.` : this.missing());
    return this.plot('lineage', baseOption({
      legend: {show: false},
      // Half a stage of room at either end; those ends unlabelled (stages are whole numbers).
      xAxis: axis({name: lineage.x, minInterval: 1, min: (r) => r.min - 0.5, max: (r) => r.max + 0.5,
        axisLabel: {...axis().axisLabel, showMinLabel: false, showMaxLabel: false}}),
      yAxis: axis({name, nameGap: 48}),
      series: [
        {type: 'scatter', name: 'Trials', ...dots(rows.length, 7), itemStyle: {color: PHASE_COLORS.Running},
          data: rows.map((row, i) => [Number(stage[row]), y[i]]),
          tooltip: tip(names, (v, i) => [...(groups ? [groups[i]] : []), `${lineage.x} ${v[0]}: ${name} = ${num(v[1])}`])},
        {type: 'lines', name: 'Parent', coordinateSystem: 'cartesian2d', data: links, silent: true,
          lineStyle: {width: 1, opacity: 0.5, color: PHASE_COLORS.Created}},
      ],
    }), {names, points: 0});
  }
}
