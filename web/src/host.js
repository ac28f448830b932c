// One host in detail. Every panel is one or more statements; all of them
// go to the server in one request, with the bucket width from the range
// and the charts' pixel width.

import { query, lit, serverNow } from './api.js';
import { align, sumByLabel, lastRow } from './data.js';
import { h, clear } from './dom.js';
import { chart } from './chart.js';
import { fmt, duration } from './units.js';
import { href, go, globals } from './state.js';
import { timeFilter, bucketMs, durLit } from './time.js';
import { statusOf, DEFAULT_STALE, DEFAULT_DOWN } from './overview.js';
import { parseDur } from './time.js';

const drop = (d, keep) => {
  const idx = d.labels.map((_, i) => i).filter((i) => keep(d.labels[i], d.ys[i]));
  return { labels: idx.map((i) => d.labels[i]), xs: d.xs, ys: idx.map((i) => d.ys[i]) };
};
// Loop and RAM devices clutter disk I/O; lines that never move say nothing.
const moving = (l, ys) => !/^(loop|ram|zram)\d/.test(l) && ys.some((v) => v);

/**
 * Panels: section, title, unit, statements(w) with w = {host cond, tf, iv},
 * optional shape(results) -> {labels, xs, ys}, stacked, optional (hidden
 * without data).
 */
const PANELS = [
  { sec: 'CPU', title: 'CPU usage', unit: 'percent', max: 100,
    q: (w) => [`SELECT 100 - mean(usage_idle) AS "usage" FROM cpu WHERE ${w.host} AND cpu = 'cpu-total' AND ${w.tf} GROUP BY time(${w.iv}) fill(null)`] },
  { sec: 'CPU', title: 'CPU by mode', unit: 'percent', stacked: true,
    q: (w) => [`SELECT mean(usage_user) AS "user", mean(usage_system) AS "system", mean(usage_iowait) AS "iowait", mean(usage_nice) AS "nice", mean(usage_irq) AS "irq", mean(usage_softirq) AS "softirq", mean(usage_steal) AS "steal" FROM cpu WHERE ${w.host} AND cpu = 'cpu-total' AND ${w.tf} GROUP BY time(${w.iv}) fill(null)`] },
  { sec: 'CPU', title: 'CPU per core', unit: 'percent', max: 100,
    q: (w) => [`SELECT 100 - mean(usage_idle) AS "usage" FROM cpu WHERE ${w.host} AND cpu != 'cpu-total' AND ${w.tf} GROUP BY time(${w.iv}), "cpu" fill(null)`],
    label: (s) => s.tags.cpu },
  { sec: 'CPU', title: 'Load average', unit: 'short',
    q: (w) => [`SELECT mean(load1) AS "load1", mean(load5) AS "load5", mean(load15) AS "load15" FROM system WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}) fill(null)`] },
  { sec: 'Memory', title: 'Memory', unit: 'bytes', stacked: true,
    q: (w) => [`SELECT mean(used) AS "used", mean(buffered) AS "buffered", mean(cached) AS "cached", mean(free) AS "free" FROM mem WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}) fill(null)`] },
  { sec: 'Memory', title: 'Swap used', unit: 'bytes',
    q: (w) => [`SELECT mean(used) AS "used" FROM swap WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}) fill(null)`] },
  { sec: 'Disks', title: 'Disk usage per mount', unit: 'percent', max: 100,
    q: (w) => [`SELECT last(used_percent) AS "used" FROM disk WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}), "path" fill(none)`],
    label: (s) => s.tags.path },
  { sec: 'Disks', title: 'Disk I/O', unit: 'bytesps',
    q: (w) => [
      `SELECT non_negative_derivative(mean(read_bytes), 1s) AS "read" FROM diskio WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}), "name" fill(none)`,
      `SELECT non_negative_derivative(mean(write_bytes), 1s) AS "write" FROM diskio WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}), "name" fill(none)`],
    label: (s, c) => `${s.tags.name} ${c}`, filter: moving },
  { sec: 'Network', title: 'Network traffic', unit: 'bytesps',
    q: (w) => [
      `SELECT non_negative_derivative(mean(bytes_recv), 1s) AS "rx" FROM net WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}), "interface" fill(none)`,
      `SELECT non_negative_derivative(mean(bytes_sent), 1s) AS "tx" FROM net WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}), "interface" fill(none)`],
    label: (s, c) => `${s.tags.interface} ${c}` },
  { sec: 'Network', title: 'Network errors and drops', unit: 'ops', optional: true,
    q: (w) => ['err_in', 'err_out', 'drop_in', 'drop_out'].map((f) => `SELECT non_negative_derivative(max(${f}), 1s) AS "${f}" FROM net WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}) fill(none)`),
    filter: (l, ys) => ys.some((v) => v) },
  { sec: 'Sensors', title: 'Temperatures', unit: 'celsius', optional: true,
    q: (w) => [`SELECT mean(temp) AS "temp" FROM temp WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}), "sensor" fill(null)`],
    label: (s) => s.tags.sensor },
  { sec: 'Processes', title: 'Processes', unit: 'short',
    q: (w) => [`SELECT mean(running) AS "running", mean(blocked) AS "blocked", mean(zombies) AS "zombies", mean(sleeping) AS "sleeping" FROM processes WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}) fill(null)`] },
  // max() of a boolean per bucket: on if it was on at any sample, so a
  // short brown-out still shows on a 30-day chart.
  { sec: 'Raspberry Pi', title: 'Throttling (1 = active)', unit: 'bool', optional: true, max: 1,
    q: (w) => [`SELECT max(under_voltage) AS "under_voltage", max(throttled) AS "throttled", max(freq_capped) AS "freq_capped", max(soft_temp_limit) AS "soft_temp_limit" FROM rpi WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}) fill(none)`] },
  { sec: 'Raspberry Pi', title: 'ARM clock', unit: 'hz', optional: true,
    q: (w) => [`SELECT mean(arm_freq_hz) AS "arm_freq" FROM rpi WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}) fill(null)`] },
  { sec: 'Docker', title: 'Container CPU', unit: 'percent', optional: true,
    q: (w) => [`SELECT mean(usage_percent) AS "cpu" FROM docker_container_cpu WHERE ${w.host} AND cpu = 'cpu-total' AND ${w.tf} GROUP BY time(${w.iv}), "container_name" fill(none)`],
    label: (s) => s.tags.container_name },
  { sec: 'Docker', title: 'Container memory', unit: 'bytes', optional: true,
    q: (w) => [`SELECT mean(usage) AS "mem" FROM docker_container_mem WHERE ${w.host} AND ${w.tf} GROUP BY time(${w.iv}), "container_name" fill(none)`],
    label: (s) => s.tags.container_name },
];

