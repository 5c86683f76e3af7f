// An experiment's trials in the page, as columns (row = the trial's place in creation order), merged from
// /ui/api/experiments/NS/NAME: everything once, then only the trials that changed (`since`).
import {ACTIVE, decodeF32} from './common.js';

const BASIC = ['id', 'name', 'phase', 'reason', 'created', 'start', 'end', 'objective'];

export class Trials {
  constructor() { this.reset(); }

  reset() {
    this.count = 0;
    this.cols = Object.fromEntries(BASIC.map((key) => [key, []]));
    this.params = {};   // parameter -> values (numbers for numeric parameters, strings otherwise)
    this.labels = {};   // label key -> values
    this.metrics = {};  // metric -> {min, max, latest}
    this.rowOf = new Map();   // trial id -> row
    this.series = new Map();  // trial id -> Float32Array of the objective's reports, in order
    this.version = 0;
  }

  /** Merge one answer; returns whether anything changed. */
  merge(answer) {
    if (answer.full) this.reset();
    const trials = answer.trials;
    const incoming = trials.id.length;
    for (let i = 0; i < incoming; i += 1) {
      let row = this.rowOf.get(trials.id[i]);
      if (row === undefined) {
        row = this.count;
        this.count += 1;
        this.rowOf.set(trials.id[i], row);
      }
      for (const key of BASIC) this.cols[key][row] = trials[key][i];
      for (const [name, values] of Object.entries(trials.params)) (this.params[name] ||= [])[row] = values[i];
      for (const [name, values] of Object.entries(trials.labels)) (this.labels[name] ||= [])[row] = values[i];
      for (const [name, stats] of Object.entries(trials.metrics)) {
        const columns = (this.metrics[name] ||= {min: [], max: [], latest: []});
        if (stats.latest[i] === null && columns.latest[row] !== undefined) continue; // none sent: keep what was
        columns.min[row] = stats.min[i];
        columns.max[row] = stats.max[i];
        columns.latest[row] = stats.latest[i];
      }
    }
    const series = answer.series;
    const values = series.values ? decodeF32(series.values) : new Float32Array(0);
    for (let j = 0; j < series.trial.length; j += 1) {
      this.series.set(series.trial[j], values.subarray(series.offset[j], series.offset[j + 1]));
    }
    const changed = answer.full || incoming > 0 || series.trial.length > 0;
    if (changed) this.version += 1;
    return changed;
  }

  value(column, row) {
    const found = column[row];
    return found === undefined ? null : found;
  }

  /** Rows of trials that ended with an objective value: the points of the analysis plots. */
  finished() {
    const rows = [];
    const {phase, objective} = this.cols;
    for (let row = 0; row < this.count; row += 1) {
      if (!ACTIVE.has(phase[row]) && objective[row] !== null && objective[row] !== undefined) rows.push(row);
    }
    return rows;
  }

  phases() {
    const counts = {};
    for (let row = 0; row < this.count; row += 1) counts[this.cols.phase[row]] = (counts[this.cols.phase[row]] || 0) + 1;
    return counts;
  }
}
