// The cluster at a glance: one row per host, a dozen statements in one
// request whatever the number of hosts (every statement GROUP BY "host").

import { query, lit, serverNow, isNoDatabase } from './api.js';
import { byTag, lastRow } from './data.js';
import { h, clear } from './dom.js';
import { fmt, duration } from './units.js';
import { href, setParams, globals } from './state.js';
import { parseDur } from './time.js';
import { sparkline } from './spark.js';

export const DEFAULT_STALE = '1m';
export const DEFAULT_DOWN = '5m';
const TF = 'time > now() - 1h';
const SPARK = '1m';

/** The overview's statements; exported for the benchmark and tests. */
export const STATEMENTS = [
  // Every host that ever reported; from one measurement, which is much
  // cheaper than asking every measurement.
  'SHOW TAG VALUES FROM system WITH KEY = "host"',
  `SELECT last(uptime) AS "uptime" FROM system WHERE ${TF} GROUP BY *`,
  `SELECT last(load1) AS "load1" FROM system WHERE ${TF} GROUP BY "host"`,
  `SELECT last(n_cpus) AS "n_cpus" FROM system WHERE ${TF} GROUP BY "host"`,
  `SELECT last(usage_idle) AS "idle" FROM cpu WHERE cpu = 'cpu-total' AND ${TF} GROUP BY "host"`,
  `SELECT last(used_percent) AS "used" FROM mem WHERE ${TF} GROUP BY "host"`,
  `SELECT last(used_percent) AS "used" FROM disk WHERE path = '/' AND ${TF} GROUP BY "host"`,
  `SELECT last(temp) AS "temp" FROM temp WHERE ${TF} GROUP BY "host", "sensor"`,
  `SELECT last(under_voltage) AS "uv", last(under_voltage_occurred) AS "uvo", last(throttled) AS "thr", last(throttled_occurred) AS "thro", last(freq_capped) AS "cap", last(soft_temp_limit) AS "soft" FROM rpi WHERE ${TF} GROUP BY "host"`,
  `SELECT mean(usage_idle) AS "idle" FROM cpu WHERE cpu = 'cpu-total' AND ${TF} GROUP BY time(${SPARK}), "host" fill(none)`,
  `SELECT mean(used_percent) AS "used" FROM mem WHERE ${TF} GROUP BY time(${SPARK}), "host" fill(none)`,
  `SELECT non_negative_derivative(max(bytes_recv), 1s) AS "rate" FROM net WHERE ${TF} GROUP BY time(${SPARK}), "host", "interface" fill(none)`,
  `SELECT non_negative_derivative(max(bytes_sent), 1s) AS "rate" FROM net WHERE ${TF} GROUP BY time(${SPARK}), "host", "interface" fill(none)`,
];

const COLUMNS = [
  { key: 'status', label: 'Status' },
  { key: 'name', label: 'Host' },
  { key: 'cpu', label: 'CPU' },
  { key: 'mem', label: 'Memory' },
  { key: 'disk', label: 'Disk /' },
  { key: 'temp', label: 'Temp' },
  { key: 'load', label: 'Load' },
  { key: 'uptime', label: 'Uptime' },
  { key: 'net', label: 'Network' },
];
const STATUS_ORDER = { down: 0, stale: 1, up: 2 };