// Current values for the header, the mounts list and the containers table.
const FACTS = (w) => [
  'SHOW TAG VALUES FROM system WITH KEY = "host"',
  `SELECT last(uptime) AS "uptime" FROM system WHERE ${w.host} AND time > now() - 30d`,
  `SELECT last(n_cpus) AS "n_cpus" FROM system WHERE ${w.host} AND time > now() - 1h`,
  `SELECT last(total) AS "total" FROM mem WHERE ${w.host} AND time > now() - 1h`,
  `SELECT last(used) AS "used", last(total) AS "total", last(used_percent) AS "pct" FROM disk WHERE ${w.host} AND time > now() - 1h GROUP BY "path", "fstype"`,
  `SELECT last(usage_percent) AS "cpu" FROM docker_container_cpu WHERE ${w.host} AND cpu = 'cpu-total' AND time > now() - 5m GROUP BY "container_name"`,
  `SELECT last(usage) AS "mem" FROM docker_container_mem WHERE ${w.host} AND time > now() - 5m GROUP BY "container_name"`,
  `SELECT last(uptime_ns) AS "up" FROM docker_container_status WHERE ${w.host} AND time > now() - 5m GROUP BY "container_name", "container_status", "container_image"`,
  `SELECT last(under_voltage_occurred) AS "uvo", last(throttled_occurred) AS "thro", last(under_voltage) AS "uv", last(throttled) AS "thr" FROM rpi WHERE ${w.host} AND time > now() - 1h`,
];

