// Times the overview with 100 hosts: a fresh herd server (built from
// ./cmd/herd unless HERD_BIN is set, no local agent), an hour of
// Telegraf-shaped history for each host written through /write, then the
// page loaded in headless Chromium N times. Prints, from the browser's
// performance timing, when the page was interactive (DOMContentLoaded)
// and when the table with every host was drawn (mark herd:overview-ready).
//
//   node web/bench/overview.mjs [hosts=100] [runs=5]

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createDB, write, history } from '../test/fixture.mjs';

const HOSTS = Number(process.argv[2] || 100);
const RUNS = Number(process.argv[3] || 5);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'herd-ui-bench-'));
let bin = process.env.HERD_BIN;
if (!bin) {
  bin = join(tmp, 'herd');
  execFileSync('go', ['build', '-o', bin, './cmd/herd'], { cwd: root, stdio: 'inherit', env: { ...process.env, CGO_ENABLED: '0' } });
}
const srv = spawn(bin, ['server', '--data-dir', join(tmp, 'data'), '--http-addr', '127.0.0.1:0', '--no-local-agent'], { stdio: ['ignore', 'ignore', 'pipe'] });
const url = await new Promise((resolve, reject) => {
  let buf = '';
  srv.stderr.on('data', (d) => {
    buf += d;
    const m = /msg=listening addr=(\S+)/.exec(buf);
    if (m) resolve(`http://${m[1]}`);
  });
  srv.on('exit', (c) => reject(new Error(`herd server exited ${c}: ${buf}`)));
});

let browser;
try {
  await createDB(url);
  const names = Array.from({ length: HOSTS }, (_, i) => `node-${String(i + 1).padStart(3, '0')}`);
  const now = Date.now();
  const t0 = Date.now();
  const lines = history(names, 3600e3, now, (h) => ({ pi: h.endsWith('7'), tags: `,rack=r${h.slice(-1)}` }));
  await write(url, lines);
  console.log(`wrote ${lines.length} lines for ${HOSTS} hosts in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const results = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    await page.goto(`${url}/`);
    await page.waitForSelector('.overview[data-ready="true"]', { timeout: 30000 });
    const rows = await page.locator('tbody tr').count();
    if (rows !== HOSTS) throw new Error(`overview shows ${rows} rows, want ${HOSTS}`);
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const ready = performance.getEntriesByName('herd:overview-ready')[0];
      const q = performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/query'));
      return { dcl: nav.domContentLoadedEventEnd, ready: ready.startTime, query: q.length ? q[0].duration : NaN, qstart: q.length ? q[0].startTime : NaN, qend: q.length ? q[0].responseEnd : NaN };
    });
    await ctx.close();
    if (i > 0) results.push(t); // the first load warms the server's caches and the browser
  }
  const med = (k) => results.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  console.log(`overview, ${HOSTS} hosts, median of ${RUNS} loads: interactive (DOMContentLoaded) ${med('dcl').toFixed(0)} ms; ` +
    `all hosts drawn ${med('ready').toFixed(0)} ms (query sent at ${med('qstart').toFixed(0)} ms, answered at ${med('qend').toFixed(0)} ms, took ${med('query').toFixed(0)} ms)`);
} finally {
  if (browser) await browser.close();
  srv.kill('SIGINT');
  await new Promise((r) => srv.on('exit', r));
  rmSync(tmp, { recursive: true, force: true });
}