/** Collects the rows of the overview from the results of STATEMENTS. */
export function buildHosts(res, extraLastSeen = new Map()) {
  const hosts = new Map();
  const get = (name) => {
    if (!hosts.has(name)) hosts.set(name, { name, tags: {}, lastSeen: 0, spark: {} });
    return hosts.get(name);
  };
  for (const s of res[0].series) for (const [, v] of s.values || []) get(v);
  const seen = (host, t) => { if (t > host.lastSeen) host.lastSeen = t; };
  const each = (i, fn) => { for (const s of res[i].series) { const r = lastRow(s); if (r && s.tags && s.tags.host != null) fn(get(s.tags.host), r, s); } };
  each(1, (x, r, s) => {
    if (r.time >= x.lastSeen) {
      x.uptime = r.uptime;
      for (const [k, v] of Object.entries(s.tags)) if (k !== 'host' && v) x.tags[k] = v;
    }
    seen(x, r.time);
  });
  each(2, (x, r) => { x.load = r.load1; });
  each(3, (x, r) => { x.ncpu = r.n_cpus; });
  each(4, (x, r) => { x.cpu = r.idle == null ? null : 100 - r.idle; seen(x, r.time); });
  each(5, (x, r) => { x.mem = r.used; seen(x, r.time); });
  each(6, (x, r) => { x.disk = r.used; });
  each(7, (x, r, s) => {
    // The SoC sensor of a Pi when there is one, else the hottest.
    if (s.tags.sensor === 'cpu_thermal') x.socTemp = r.temp;
    else x.maxTemp = Math.max(x.maxTemp ?? -Infinity, r.temp);
  });
  each(8, (x, r) => { x.rpi = r; });
  for (const [i, key, tf] of [[9, 'cpu', (v) => 100 - v], [10, 'mem', (v) => v]]) {
    for (const [name, list] of byTag(res[i].series)) {
      get(name).spark[key] = (list[0].values || []).map(([t, v]) => [t, v == null ? null : tf(v)]);
    }
  }
  // Network: rx + tx of every interface, summed per host and minute.
  const net = new Map();
  for (const i of [11, 12]) {
    for (const s of res[i].series) {
      if (!s.tags) continue;
      const m = net.get(s.tags.host) || new Map();
      net.set(s.tags.host, m);
      for (const [t, v] of s.values || []) if (v != null) m.set(t, (m.get(t) || 0) + v);
    }
  }
  for (const [name, m] of net) {
    const pts = [...m].sort((a, b) => a[0] - b[0]);
    const x = get(name);
    x.spark.net = pts;
    // The newest minute is still filling: its rate reads low.
    const p = pts.length > 1 ? pts[pts.length - 2] : pts[0];
    x.net = p ? p[1] : null;
  }
  for (const [name, t] of extraLastSeen) if (hosts.has(name)) seen(hosts.get(name), t);
  for (const x of hosts.values()) {
    x.temp = x.socTemp ?? (Number.isFinite(x.maxTemp) ? x.maxTemp : null);
    const r = x.rpi;
    x.warn = r ? [r.uv && 'under-voltage', r.thr && 'throttled', r.cap && 'frequency capped', r.soft && 'soft temp limit', !r.uv && r.uvo && 'under-voltage since boot', !r.thr && r.thro && 'throttled since boot'].filter(Boolean) : [];
  }
  return [...hosts.values()];
}

export function statusOf(host, now, staleMs, downMs) {
  if (!host.lastSeen) return 'down';
  const age = now - host.lastSeen;
  return age > downMs ? 'down' : age > staleMs ? 'stale' : 'up';
}

