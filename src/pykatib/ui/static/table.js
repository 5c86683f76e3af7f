// The experiment page's trials table: sort by any column, filter by status, pages; the best trial's row
// highlighted; each metric's min / max / latest; a CSV of what the table shows (every page of it).
import {downloadText, el, fmt, fmtDuration, fmtTime, trialHref} from './common.js';

const PAGE_SIZES = [25, 50, 100, 500];

function csvCell(value) {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export class TrialsTable {
  constructor(trials, experiment) {
    this.trials = trials;
    this.experiment = experiment;
    this.sort = {key: 'number', descending: false};
    this.status = '';
    this.page = 0;
    this.size = 50;
    this.table = document.getElementById('trials');
    this.pager = document.getElementById('pager');
    this.buildControls();
  }

  buildControls() {
    this.statusSelect = el('select', {id: 'status-filter', onchange: (event) => { this.status = event.target.value; this.page = 0; this.render(); }},
      el('option', {value: ''}, 'all'));
    const size = el('select', {id: 'page-size', onchange: (event) => { this.size = Number(event.target.value); this.page = 0; this.render(); }},
      ...PAGE_SIZES.map((n) => el('option', {value: n, selected: n === this.size}, String(n))));
    document.getElementById('table-controls').replaceChildren(
      el('label', {}, 'Status ', this.statusSelect),
      el('label', {}, 'Rows per page ', size),
      el('button', {type: 'button', id: 'csv', onclick: () => this.download()}, 'Download CSV'),
    );
  }

  /** The columns: key, header, value of a row (raw, for sorting and CSV), shown text, numeric or not. */
  columns() {
    const t = this.trials;
    const value = (column) => (row) => t.value(column, row);
    const objective = (this.experiment().spec?.objective || {}).objectiveMetricName || 'objective';
    const columns = [
      {key: 'number', header: '#', get: (row) => row + 1, num: true},
      {key: 'name', header: 'Trial', get: value(t.cols.name), link: true},
      {key: 'status', header: 'Status', get: value(t.cols.phase)},
    ];
    for (const [name, values] of Object.entries(t.params)) {
      columns.push({key: `param:${name}`, header: name, get: value(values), num: true});
    }
    // A text objective (a DARTS genotype) has no value: its latest report is shown.
    const text = (row) => (typeof t.metrics[objective]?.latest[row] === 'string' ? t.metrics[objective].latest[row] : null);
    columns.push({key: 'objective', header: `Objective (${objective})`, get: (row) => t.value(t.cols.objective, row) ?? text(row), num: true});
    for (const [name, stats] of Object.entries(t.metrics)) {
      for (const part of ['min', 'max', 'latest']) {
        columns.push({key: `metric:${name}:${part}`, header: `${name} ${part}`, get: value(stats[part]), num: true});
      }
    }
    for (const [key, values] of Object.entries(t.labels)) {
      columns.push({key: `label:${key}`, header: key.split('/').pop(), title: key, get: value(values)});
    }
    columns.push({key: 'start', header: 'Started', get: value(t.cols.start), show: fmtTime, csv: (v) => (v === null ? '' : new Date(v).toISOString())});
    columns.push({key: 'duration', header: 'Duration', num: true, show: fmtDuration, get: (row) => {
      const start = t.cols.start[row];
      if (start === null || start === undefined) return null;
      return (t.cols.end[row] ?? Date.now()) - start;
    }});
    return columns;
  }

  /** The rows the table shows, on every page: filtered by status, sorted. */
  rows(columns) {
    const t = this.trials;
    const rows = [];
    for (let row = 0; row < t.count; row += 1) if (!this.status || t.cols.phase[row] === this.status) rows.push(row);
    const column = columns.find((c) => c.key === this.sort.key) || columns[0];
    const sign = this.sort.descending ? -1 : 1;
    const keyed = rows.map((row) => [column.get(row), row]);
    keyed.sort((a, b) => {
      const [x, y] = [a[0], b[0]];
      if (x === y) return a[1] - b[1];
      if (x === null) return 1; // empty cells last, either way
      if (y === null) return -1;
      if (typeof x === 'number' && typeof y === 'number') return sign * (x - y);
      return sign * String(x).localeCompare(String(y), undefined, {numeric: true});
    });
    return keyed.map((pair) => pair[1]);
  }

  statuses() {
    const present = Object.keys(this.trials.phases()).sort();
    const current = [...this.statusSelect.options].map((o) => o.value);
    for (const phase of present) if (!current.includes(phase)) this.statusSelect.append(el('option', {value: phase}, phase));
  }

  render() {
    this.statuses();
    const columns = this.columns();
    const rows = this.rows(columns);
    const pages = Math.max(1, Math.ceil(rows.length / this.size));
    this.page = Math.min(this.page, pages - 1);
    const shown = rows.slice(this.page * this.size, (this.page + 1) * this.size);
    const best = this.experiment().statusBlock?.currentOptimalTrial?.bestTrialName;
    const namespace = document.body.dataset.namespace;
    const experiment = document.body.dataset.name;
    const head = el('tr', {}, ...columns.map((column) => {
      const sorted = this.sort.key === column.key;
      const label = `${column.header}${sorted ? (this.sort.descending ? ' ▼' : ' ▲') : ''}`;
      return el('th', {scope: 'col', 'aria-sort': sorted ? (this.sort.descending ? 'descending' : 'ascending') : 'none', title: column.title},
        el('button', {type: 'button', 'data-key': column.key, onclick: () => this.sortBy(column.key)}, label));
    }));
    const body = shown.map((row) => {
      const name = this.trials.cols.name[row];
      const cells = columns.map((column) => {
        const raw = column.get(row);
        if (column.link) {
          const href = trialHref(namespace, experiment, raw);
          return el('td', {}, el('a', {href}, raw), name === best ? el('span', {title: 'best trial', 'aria-label': 'best trial'}, ' ★') : null);
        }
        if (typeof raw === 'string' && column.num) return el('td', {class: 'text', title: raw}, raw); // a text metric (a genotype)
        return el('td', {class: column.num ? 'num' : ''}, column.show ? column.show(raw) : fmt(raw));
      });
      return el('tr', {class: name === best ? 'best' : '', 'data-trial': name}, ...cells);
    });
    this.table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
    const first = rows.length ? this.page * this.size + 1 : 0;
    this.pager.replaceChildren(
      el('button', {type: 'button', id: 'prev-page', disabled: this.page === 0, onclick: () => { this.page -= 1; this.render(); }}, '‹ Previous'),
      el('span', {id: 'page-info', role: 'status'}, `${first}–${this.page * this.size + shown.length} of ${rows.length}` +
        (rows.length !== this.trials.count ? ` (${this.trials.count} in all)` : '')),
      el('button', {type: 'button', id: 'next-page', disabled: this.page >= pages - 1, onclick: () => { this.page += 1; this.render(); }}, 'Next ›'),
    );
  }

  sortBy(key) {
    this.sort = this.sort.key === key ? {key, descending: !this.sort.descending} : {key, descending: false};
    this.render();
    this.table.querySelector(`th button[data-key="${CSS.escape(key)}"]`)?.focus();
  }

  csv() {
    const columns = this.columns();
    const lines = [columns.map((c) => csvCell(c.title || c.header)).join(',')];
    for (const row of this.rows(columns)) {
      lines.push(columns.map((c) => {
        const raw = c.get(row);
        return csvCell(c.csv ? c.csv(raw) : raw);
      }).join(','));
    }
    return `${lines.join('\n')}\n`;
  }

  download() {
    downloadText(`${document.body.dataset.name}-trials.csv`, this.csv());
  }
}
