// Unit tests of the dashboard's pure helpers (no browser).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketMs, durLit, parseDur, timeFilter } from '../src/time.js';
import { fmt } from '../src/units.js';
import { align, sumByLabel } from '../src/data.js';
import { lit, ident } from '../src/api.js';

test('bucket width follows range and pixels, never below 10 s', () => {
  const r = (d) => ({ from: 0, to: parseDur(d) });
  const cases = [['5m', 600, '10s'], ['1h', 600, '10s'], ['1h', 200, '30s'], ['24h', 600, '5m'], ['7d', 600, '30m'], ['30d', 600, '2h'], ['30d', 1800, '30m'], ['30d', 0, '2h']];
  for (const [range, px, want] of cases) assert.equal(durLit(bucketMs(r(range), px)), want, `${range} at ${px}px`);
});

test('durations parse and print as InfluxQL literals', () => {
  assert.equal(parseDur('90s'), 90e3);
  assert.ok(Number.isNaN(parseDur('1x')));
  assert.ok(Number.isNaN(parseDur('')));
  assert.equal(durLit(90e3), '90s');
  assert.equal(durLit(86400e3), '1d');
  assert.equal(timeFilter({ rel: '6h' }), 'time > now() - 6h');
  assert.equal(timeFilter({ rel: null, from: 1000.4, to: 2000.6 }), 'time >= 1000ms AND time <= 2001ms');
});

test('units', () => {
  const cases = [[42.123, 'percent', '42%'], [4.25, 'percent', '4.3%'], [1536, 'bytes', '1.5 KiB'], [3 * 2 ** 30, 'bytes', '3.0 GiB'], [512, 'bytes', '512 B'],
    [125000, 'bytesps', '122 KiB/s'], [61.74, 'celsius', '61.7 °C'], [1.5e9, 'hz', '1.5 GHz'], [3 * 86400 + 3700, 'seconds', '3d 1h'], [null, 'percent', '–'], [true, '', 'yes'], [0.1234, 'short', '0.12']];
  for (const [v, unit, want] of cases) assert.equal(fmt(v, unit), want, `${v} ${unit}`);
});

test('align merges series on the union of their times; sumByLabel adds lines', () => {
  const d = align([
    { name: 'net', tags: { interface: 'eth0' }, columns: ['time', 'rx'], values: [[1, 10], [2, 20]] },
    { name: 'net', tags: { interface: 'wlan0' }, columns: ['time', 'rx'], values: [[2, 5], [3, true]] },
  ], (s) => s.tags.interface);
  assert.deepEqual(d, { labels: ['eth0', 'wlan0'], xs: [1, 2, 3], ys: [[10, 20, null], [null, 5, 1]] });
  const s = sumByLabel({ labels: ['a', 'a'], xs: d.xs, ys: d.ys });
  assert.deepEqual(s.ys, [[10, 25, 1]]);
});

test('InfluxQL quoting', () => {
  assert.equal(lit("it's"), "'it\\'s'");
  assert.equal(lit('a\\b'), "'a\\\\b'");
  assert.equal(ident('we"ird'), '"we\\"ird"');
});
