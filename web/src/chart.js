// Time-series charts on uPlot: units on the axis and tooltip, a crosshair
// and the values at it synchronised across the page, drag to zoom into a
// custom range, optional stacking, resizing with the container, colours from
// the theme.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmt, axisFmt, axisSize } from './units.js';
import { fmtTime } from './time.js';
import { h } from './dom.js';

// Colours readable on light and dark backgrounds.
export const PALETTE = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4', '#ec4899', '#84cc16', '#f97316', '#64748b', '#14b8a6', '#a855f7'];

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export const SYNC_KEY = 'herd';

// The values at the cursor's time, on every chart of the page. The chart
// under the pointer shows them in a tooltip beside the cursor; every chart
// synced to it shows them as a line of text over its time axis, whose tick
// labels that line's time stands in for, so no plot is covered (a phone's
// small plots included). Synced charts get their setCursor with no event,
// which tells them apart. The text is rebuilt only when the cursor's data
// index (or the data) changes, so sweeping across a page of charts costs no
// queries and little DOM work.
function valuesPlugin(unit, getRaw) {
  let tip, line, shownIdx = null, shownIn = null;
  const hide = () => { tip.style.display = line.style.display = 'none'; shownIdx = shownIn = null; };
  // [{label, color, v}] of the visible series with a value at i.
  const valuesAt = (u, i) => {
    const raw = getRaw(), out = [];
    for (let s = 1; s < u.series.length; s++) {
      const v = raw ? raw[s - 1][i] : u.data[s][i];
      if (u.series[s].show && v != null) out.push({ label: u.series[s].label, color: u.series[s]._color, v });
    }
    return out;
  };
  return {
    hooks: {
      init(u) {
        tip = h('div.tip', { role: 'tooltip' });
        line = h('div.readout');
        tip.style.display = line.style.display = 'none';
        u.over.append(tip);
        u.over.parentNode.append(line);
        u.over.addEventListener('mouseleave', hide);
      },
      // New data, size or series shown: rebuild at the next move.
      setData() { shownIdx = null; },
      setSize() { shownIdx = null; },
      setSeries() { shownIdx = null; },
      setCursor(u) {
        const i = u.cursor.idx;
        if (i == null || u.cursor.left < 0) { hide(); return; }
        const el = u.cursor.event ? tip : line;
        if (i !== shownIdx || el !== shownIn) {
          const vals = valuesAt(u, i);
          if (!vals.length) { hide(); return; }
          const time = fmtTime(u.data[0][i] * 1000, el === tip || u.scales.x.max - u.scales.x.min > 86400);
          const swatch = (c) => h('span.swatch', { style: `background:${c}` });
          if (el === tip) {
            tip.replaceChildren(h('div.tip-time', time), ...vals.map((x) => h('div.tip-row', swatch(x.color), `${x.label}: `, h('b', fmt(x.v, unit)))));
          } else {
            line.replaceChildren(h('span.ro-time', time), ...vals.map((x) => h('span.ro-item', swatch(x.color), `${x.label} `, h('b', fmt(x.v, unit)))));
            // Over the x axis: from just under the plot's bottom edge (the y
            // axis's lowest label stays whole) to the canvas's.
            const top = (u.bbox.top + u.bbox.height) / uPlot.pxRatio + 7;
            line.style.top = `${top}px`;
            line.style.minHeight = `${u.height - top}px`;
          }
          (el === tip ? line : tip).style.display = 'none';
          el.style.display = ''; // the stylesheet's: block, or flex for the line
          shownIdx = i; shownIn = el;
        }
        if (el === tip) {
          const left = u.cursor.left, top = u.cursor.top;
          const w = tip.offsetWidth, ow = u.over.clientWidth;
          tip.style.left = `${left + 12 + w > ow ? Math.max(0, left - w - 12) : left + 12}px`;
          tip.style.top = `${Math.max(0, top - 10)}px`;
        }
      },
    },
  };
}