export function mount(el, ctx) {
  const name = ctx.path.slice('/host/'.length);
  let ctrl = null;
  const charts = new Map();
  const hostSel = h('select#hostsel', { 'aria-label': 'Host', onchange: (e) => go(`/host/${e.target.value}`, { ...globals() }) }, h('option', name));
  const facts = h('div.facts');
  const sections = h('div.sections');
  const extras = h('div.extras');
  const root = h('section.hostpage',
    h('div.toolbar', h('a.back', { href: href('/', globals()) }, '← Overview'), hostSel, facts),
    extras, sections);
  el.append(root);

  // Build panels once, grouped by section, so refreshes update in place.
  let lastSec = null, grid = null;
  for (const p of PANELS) {
    if (p.sec !== lastSec) {
      grid = h('div.grid');
      sections.append(h('section.sec', { 'data-sec': p.sec }, h('h2', p.sec), grid));
      lastSec = p.sec;
    }
    const box = h('div.plot');
    const panel = h('figure.panel', { 'data-title': p.title }, h('figcaption', p.title), box, h('div.nodata', { hidden: true }, 'no data in this range'));
    grid.append(panel);
    charts.set(p, { panel, box, c: chart(box, { unit: p.unit, stacked: p.stacked, max: p.max, onZoom: ctx.zoom, height: 170 }) });
  }

  async function load() {
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const r = ctx.range;
    const width = charts.values().next().value.box.clientWidth || 500;
    const w = { host: `"host" = ${lit(name)}`, tf: timeFilter(r), iv: durLit(bucketMs(r, width)) };
    const stmts = [];
    const spans = new Map();
    for (const p of PANELS) {
      const q = p.q(w);
      spans.set(p, [stmts.length, q.length]);
      stmts.push(...q);
    }
    const factsAt = stmts.length;
    stmts.push(...FACTS(w));
    let res;
    try {
      res = await query(stmts, { signal: ctrl.signal });
    } catch (e) {
      if (e.name !== 'AbortError') ctx.fail(e);
      return;
    }
    ctx.ok();
    const secHas = new Map();
    for (const p of PANELS) {
      const [i, n] = spans.get(p);
      const part = res.slice(i, i + n);
      const err = part.find((x) => x.error);
      let d = align(part.flatMap((x) => x.series), p.label || ((s, c) => c));
      if (p.filter) d = drop(d, p.filter);
      if (p.sum) d = sumByLabel(d);
      const { panel, c } = charts.get(p);
      const has = d.labels.length > 0 && d.xs.length > 0;
      panel.hidden = !has && p.optional;
      panel.querySelector('.nodata').hidden = has;
      panel.querySelector('.nodata').textContent = err ? `query failed: ${err.error}` : 'no data in this range';
      panel.dataset.series = d.labels.join(',');
      if (has) c.set(d.labels, d.xs, d.ys, r);
      secHas.set(p.sec, (secHas.get(p.sec) || false) || !panel.hidden);
    }
    for (const s of sections.querySelectorAll('section.sec')) s.hidden = !secHas.get(s.dataset.sec);
    renderFacts(res.slice(factsAt));
  }

  function renderFacts(f) {
    const hostsList = (f[0].series[0]?.values || []).map((v) => v[1]).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    if (!hostsList.includes(name)) hostsList.unshift(name);
    clear(hostSel).append(...hostsList.map((n) => h('option', { value: n, selected: n === name }, n)));
    const sys = lastRow(f[1].series[0]);
    const last = sys ? sys.time : 0;
    const st = statusOf({ lastSeen: last }, serverNow(), parseDur(ctx.params.stale) || parseDur(DEFAULT_STALE), parseDur(ctx.params.down) || parseDur(DEFAULT_DOWN));
    const ncpu = lastRow(f[2].series[0])?.n_cpus, mem = lastRow(f[3].series[0])?.total;
    const rpi = lastRow(f[8].series[0]);
    clear(facts).append(...[
      h(`span.badge.${st}`, { id: 'hoststatus' }, h('span.dot'), st),
      h('span', last ? `last point ${duration((serverNow() - last) / 1000)} ago` : 'no point in 30 days'),
      sys && sys.uptime != null ? h('span', `up ${fmt(sys.uptime, 'seconds')}`) : null,
      ncpu ? h('span', `${ncpu} CPUs`) : null,
      mem ? h('span', `${fmt(mem, 'bytes')} RAM`) : null,
      rpi && (rpi.uv || rpi.thr || rpi.uvo || rpi.thro) ? h('span.warnbadge', '⚠ ', [rpi.uv && 'under-voltage now', rpi.thr && 'throttled now', rpi.uvo && 'under-voltage since boot', rpi.thro && 'throttled since boot'].filter(Boolean).join(', ')) : null,
    ].filter(Boolean));

    // Mounts with bars; containers as a table.
    const mounts = f[4].series.map((s) => ({ path: s.tags.path, fstype: s.tags.fstype, ...lastRow(s) })).sort((a, b) => a.path.localeCompare(b.path));
    const cpuBy = new Map(f[5].series.map((s) => [s.tags.container_name, lastRow(s).cpu]));
    const memBy = new Map(f[6].series.map((s) => [s.tags.container_name, lastRow(s).mem]));
    const ctrs = f[7].series.map((s) => ({ name: s.tags.container_name, status: s.tags.container_status, image: s.tags.container_image }));
    for (const n of cpuBy.keys()) if (!ctrs.some((c) => c.name === n)) ctrs.push({ name: n });
    clear(extras).append(...[
      mounts.length ? h('figure.panel.mounts', h('figcaption', 'Filesystems'), h('table.mini', h('tbody', mounts.map((m) => h('tr',
        h('th', { scope: 'row' }, m.path, h('small', ` ${m.fstype || ''}`)),
        h('td.meter', h('meter', { min: 0, max: 100, low: 80, high: 90, optimum: 0, value: m.pct ?? 0 })),
        h('td.num', fmt(m.pct, 'percent')),
        h('td.num', `${fmt(m.used, 'bytes')} of ${fmt(m.total, 'bytes')}`)))))) : null,
      ctrs.length ? h('figure.panel.containers', h('figcaption', 'Docker containers'), h('table.mini',
        h('thead', h('tr', ['Container', 'Image', 'State', 'CPU', 'Memory'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', ctrs.sort((a, b) => a.name.localeCompare(b.name)).map((c) => h('tr',
          h('th', { scope: 'row' }, c.name), h('td', c.image || ''), h('td', h(`span.state.${c.status || 'unknown'}`, c.status || '?')),
          h('td.num', fmt(cpuBy.get(c.name), 'percent')), h('td.num', fmt(memBy.get(c.name), 'bytes'))))))) : null,
    ].filter(Boolean));
  }

  return {
    update: load,
    render() {},
    destroy() { if (ctrl) ctrl.abort(); for (const { c } of charts.values()) c.destroy(); root.remove(); },
  };
}