export function mount(el, ctx) {
  let hosts = null;
  let ctrl = null;
  const summary = h('div.summary', { role: 'group', 'aria-label': 'Hosts by status' });
  const filter = h('input.filter', { type: 'search', placeholder: 'Filter by name or tag  (/)', 'aria-label': 'Filter hosts by name or tag' });
  const groupSel = h('select', { 'aria-label': 'Group', hidden: true });
  const thresholds = h('details.thresholds');
  thresholdsForm(thresholds, ctx.params);
  const table = h('table.hosts');
  const body = h('div.tablewrap', table);
  const root = h('section.overview', h('div.toolbar', summary, filter, groupSel, thresholds), body);
  el.append(root);

  filter.addEventListener('input', () => setParams({ filter: filter.value }, { replace: true }));
  groupSel.addEventListener('change', () => setParams({ group: groupSel.value }));
  const onKey = (e) => {
    if (e.key === '/' && document.activeElement === document.body) { e.preventDefault(); filter.focus(); }
  };
  document.addEventListener('keydown', onKey);

  async function load() {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const signal = ctrl.signal;
    try {
      const res = await query(STATEMENTS, { signal });
      const bad = res.find((r) => r.error && !/not found/.test(r.error));
      if (res[0].error && isNoDatabase(res[0].error)) { hosts = []; render(); ctx.ok(); return; }
      if (bad) throw new Error(bad.error);
      // Hosts silent for the whole hour: find when they were last heard of.
      const silent = new Set((res[0].series.flatMap((s) => s.values || [])).map((v) => v[1]));
      for (const s of res[1].series.concat(res[4].series)) if (s.tags) silent.delete(s.tags.host);
      const extra = new Map();
      if (silent.size) {
        const cond = [...silent].slice(0, 200).map((n) => `"host" = ${lit(n)}`).join(' OR ');
        const old = await query([`SELECT last(uptime) FROM system WHERE time > now() - 30d AND (${cond}) GROUP BY "host"`], { signal });
        for (const s of old[0].series) { const r = lastRow(s); if (r) extra.set(s.tags.host, r.time); }
      }
      hosts = buildHosts(res, extra);
      ctx.ok();
      render();
    } catch (e) {
      if (e.name === 'AbortError') return;
      ctx.fail(e);
      if (hosts == null) { clear(table); }
    }
  }

  function render() {
    const p = ctx.params;
    if (document.activeElement !== filter) filter.value = p.filter || '';
    const empty = hosts && hosts.length === 0;
    filter.hidden = thresholds.hidden = empty;
    if (empty) {
      clear(body).append(emptyState());
      summary.textContent = '';
      groupSel.hidden = true;
      return;
    }
    if (!body.contains(table)) clear(body).append(table);
    const staleMs = parseDur(p.stale) || parseDur(DEFAULT_STALE);
    const downMs = parseDur(p.down) || parseDur(DEFAULT_DOWN);
    const now = serverNow();
    for (const x of hosts) x.status = statusOf(x, now, staleMs, downMs);

    // Counts, also buttons that filter by state.
    const counts = { up: 0, stale: 0, down: 0 };
    for (const x of hosts) counts[x.status]++;
    clear(summary).append(
      h('button.chip', { 'aria-pressed': String(!p.status), onclick: () => setParams({ status: null }) }, `${hosts.length} hosts`),
      ...['up', 'stale', 'down'].map((s) => h(`button.chip.${s}`, {
        'aria-pressed': String(p.status === s), 'data-status': s,
        onclick: () => setParams({ status: p.status === s ? null : s }),
      }, h('span.dot'), `${counts[s]} ${s}`)),
    );

    // Groups: every tag other than host that agents set (global [tags]).
    const groups = new Set();
    for (const x of hosts) for (const [k, v] of Object.entries(x.tags)) groups.add(`${k}=${v}`);
    clear(groupSel).append(h('option', { value: '' }, 'All groups'), ...[...groups].sort().map((g) => h('option', { value: g, selected: g === p.group }, g)));
    groupSel.hidden = groups.size === 0;

    const q = (p.filter || '').toLowerCase();
    const [gk, gv] = (p.group || '').split(/=(.*)/s);
    const rows = hosts.filter((x) => (!p.status || x.status === p.status)
      && (!p.group || x.tags[gk] === gv)
      && (!q || x.name.toLowerCase().includes(q) || Object.values(x.tags).some((v) => v.toLowerCase().includes(q))));
    const [sortKey, dir] = (p.sort || 'status').split(':');
    const sign = dir === 'desc' ? -1 : 1;
    const val = (x) => sortKey === 'status' ? STATUS_ORDER[x.status] : sortKey === 'name' ? x.name : (x[sortKey] ?? -Infinity);
    rows.sort((a, b) => {
      const va = val(a), vb = val(b);
      const c = typeof va === 'string' ? va.localeCompare(vb, undefined, { numeric: true }) : va - vb;
      return sign * c || a.name.localeCompare(b.name, undefined, { numeric: true });
    });

    const g = globals();
    const head = h('tr', COLUMNS.map((c) => {
      const active = sortKey === c.key;
      return h('th', { scope: 'col', 'aria-sort': active ? (sign > 0 ? 'ascending' : 'descending') : null },
        h('button.sort', { onclick: () => setParams({ sort: active && sign > 0 ? `${c.key}:desc` : c.key }) }, c.label, active ? (sign > 0 ? ' ▲' : ' ▼') : ''));
    }));
    const spark = [];
    const trs = rows.map((x) => {
      const cell = (v, unit, key, cls) => {
        const td = h(`td.num${cls ? '.' + cls : ''}`, { 'data-label': COLUMNS.find((c) => c.key === key).label }, h('span.v', fmt(v, unit)));
        if (x.spark[key] && x.spark[key].length > 1) {
          const c = h('canvas.spark', { width: 72, height: 22, 'aria-hidden': 'true' });
          td.prepend(c);
          spark.push([c, x.spark[key], unit === 'percent' ? 100 : null]);
        } else if (key === 'cpu' || key === 'mem' || key === 'net') {
          td.prepend(h('span.spark.nospark', { 'aria-hidden': 'true' })); // keeps the column aligned
        }
        return td;
      };
      const level = (v, warn, crit) => (v == null ? '' : v >= crit ? 'crit' : v >= warn ? 'warn' : '');
      const ago = x.lastSeen ? duration((now - x.lastSeen) / 1000) + ' ago' : 'never';
      return h('tr', { 'data-host': x.name, 'data-status': x.status },
        h('td', { 'data-label': 'Status' }, h(`span.badge.${x.status}`, { title: `last point ${ago}` }, h('span.dot'), x.status)),
        h('th.host', { scope: 'row' },
          h('a', { href: href(`/host/${x.name}`, g) }, x.name),
          x.warn.length ? h('span.warnbadge', { title: x.warn.join(', ') }, '⚠ ', x.warn[0]) : null,
          x.status !== 'up' ? h('small.ago', ` · ${ago}`) : null,
          Object.entries(x.tags).map(([k, v]) => h('small.tag', `${k}=${v}`))),
        cell(x.cpu, 'percent', 'cpu', level(x.cpu, 80, 95)),
        cell(x.mem, 'percent', 'mem', level(x.mem, 80, 95)),
        cell(x.disk, 'percent', 'disk', level(x.disk, 85, 95)),
        cell(x.temp, 'celsius', 'temp', level(x.temp, 70, 80)),
        cell(x.load, 'short', 'load', x.load != null && x.ncpu ? level(x.load / x.ncpu, 1, 2) : ''),
        h('td.num', { 'data-label': 'Uptime' }, fmt(x.uptime, 'seconds')),
        cell(x.net, 'bytesps', 'net'));
    });
    // Auto-refresh redraws the table: keep the keyboard focus where it was.
    const focused = table.contains(document.activeElement) ? document.activeElement : null;
    const focusHost = focused && focused.closest('tr') ? focused.closest('tr').dataset.host : null;
    const focusSort = focused && focused.classList.contains('sort') ? focused.textContent : null;
    table.replaceChildren(h('thead', head), h('tbody', trs.length ? trs : h('tr', h('td.none', { colspan: COLUMNS.length }, 'No host matches the filter.'))));
    if (focusHost != null) table.querySelector(`tr[data-host="${CSS.escape(focusHost)}"] a`)?.focus();
    else if (focusSort) [...table.querySelectorAll('button.sort')].find((b) => b.textContent.split(' ')[0] === focusSort.split(' ')[0])?.focus();
    const color = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#3b82f6';
    // One time axis for all: a host that went quiet shows where its line ends.
    for (const [c, pts, max] of spark) sparkline(c, pts, max, color, now - 3600e3, now);
    // The benchmark reads this: the first render with data is "interactive".
    if (!performance.getEntriesByName('herd:overview-ready').length) performance.mark('herd:overview-ready');
    root.dataset.ready = 'true';
  }

  function emptyState() {
    const url = `${location.protocol}//${location.host}`;
    return h('div.empty',
      h('h2', 'No host has reported yet'),
      h('p', 'Start an agent on each machine you want to watch; it reports every 10 seconds:'),
      h('pre', h('code', `herd agent --url ${url}`)),
      h('p', 'Or install and start agents on many hosts over SSH, from an Ansible-style inventory:'),
      h('pre', h('code', 'herd deploy -i inventory.ini')),
      h('p', 'Telegraf works as well: point its ', h('code', '[[outputs.influxdb]]'), ` urls at ${url} (database "telegraf").`));
  }

  return {
    update() { if (hosts) render(); load(); },
    render() { if (hosts) render(); },
    destroy() { if (ctrl) ctrl.abort(); document.removeEventListener('keydown', onKey); root.remove(); },
  };
}

function thresholdsForm(el, p) {
  if (el.childElementCount) return;
  const inp = (key, def, label) => h('label', label, h('input', {
    value: p[key] || def, size: 4, 'aria-label': label,
    onchange: (e) => setParams({ [key]: Number.isFinite(parseDur(e.target.value)) ? e.target.value : null }),
  }));
  el.append(h('summary', 'Thresholds'), h('div.th', inp('stale', DEFAULT_STALE, 'stale after'), inp('down', DEFAULT_DOWN, 'down after')));
}