/**
 * A chart in el. opts: {unit, stacked, height, onZoom(fromMs, toMs), min, max}.
 * Call set(labels, xsMs, ys, range) with the data; destroy() to remove.
 */
export function chart(el, opts = {}) {
  let u = null, key = '', raw = null;
  const height = opts.height || 180;
  const ro = new ResizeObserver(() => {
    if (u && el.clientWidth && Math.abs(u.width - el.clientWidth) > 2) u.setSize({ width: el.clientWidth, height });
  });
  ro.observe(el);

  function build(labels) {
    if (u) u.destroy();
    const grid = css('--grid') || '#8883', fg = css('--muted') || '#888';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif' };
    const series = [{}];
    labels.forEach((label, i) => {
      const color = PALETTE[i % PALETTE.length];
      series.push({
        label, stroke: color, _color: color, width: 1.5, spanGaps: false, points: { show: false },
        fill: opts.stacked ? color + '55' : undefined,
      });
    });
    const bands = [];
    if (opts.stacked) for (let i = labels.length; i > 1; i--) bands.push({ series: [i, i - 1], fill: PALETTE[(i - 1) % PALETTE.length] + '55' });
    if (opts.stacked) for (let i = 2; i <= labels.length; i++) series[i].fill = undefined;
    u = new uPlot({
      width: el.clientWidth || 400, height,
      series, bands,
      legend: { show: labels.length > 1 || !!opts.legend, live: false },
      cursor: {
        sync: { key: SYNC_KEY },
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
      },
      scales: { x: { time: true }, y: { range: (u, lo, hi) => yRange(lo, hi, opts) } },
      axes: [
        { ...axis, values: (u, ticks) => ticks.map((t) => fmtTick(t, u.scales.x.max - u.scales.x.min)) },
        opts.unit === 'bool'
          ? { ...axis, size: 40, splits: () => [0, 1], values: (u, ticks) => ticks.map((v) => (v ? 'on' : 'off')) }
          : { ...axis, size: axisSize(opts.unit), values: axisFmt(opts.unit) },
      ],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width > 4 && opts.onZoom) {
            const a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, width: 0 }, false);
            opts.onZoom(Math.round(a * 1000), Math.round(b * 1000));
          }
        }],
      },
      // The tooltip shows the values, not the stacked sums.
      plugins: [valuesPlugin(opts.unit, () => raw)],
    }, null, el);
  }

  return {
    /** labels: series names; xs: times in ms; ys: arrays of values; range {from,to}. */
    set(labels, xs, ys, range) {
      const k = labels.join('\u0000');
      if (k !== key || !u) { build(labels); key = k; }
      let data = ys;
      if (opts.stacked) {
        raw = ys;
        const acc = new Array(xs.length).fill(0);
        data = ys.map((s) => s.map((v, i) => (v == null ? null : (acc[i] += v))));
      }
      const xsec = xs.map((t) => t / 1000);
      u.setData([xsec, ...data], false);
      u.setScale('x', { min: range.from / 1000, max: range.to / 1000 });
    },
    get uplot() { return u; },
    destroy() { ro.disconnect(); if (u) u.destroy(); u = null; },
  };
}

function yRange(lo, hi, opts) {
  if (lo == null || hi == null) return [0, 1];
  let min = opts.min != null ? Math.min(opts.min, lo) : lo;
  let max = opts.max != null ? Math.max(opts.max, hi) : hi;
  if (opts.unit === 'percent') { min = Math.min(0, min); max = Math.max(max, Math.min(100, max * 1.1 || 1)); }
  else { min = Math.min(0, min); max = max === min ? min + 1 : max * 1.1; }
  return [min, max];
}

function fmtTick(t, spanSec) {
  const d = new Date(t * 1000);
  const p = (n) => String(n).padStart(2, '0');
  if (spanSec > 3 * 86400) return `${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  if (spanSec > 86400) return `${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  if (spanSec < 600) return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return `${p(d.getHours())}:${p(d.getMinutes())}`;
}
