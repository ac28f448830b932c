// Time ranges, query time filters and bucket widths.

import { serverNow } from './api.js';

export const RANGES = ['5m', '15m', '1h', '6h', '24h', '7d', '30d'];
export const REFRESHES = ['off', '5s', '10s', '30s', '1m'];

const UNIT = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Parses "5m", "1h", "30d" into milliseconds; NaN when malformed. */
export function parseDur(s) {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(String(s || '').trim());
  return m ? Number(m[1]) * UNIT[m[2]] : NaN;
}

/** Renders milliseconds as an InfluxQL duration literal ("90s", "5m"). */
export function durLit(ms) {
  for (const [u, f] of [['d', UNIT.d], ['h', UNIT.h], ['m', UNIT.m], ['s', UNIT.s]]) {
    if (ms % f === 0) return `${ms / f}${u}`;
  }
  return `${Math.round(ms)}ms`;
}

/**
 * The range of a state: {from, to, rel}. rel is the relative duration
 * string (or null for an absolute range chosen by dragging).
 */
export function resolveRange(st) {
  if (st.from && st.to && +st.to > +st.from) return { from: +st.from, to: +st.to, rel: null };
  const rel = Number.isFinite(parseDur(st.range)) ? st.range : '1h';
  const to = serverNow();
  return { from: to - parseDur(rel), to, rel };
}

/** InfluxQL condition for a range; relative ranges use the server's now(). */
export function timeFilter(r) {
  if (r.rel) return `time > now() - ${r.rel}`;
  return `time >= ${Math.floor(r.from)}ms AND time <= ${Math.ceil(r.to)}ms`;
}

// Bucket widths a person reads easily, like Grafana's interval rounding.
const NICE = [10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3];

/**
 * Bucket width for a chart pixelWidth wide showing the range: about one
 * point per pixel, never below the agents' 10 s interval, so a 30-day chart
 * fetches hourly means and not raw points (Grafana's $__interval).
 */
export function bucketMs(r, pixelWidth) {
  const raw = (r.to - r.from) / Math.max(50, pixelWidth || 600);
  return NICE.find((n) => n >= raw) || NICE[NICE.length - 1];
}

const pad = (n) => String(n).padStart(2, '0');
export function fmtTime(ms, withDate) {
  const d = new Date(ms);
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}` : t;
}
