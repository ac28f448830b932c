// Explore: any InfluxQL, as a chart or a table, with completion of names
// from the SHOW statements and a link that reproduces the view.
// $timeFilter and $interval expand to the page's range and bucket width.

import { query, ident } from './api.js';
import { align } from './data.js';
import { h, clear } from './dom.js';
import { chart } from './chart.js';
import { setParams } from './state.js';
import { timeFilter, bucketMs, durLit, fmtTime } from './time.js';

export const DEFAULT_QUERY = 'SELECT 100 - mean(usage_idle) FROM cpu WHERE cpu = \'cpu-total\' AND $timeFilter GROUP BY time($interval), "host" fill(null)';

const KEYWORDS = ['SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'GROUP BY', 'time(', 'fill(null)', 'fill(none)', 'fill(previous)', 'ORDER BY time DESC', 'LIMIT', 'SLIMIT', 'AS', 'SHOW MEASUREMENTS', 'SHOW FIELD KEYS', 'SHOW TAG KEYS', 'SHOW TAG VALUES WITH KEY =', 'SHOW SERIES', 'SHOW DATABASES', 'now()', '$timeFilter', '$interval',
  'mean(', 'max(', 'min(', 'last(', 'first(', 'sum(', 'count(', 'median(', 'percentile(', 'spread(', 'stddev(', 'non_negative_derivative(', 'derivative(', 'difference(', 'moving_average('];

export function expand(q, range, width) {
  return q.replace(/\$timeFilter|\$__timeFilter/g, timeFilter(range))
    .replace(/\$__interval|\$interval/g, durLit(bucketMs(range, width)));
}

export function mount(el, ctx) {
  const names = { measurements: [], fields: new Map(), tags: new Map(), values: new Map() };
  const input = h('textarea#q', { rows: 3, spellcheck: false, 'aria-label': 'InfluxQL query', autocomplete: 'off', 'aria-autocomplete': 'list', 'aria-controls': 'completions' });
  const list = h('ul#completions.completions', { role: 'listbox', hidden: true });
  const run = h('button.primary#run', { type: 'submit' }, 'Run');
  const viewChart = h('button#view-chart', { type: 'button', onclick: () => setParams({ view: null }) }, 'Chart');
  const viewTable = h('button#view-table', { type: 'button', onclick: () => setParams({ view: 'table' }) }, 'Table');
  const copy = h('button#copy', { type: 'button', onclick: copyLink }, 'Copy link');
  const status = h('span.qstatus', { role: 'status' });
  const out = h('div.results');
  const form = h('form.explore', { onsubmit: (e) => { e.preventDefault(); submit(); } },
    h('div.qbox', input, list),
    h('div.qbar', run, h('span.seg', { role: 'group', 'aria-label': 'View' }, viewChart, viewTable), copy, status,
      h('small.hint', 'Ctrl+Enter runs · Tab completes · $timeFilter, $interval follow the range')));
  const root = h('section.explorepage', form, out);
  el.append(root);
  let c = null, ctrl = null, sel = 0, items = [];

  input.value = ctx.params.q || DEFAULT_QUERY;
  loadNames();

  async function loadNames() {
    try {
      const [m] = await query(['SHOW MEASUREMENTS']);
      names.measurements = (m.series[0]?.values || []).map((v) => v[0]);
    } catch { /* completion is a nicety; errors show when the query runs */ }
  }
  async function loadKeys(meas) {
    if (names.fields.has(meas)) return;
    names.fields.set(meas, []);
    try {
      const [f, t] = await query([`SHOW FIELD KEYS FROM ${ident(meas)}`, `SHOW TAG KEYS FROM ${ident(meas)}`]);
      names.fields.set(meas, (f.series[0]?.values || []).map((v) => v[0]));
      names.tags.set(meas, (t.series[0]?.values || []).map((v) => v[0]));
      complete();
    } catch { /* as above */ }
  }

  async function loadValues(meas, key, k) {
    names.values.set(k, []);
    try {
      const [v] = await query([`SHOW TAG VALUES FROM ${ident(meas)} WITH KEY = ${ident(key)}`]);
      names.values.set(k, (v.series[0]?.values || []).map((x) => x[1]));
      if (document.activeElement === input) complete();
    } catch { /* completion is a nicety */ }
  }

  function complete() {
    const pos = input.selectionStart;
    const before = input.value.slice(0, pos);
    const m = /[\w$"-]*$/.exec(before);
    const word = m[0].replace(/^"/, '');
    const prev = before.slice(0, pos - m[0].length).trimEnd().split(/\s+/).pop().toUpperCase();
    const from = /FROM\s+"?([\w.-]+)"?/i.exec(input.value);
    if (from) loadKeys(from[1]);
    let cands;
    // Inside a quoted value after a tag key: that tag's values.
    const tv = /"?([\w.-]+)"?\s*(?:=|!=|<>)\s*'([^'\\]*)$/.exec(before);
    if (tv && from) {
      const key = `${from[1]}\u0000${tv[1]}`;
      if (!names.values.has(key)) loadValues(from[1], tv[1], key);
      const lw = tv[2].toLowerCase();
      items = (names.values.get(key) || []).filter((x) => x.toLowerCase().startsWith(lw) && x !== tv[2]).slice(0, 12);
      sel = 0;
      showList();
      return;
    }
    if (prev === 'FROM') cands = names.measurements;
    else {
      const meas = from ? from[1] : null;
      cands = [...(meas ? names.fields.get(meas) || [] : []), ...(meas ? names.tags.get(meas) || [] : []), ...KEYWORDS, ...names.measurements];
    }
    const lw = word.toLowerCase();
    items = word.length === 0 ? [] : [...new Set(cands)].filter((x) => x.toLowerCase().startsWith(lw) && x.toLowerCase() !== lw).slice(0, 12);
    sel = 0;
    showList(m[0].length);
  }
  function showList() {
    list.hidden = items.length === 0;
    input.setAttribute('aria-expanded', String(!list.hidden));
    clear(list).append(...items.map((x, i) => h('li', { role: 'option', id: `cmp-${i}`, 'aria-selected': String(i === sel), onmousedown: (e) => { e.preventDefault(); sel = i; accept(); } }, x)));
    if (!list.hidden) input.setAttribute('aria-activedescendant', `cmp-${sel}`);
  }
  function accept() {
    const pos = input.selectionStart;
    const before = input.value.slice(0, pos);
    // An odd number of quotes: the cursor is inside a string (a tag value).
    const inString = (before.match(/'/g) || []).length % 2 === 1;
    const m = inString ? /[^']*$/.exec(before) : /[\w$"-]*$/.exec(before);
    const ins = items[sel];
    input.value = before.slice(0, pos - m[0].length) + ins + input.value.slice(pos);
    const p = pos - m[0].length + ins.length;
    input.setSelectionRange(p, p);
    items = [];
    showList();
  }
  input.addEventListener('input', complete);
  input.addEventListener('blur', () => { items = []; showList(); });
  input.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); submit(); return; }
    if (list.hidden) return;
    if (e.key === 'ArrowDown') { e.preventDefault(); sel = (sel + 1) % items.length; showList(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); sel = (sel - 1 + items.length) % items.length; showList(); }
    else if (e.key === 'Tab' || e.key === 'Enter') { e.preventDefault(); accept(); }
    else if (e.key === 'Escape') { e.preventDefault(); items = []; showList(); }
  });

  function submit() {
    if (ctx.params.q === input.value) execute();
    else setParams({ q: input.value });
  }
  async function copyLink() {
    setParams({ q: input.value }, { replace: true });
    try { await navigator.clipboard.writeText(location.href); status.textContent = 'Link copied.'; } catch { status.textContent = `Link: ${location.href}`; }
  }

  async function execute() {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const q = ctx.params.q || input.value;
    if (document.activeElement !== input && input.value !== q) input.value = q;
    const table = ctx.params.view === 'table';
    viewChart.setAttribute('aria-pressed', String(!table));
    viewTable.setAttribute('aria-pressed', String(table));
    const width = out.clientWidth || 800;
    const t0 = performance.now();
    status.textContent = 'Running…';
    let res;
    try {
      res = await query(expand(q, ctx.range, width), { signal: ctrl.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = '';
      clear(out).append(h('div.error', { role: 'alert' }, e.message));
      return;
    }
    ctx.ok();
    const series = res.flatMap((r) => r.series);
    const rows = series.reduce((n, s) => n + (s.values || []).length, 0);
    status.textContent = `${series.length} series, ${rows} rows in ${Math.round(performance.now() - t0)} ms`;
    if (c) { c.destroy(); c = null; }
    clear(out);
    for (const [i, r] of res.entries()) if (r.error) out.append(h('div.error', { role: 'alert' }, res.length > 1 ? `statement ${i + 1}: ${r.error}` : r.error));
    const timed = series.filter((s) => s.columns[0] === 'time' && (s.values || []).some((row) => row.slice(1).some((v) => typeof v === 'number')));
    if (!table && timed.length) {
      const d = align(timed, (s, col) => [s.name, ...Object.entries(s.tags || {}).map(([k, v]) => `${k}=${v}`), col].join(' '));
      const box = h('div.plot.big');
      out.append(h('figure.panel', box));
      c = chart(box, { unit: 'short', height: 320, legend: true, onZoom: ctx.zoom });
      const xs = d.xs;
      const r = xs.length ? { from: Math.min(ctx.range.from, xs[0]), to: Math.max(ctx.range.to, xs[xs.length - 1]) } : ctx.range;
      c.set(d.labels, xs, d.ys, q.includes('$timeFilter') ? ctx.range : r);
    } else if (series.length) {
      for (const s of series.slice(0, 50)) {
        const tags = Object.entries(s.tags || {}).map(([k, v]) => `${k}=${v}`).join(', ');
        const cellText = (v, col) => (col === 'time' && typeof v === 'number' ? fmtTime(v, true) : typeof v === 'number' ? String(+v.toPrecision(8)) : String(v ?? ''));
        const head = h('thead', h('tr', s.columns.map((col) => h('th', { scope: 'col' }, col))));
        const body = h('tbody', (s.values || []).slice(0, 1000).map((row) => h('tr', row.map((v, j) => h('td', cellText(v, s.columns[j]))))));
        out.append(h('figure.panel.tablepanel', h('figcaption', s.name || '', tags ? ` (${tags})` : ''), h('div.tablewrap', h('table.data', head, body))));
      }
    } else if (!res.some((r) => r.error)) {
      out.append(h('p.none', 'The query returned no data.'));
    }
  }

  return {
    update: execute,
    render() {},
    destroy() { if (ctrl) ctrl.abort(); if (c) c.destroy(); root.remove(); },
  };
}
