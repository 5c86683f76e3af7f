// The experiment page's analysis plots (optuna-dashboard's): optimisation history, parallel coordinates,
// slice, contour, parameter importance, intermediate values, timeline and the objective's EDF. Each is drawn
// from the page's Trials with Plotly.react (so it updates in place); WebGL traces above GL_POINTS points.
import {ACTIVE, PHASE_COLORS, PLOT_CONFIG, el, layout, traceType} from './common.js';

const MISSING = 'No finished trial with an objective value yet.';
const MAX_CURVES = 1000;

function note(key, text) {
  document.getElementById(`note-${key}`).textContent = text || '';
}

function plot(key, data, plotLayout) {
  return Plotly.react(document.getElementById(`plot-${key}`), data, {uirevision: 'keep', ...plotLayout}, PLOT_CONFIG);
}

function localTime(ms) {
  return ms - new Date(ms).getTimezoneOffset() * 60000;
}

export class Plots {
  /** `trials`: the page's Trials; `experiment()`: its current overview (spec, status). */
  constructor(trials, experiment) {
    this.trials = trials;
    this.experiment = experiment;
    this.axes = null;      // parallel coordinates: axis name -> shown
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

  /** Draw every plot whose data changed; resolves once all are drawn. */
  async draw() {
    if (this.drawn === this.trials.version) return;
    this.drawn = this.trials.version;
    this.controls();
    // One after the other, in the page's order: each gets the CPU (WebGL may be drawn by it) and appears at once.
    for (const draw of [this.history, this.parallel, this.slice, this.contour, this.drawImportance, this.intermediate,
      this.timeline, this.edf]) {
      const start = performance.now();
      await draw.call(this);
      if (!this.measured) performance.measure(`pykatib:${draw.name}`, {start}); // the first drawing only
    }
    this.measured = true;
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

  points() {
    const rows = this.trials.finished();
    const {objective, name} = this.trials.cols;
    return {rows, y: rows.map((row) => objective[row]), names: rows.map((row) => name[row])};
  }

  history() {
    const {rows, y, names} = this.points();
    const {name, minimize, goal} = this.objective();
    note('history', rows.length ? '' : MISSING);
    // The best value so far, as its steps only (a few dozen points, drawn as one SVG path).
    const bestX = [];
    const bestY = [];
    let current = null;
    y.forEach((value, i) => {
      if (current === null || (minimize ? value < current : value > current)) {
        current = value;
        bestX.push(rows[i] + 1);
        bestY.push(value);
      }
    });
    if (rows.length) { bestX.push(rows[rows.length - 1] + 1); bestY.push(current); }
    const x = rows.map((row) => row + 1);
    const type = traceType(rows.length);
    const shapes = goal === undefined || goal === null ? [] : [{type: 'line', xref: 'paper', x0: 0, x1: 1, y0: goal, y1: goal,
      line: {dash: 'dot', color: PHASE_COLORS.Failed, width: 1}}];
    return plot('history', [
      {type, mode: 'markers', name: 'Objective value', x, y, text: names, marker: {color: PHASE_COLORS.Running, size: 6}},
      {type: 'scatter', mode: 'lines', name: 'Best value', x: bestX, y: bestY, line: {color: PHASE_COLORS.Failed, shape: 'hv'}},
    ], layout({xaxis: {title: {text: 'Trial'}}, yaxis: {title: {text: name}}, shapes}));
  }

  parallel() {
    const {rows, y} = this.points();
    const {name, minimize} = this.objective();
    note('parallel', rows.length ? 'Drag along an axis to filter; click a filter to remove it.' : MISSING);
    const gd = document.getElementById('plot-parallel');
    const ranges = {};
    for (const dimension of (gd.data && gd.data[0] && gd.data[0].dimensions) || []) {
      if (dimension.constraintrange) ranges[dimension.label] = dimension.constraintrange;
    }
    const dimensions = [];
    const add = (label, values, categorical) => {
      if (!this.axes[label]) return;
      const dimension = {label, values};
      if (categorical) {
        const categories = [...new Set(values.filter((v) => v !== null && v !== undefined))].sort();
        dimension.values = values.map((v) => categories.indexOf(v));
        dimension.tickvals = categories.map((_, i) => i);
        dimension.ticktext = categories;
      }
      if (ranges[label]) dimension.constraintrange = ranges[label];
      dimensions.push(dimension);
    };
    for (const parameter of this.parameters()) {
      add(parameter.name, rows.map((row) => this.trials.value(this.trials.params[parameter.name], row)), parameter.categorical);
    }
    add(name, y, false);
    for (const [metric, columns] of Object.entries(this.trials.metrics)) {
      if (metric !== name) add(metric, rows.map((row) => this.trials.value(columns.latest, row)), false);
    }
    const line = {color: y, colorscale: 'Viridis', reversescale: minimize, showscale: rows.length > 0,
      colorbar: {title: {text: name}}};
    return plot('parallel', [{type: 'parcoords', line, dimensions, labelangle: -15}],
      layout({margin: {l: 64, r: 64, t: 48, b: 24}, showlegend: false}));
  }

  slice() {
    const {rows, y, names} = this.points();
    const parameters = this.parameters();
    note('slice', rows.length ? '' : MISSING);
    const columns = Math.min(parameters.length, 3) || 1;
    const gridRows = Math.max(1, Math.ceil(parameters.length / columns));
    const type = traceType(rows.length);
    const extra = {grid: {rows: gridRows, columns, pattern: 'independent'}, height: 300 * gridRows, showlegend: false};
    const data = parameters.map((parameter, i) => {
      const suffix = i === 0 ? '' : String(i + 1);
      extra[`xaxis${suffix}`] = {title: {text: parameter.name}, type: parameter.categorical ? 'category' : '-'};
      extra[`yaxis${suffix}`] = {title: {text: i % columns === 0 ? this.objective().name : ''}};
      return {type, mode: 'markers', name: parameter.name, x: rows.map((row) => this.trials.value(this.trials.params[parameter.name], row)),
        y, text: names, xaxis: `x${suffix}`, yaxis: `y${suffix}`,
        marker: {color: rows.map((row) => row + 1), colorscale: 'Viridis', size: 6, showscale: i === 0,
          colorbar: {title: {text: 'Trial'}}}};
    });
    return plot('slice', data, layout(extra));
  }

  contour() {
    const {rows, y, names} = this.points();
    if (!this.contourPair) {
      note('contour', 'A contour needs two parameters.');
      return plot('contour', [], layout({showlegend: false}));
    }
    note('contour', rows.length ? '' : MISSING);
    const [xName, yName] = this.contourPair;
    const byName = Object.fromEntries(this.parameters().map((p) => [p.name, p]));
    const x = rows.map((row) => this.trials.value(this.trials.params[xName], row));
    const yv = rows.map((row) => this.trials.value(this.trials.params[yName], row));
    const {name, minimize} = this.objective();
    const data = [];
    if (rows.length >= 3) {
      data.push({type: 'histogram2dcontour', x, y: yv, z: y, histfunc: 'avg', nbinsx: 16, nbinsy: 16, name,
        colorscale: 'Viridis', reversescale: minimize, contours: {coloring: 'heatmap'}, colorbar: {title: {text: name}},
        hoverinfo: 'skip'});
    }
    data.push({type: traceType(rows.length), mode: 'markers', name: 'Trials', x, y: yv, text: names,
      marker: {color: '#111', size: 5, line: {color: '#fff', width: 1}}});
    return plot('contour', data, layout({showlegend: false,
      xaxis: {title: {text: xName}, type: byName[xName]?.categorical ? 'category' : '-'},
      yaxis: {title: {text: yName}, type: byName[yName]?.categorical ? 'category' : '-'}}));
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
    else if (!found.length) note('importance', `Shown once ${5} trials have succeeded (${answer.trials} so far).`);
    else note('importance', `Optuna's PED-ANOVA over ${answer.used} of ${answer.trials} succeeded trials.`);
    return plot('importance', [{type: 'bar', orientation: 'h', x: found.map((f) => f[1]), y: found.map((f) => f[0]),
      marker: {color: PHASE_COLORS.Running}, name: 'Importance'}],
    layout({showlegend: false, xaxis: {title: {text: 'Importance'}, rangemode: 'tozero'}, yaxis: {automargin: true}}));
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
    const x = [];
    const y = [];
    const text = [];
    const stoppedX = [];
    const stoppedY = [];
    const stoppedText = [];
    const {rows, total} = this.curveRows();
    for (const row of rows) {
      const values = series.get(cols.id[row]);
      for (let i = 0; i < values.length; i += 1) {
        x.push(i + 1);
        y.push(values[i]);
        text.push(cols.name[row]);
      }
      x.push(null); y.push(null); text.push(null);
    }
    for (let row = 0; row < this.trials.count; row += 1) {
      const values = series.get(cols.id[row]);
      if (cols.phase[row] === 'EarlyStopped' && values?.length) {
        stoppedX.push(values.length); stoppedY.push(values[values.length - 1]); stoppedText.push(cols.name[row]);
      }
    }
    note('intermediate', !total ? 'No reports yet.' : (rows.length < total
      ? `The reports of ${rows.length.toLocaleString()} of ${total.toLocaleString()} trials: the best, the running and an even sample of the rest.` : ''));
    // One SVG path for every curve: WebGL draws a line with gaps as one line per curve (slow for thousands).
    return plot('intermediate', [
      {type: 'scatter', mode: x.length > 2000 ? 'lines' : 'lines+markers', name: 'Reports', x, y, text, connectgaps: false,
        line: {width: 1, color: PHASE_COLORS.Running}, marker: {size: 4}, meta: {curves: rows.length, total}},
      {type: traceType(stoppedX.length), mode: 'markers', name: 'Early stopped', x: stoppedX, y: stoppedY, text: stoppedText,
        marker: {symbol: 'x', size: 9, color: PHASE_COLORS.EarlyStopped}},
    ], layout({xaxis: {title: {text: 'Report'}}, yaxis: {title: {text: this.objective().name}}}));
  }

  timeline() {
    const {cols} = this.trials;
    const now = Date.now();
    const traces = {};
    let started = 0;
    for (let row = 0; row < this.trials.count; row += 1) {
      const start = cols.start[row];
      if (start === null || start === undefined) continue;
      started += 1;
      const phase = cols.phase[row];
      const trace = (traces[phase] ||= {x: [], y: [], text: []});
      const end = cols.end[row] ?? now;
      trace.x.push(localTime(start), localTime(end), null);
      trace.y.push(row + 1, row + 1, null);
      trace.text.push(cols.name[row], cols.name[row], null);
    }
    note('timeline', started ? '' : 'No trial has started yet.');
    // A path per status (SVG: one path with gaps is cheap; WebGL would draw each segment alone).
    const data = Object.entries(traces).map(([phase, trace]) => ({type: 'scatter', mode: 'lines', name: phase, ...trace,
      connectgaps: false, line: {color: PHASE_COLORS[phase] || '#888', width: started > 200 ? 2 : 6}}));
    return plot('timeline', data, layout({xaxis: {title: {text: 'Time'}, type: 'date'}, yaxis: {title: {text: 'Trial'}}}));
  }

  edf() {
    const {y} = this.points();
    note('edf', y.length ? '' : MISSING);
    const x = [...y].sort((a, b) => a - b);
    const fraction = x.map((_, i) => (i + 1) / x.length);
    return plot('edf', [{type: 'scatter', mode: 'lines', name: 'EDF', x, y: fraction,
      line: {shape: 'hv', color: PHASE_COLORS.Running}}],
    layout({showlegend: false, xaxis: {title: {text: this.objective().name}}, yaxis: {title: {text: 'Cumulative probability'}, range: [0, 1.02]}}));
  }
}
