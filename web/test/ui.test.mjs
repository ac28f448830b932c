// Browser tests of the dashboard against a real herd server (HERD_URL) whose
// local agent reports this machine (HERD_LOCAL_HOST). The test writes three
// more hosts that keep reporting and one that stopped 15 minutes ago.
// Run by internal/ui's TestBrowser (go test, make test); screenshots of every
// page, light and dark, go to HERD_ARTIFACTS (test-artifacts/ui).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createDB, write, history, hostLines } from './fixture.mjs';

const URL_ = process.env.HERD_URL;
const LOCAL = process.env.HERD_LOCAL_HOST;
const ART = process.env.HERD_ARTIFACTS || 'test-artifacts/ui';
const LIVE = ['pi-01', 'pi-02', 'pi-03'];
const opts = (h) => ({ pi: h === 'pi-01', docker: h === 'pi-02', tags: h === 'pi-03' ? ',rack=b' : ',rack=a' });
assert.ok(URL_, 'HERD_URL names the herd server under test');

let browser, ticker, tick = 400;

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`);
}

async function q(stmt) {
  const res = await fetch(`${URL_}/query?db=telegraf&epoch=ms&q=${encodeURIComponent(stmt)}`);
  return (await res.json()).results[0];
}

before(async () => {
  mkdirSync(ART, { recursive: true });
  await createDB(URL_);
  const now = Date.now();
  await write(URL_, history(LIVE, 3600e3, now, opts));
  await write(URL_, history(['pi-dead'], 3600e3, now - 15 * 60e3, () => ({ pi: true })));
  await write(URL_, history(['pi-stale'], 3600e3, now - 2 * 60e3, () => ({})));
  // Live hosts keep reporting while the tests run, as agents would.
  ticker = setInterval(() => {
    const t = Date.now();
    tick++;
    write(URL_, LIVE.flatMap((h) => hostLines(h, t, tick, opts(h)))).catch(() => {});
  }, 3000);
  if (LOCAL) {
    await until(`the local agent's first point for ${LOCAL}`, async () => {
      const r = await q(`SELECT last(uptime) FROM system WHERE "host" = '${LOCAL}'`);
      return r.series && r.series.length;
    }, 30000);
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  clearInterval(ticker);
  if (browser) await browser.close();
});

/** A page that records console errors and uncaught exceptions. */
async function open(hash, { scheme = 'light', width = 1280, height = 900 } = {}) {
  const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: scheme });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(`${URL_}/${hash}`);
  page.done = async () => {
    assert.deepEqual(page.errors, [], 'console errors');
    await ctx.close();
  };
  return page;
}

const hashOf = (page) => decodeURIComponent(new URL(page.url()).hash);
/** A parameter of the page state in the URL fragment. */
const param = (page, key) => {
  const h = new URL(page.url()).hash;
  return new URLSearchParams(h.includes('?') ? h.slice(h.indexOf('?') + 1) : '').get(key);
};
const sentQuery = (r) => (r.url().endsWith('/query') && new URLSearchParams(r.postData() || '').get('q')) || '';
const shot = (page, name, fullPage = true) => page.screenshot({ path: join(ART, `${name}.png`), fullPage });

test('overview lists every host with its status', async () => {
  for (const scheme of ['light', 'dark']) {
    const page = await open('', { scheme });
    await page.waitForSelector('.overview[data-ready="true"]');
    const status = async (h) => page.getAttribute(`tr[data-host="${h}"]`, 'data-status');
    for (const h of LIVE) assert.equal(await status(h), 'up', `${h} reports every few seconds`);
    assert.equal(await status('pi-dead'), 'down', 'pi-dead stopped 15 minutes ago');
    assert.equal(await status('pi-stale'), 'stale', 'pi-stale stopped 2 minutes ago');
    if (LOCAL) assert.equal(await status(LOCAL), 'up', 'the server\'s own agent');
    const counts = await page.locator('.summary').innerText();
    assert.match(counts, /1 down/);
    assert.match(counts, /1 stale/);
    assert.match(await page.locator('tr[data-host="pi-01"]').innerText(), /under-voltage/);
    assert.match(await page.locator('tr[data-host="pi-02"]').innerText(), /61\.\d °C|\d+\.\d °C/);
    assert.equal(await page.locator('tr[data-host="pi-02"] canvas.spark').count(), 3, 'cpu, memory and network sparklines');
    await shot(page, `overview-${scheme}`);
    await page.done();
  }
});

test('overview filters, sorts and keeps the view in the URL', async () => {
  const page = await open('');
  await page.waitForSelector('.overview[data-ready="true"]');
  let queries = 0;
  page.on('request', (r) => { if (sentQuery(r)) queries++; });
  await page.keyboard.press('/');
  await page.keyboard.type('pi-0');
  await until('filter in URL', async () => hashOf(page).includes('filter=pi-0'));
  await until('filtered rows', async () => (await page.locator('tbody tr').count()) === 3);
  assert.equal(queries, 0, 'filtering redraws without asking the server');
  await page.locator('input.filter').fill('');
  await page.locator('button.chip[data-status="down"]').click();
  await until('status filter', async () => hashOf(page).includes('status=down') && (await page.locator('tbody tr').count()) === 1);
  assert.equal(await page.getAttribute('tbody tr', 'data-host'), 'pi-dead');
  await page.locator('button.chip[data-status="down"]').click();
  await page.locator('th button.sort', { hasText: 'Host' }).click();
  await until('sort by name', async () => hashOf(page).includes('sort=name'));
  await page.locator('th button.sort', { hasText: 'Host' }).click();
  await until('sort by name, descending', async () => hashOf(page).includes('sort=name:desc'));
  const names = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.host));
  assert.deepEqual(names, [...names].sort((a, b) => b.localeCompare(a, undefined, { numeric: true })));
  await page.selectOption('select[aria-label="Group"]', 'rack=b');
  await until('group filter', async () => (await page.locator('tbody tr').count()) === 1);
  assert.equal(await page.getAttribute('tbody tr', 'data-host'), 'pi-03');
  // Auto-refresh: in the URL, and the data is fetched again.
  await page.selectOption('#refresh', '5s');
  await until('refresh in URL', async () => param(page, 'refresh') === '5s');
  await page.locator('tbody tr a').first().focus();
  const focusedHost = await page.evaluate(() => document.activeElement.closest('tr').dataset.host);
  await page.evaluate(() => { document.querySelector('tbody').dataset.old = '1'; });
  // The refresh fetches again and redraws the table.
  await until('table redrawn by the refresh', async () => (await page.locator('tbody[data-old]').count()) === 0, 12000);
  assert.equal(await page.evaluate(() => document.activeElement.closest('tr')?.dataset.host), focusedHost, 'focus kept across a refresh');
  await page.selectOption('#refresh', 'off');
  await until('refresh off', async () => param(page, 'refresh') === null);
  // Phones get cards instead of a wide table.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${URL_}/#/`);
  await page.waitForSelector('.overview[data-ready="true"]');
  await shot(page, 'overview-phone-light');
  await page.done();
});

test('host page charts the written series; range, host and zoom update URL and data', async () => {
  for (const scheme of ['light', 'dark']) {
    const page = await open('', { scheme });
    await page.waitForSelector('.overview[data-ready="true"]');
    // Keyboard: focus the host link and follow it.
    await page.locator('tr[data-host="pi-01"] a').focus();
    await page.keyboard.press('Enter');
    await until('host URL', async () => hashOf(page).startsWith('#/host/pi-01'));
    const series = (title) => page.getAttribute(`figure.panel[data-title="${title}"]`, 'data-series');
    await until('charts', async () => (await series('CPU per core')) === 'cpu0,cpu1');
    assert.equal(await series('CPU usage'), 'usage');
    assert.equal(await series('Network traffic'), 'eth0 rx,eth0 tx');
    assert.equal(await series('Disk I/O'), 'mmcblk0 read,mmcblk0 write');
    assert.equal(await series('Temperatures'), 'cpu_thermal');
    assert.equal(await series('Disk usage per mount'), '/,/boot/firmware');
    assert.match(await series('Throttling (1 = active)'), /under_voltage/);
    assert.equal(await page.locator('figure.panel[data-title="CPU usage"] canvas').count(), 1);
    assert.equal(await page.locator('#hoststatus').innerText(), 'UP');
    if (scheme === 'light') {
      // Range: the URL and the next query change.
      const req = page.waitForRequest((r) => sentQuery(r).includes('now() - 6h'));
      await page.selectOption('#range', '6h');
      await req;
      await until('range in URL', async () => hashOf(page).includes('range=6h'));
      // 30 days: buckets of hours, not raw points.
      const long = page.waitForRequest((r) => sentQuery(r).includes('now() - 30d'));
      await page.selectOption('#range', '30d');
      assert.match(sentQuery(await long), /GROUP BY time\((1h|2h|3h)\)/);
      await page.selectOption('#range', '6h');
      await until('range back in URL', async () => param(page, 'range') === '6h');
      // Host picker.
      await page.selectOption('#hostsel', 'pi-02');
      await until('host in URL', async () => hashOf(page).startsWith('#/host/pi-02') && hashOf(page).includes('range=6h'));
      await until('pi-02 data', async () => (await series('CPU per core')) === 'cpu0,cpu1');
      await until('containers', async () => (await series('Container CPU')) === 'db,web');
      assert.equal(await series('Container memory'), 'db,web');
      assert.match(await page.locator('figure.containers').innerText(), /web\s+nginx\s+running/);
      assert.equal(await page.locator('figure.panel[data-title="Throttling (1 = active)"]').isVisible(), false, 'no rpi panel for a host without rpi data');
      await shot(page, 'host-docker-light');
      // Drag across a chart, inside the last hour that has data: a custom range.
      const box = await page.locator('figure.panel[data-title="CPU usage"] .u-over').boundingBox();
      await page.mouse.move(box.x + box.width * 0.86, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.97, box.y + box.height / 2, { steps: 5 });
      await page.mouse.up();
      await until('zoomed range in URL', async () => /from=\d+&to=\d+/.test(hashOf(page)));
      const m = /from=(\d+)&to=(\d+)/.exec(hashOf(page));
      const span = m[2] - m[1];
      assert.ok(span > 20 * 60e3 && span < 90 * 60e3, `dragging 11% of 6 h selects about 40 min, got ${span / 60e3} min`);
      await until('custom range shown', async () => (await page.locator('#range').inputValue()) === 'custom');
      // The synchronised crosshair: hovering one chart moves the others.
      let f = 0.4;
      await until('tooltip', async () => {
        await page.mouse.move(box.x + box.width * (f += 0.01), box.y + box.height / 2);
        return page.locator('figure.panel[data-title="CPU usage"] .tip').isVisible();
      });
      const cursors = await page.locator('.u-cursor-x').evaluateAll((els) => els.filter((e) => e.style.transform && !e.classList.contains('u-off')).length);
      assert.ok(cursors > 3, `crosshair on ${cursors} charts`);
      // ...and every other chart shows its own values at that time, as text.
      const net = page.locator('figure.panel[data-title="Network traffic"] .readout');
      await until('values on a synced chart', async () => (await net.isVisible()) && /eth0 rx [\d.]+ (B|KiB|MiB)\/s\s+eth0 tx [\d.]+ (B|KiB|MiB)\/s/.test(await net.innerText()));
      assert.match(await net.innerText(), /^\d\d:\d\d:\d\d/, 'the time of the values');
      assert.match(await page.locator('figure.panel[data-title="Memory"] .readout').innerText(), /used [\d.]+ [KMG]iB/);
      assert.equal(await page.locator('figure.panel[data-title="CPU usage"] .readout').isVisible(), false, 'the hovered chart has its tooltip instead');
      const shown = () => page.locator('.readout, .tip').evaluateAll((els) => els.filter((e) => e.checkVisibility()).length);
      assert.ok(await shown() > 3, 'values on every chart with data');
      await shot(page, 'host-values-light', false);
      // Leaving the chart hides them all.
      await page.mouse.move(box.x + box.width / 2, box.y - 60);
      await until('values hidden', async () => (await shown()) === 0);
      await page.goto(`${URL_}/#/host/pi-01`);
      await until('charts again', async () => (await series('CPU per core')) === 'cpu0,cpu1');
    }
    await shot(page, `host-${scheme}`);
    if (scheme === 'dark') {
      await page.setViewportSize({ width: 390, height: 800 });
      await until('charts resized to the phone', async () => (await page.locator('figure.panel[data-title="CPU usage"] canvas').evaluate((c) => c.clientWidth)) < 390);
      await shot(page, 'host-phone-dark', false);
      // On a phone the values stay off the plots, in either theme.
      const cpu = await page.locator('figure.panel[data-title="CPU usage"] .u-over').boundingBox();
      let g = 0.3;
      await until('values on a phone', async () => {
        await page.mouse.move(cpu.x + cpu.width * (g += 0.02), cpu.y + cpu.height / 2);
        const modes = page.locator('figure.panel[data-title="CPU by mode"] .readout');
        return (await modes.isVisible()) && /user [\d.]+%/.test(await modes.innerText());
      });
      await shot(page, 'host-values-phone-dark', false);
    }
    await page.done();
  }
});

test('explore runs a query as a chart and a table, completes names, links', async () => {
  for (const scheme of ['light', 'dark']) {
    const page = await open('#/explore', { scheme });
    const box = page.locator('#q');
    await box.fill('');
    await box.type('SELECT mean(usage_user) FROM cp');
    await until('measurement completion', async () => (await page.locator('#completions li').allInnerTexts()).includes('cpu'));
    await page.keyboard.press('Tab');
    assert.equal(await box.inputValue(), 'SELECT mean(usage_user) FROM cpu');
    await box.type(` WHERE "host" = 'pi-0`);
    await until('tag value completion', async () => (await page.locator('#completions li').allInnerTexts()).includes('pi-01'));
    await page.keyboard.press('Tab');
    await box.type(`' AND $timeFilter GROUP BY time($interval), cp`);
    await until('tag completion', async () => (await page.locator('#completions li').allInnerTexts()).includes('cpu'));
    await page.keyboard.press('Tab');
    await page.keyboard.press('Control+Enter');
    await until('query in URL', async () => (param(page, 'q') || '').startsWith('SELECT mean(usage_user)'));
    // The page ran the default query when it opened: wait for this one's series.
    await until('chart of the query', async () => /cpu=cpu-total[\s\S]*cpu=cpu0/.test(await page.locator('.results .u-legend').innerText()));
    assert.equal(await page.locator('.results .uplot').count(), 1);
    await shot(page, `explore-${scheme}`);
    if (scheme === 'light') {
      await page.click('#view-table');
      await until('table', async () => (await page.locator('table.data tbody tr').count()) > 100);
      assert.ok(hashOf(page).includes('view=table'));
      await shot(page, 'explore-table-light', false); // a full page of 1800 rows takes seconds
      // The link reproduces the view in a fresh page.
      const link = page.url();
      const again = await open(new URL(link).hash);
      await until('table from link', async () => (await again.locator('table.data tbody tr').count()) > 100);
      assert.equal(await again.locator('#q').inputValue(), await box.inputValue());
      await again.done();
      // Errors of a statement are shown, not swallowed.
      await box.fill('SELECT nope FROM');
      await page.keyboard.press('Control+Enter');
      await until('error shown', async () => (await page.locator('.results .error').count()) === 1);
      assert.match(await page.locator('.results .error').innerText(), /error parsing query/);
      // The browser logs the deliberate 400 itself.
      page.errors = page.errors.filter((e) => !/status of 400/.test(e));
    }
    await page.done();
  }
});

test('empty state and server errors tell the user what to do', async () => {
  const page = await open('', { scheme: 'light' });
  await page.route('**/query', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: '{"results":[{"statement_id":0,"error":"database not found: telegraf"}]}' }));
  await page.click('#reload');
  await until('empty state', async () => (await page.locator('.empty').count()) === 1);
  assert.match(await page.locator('.empty').innerText(), /herd agent --url http:\/\/127\.0\.0\.1:\d+/);
  assert.match(await page.locator('.empty').innerText(), /herd deploy/);
  await shot(page, 'empty-light');
  await page.unroute('**/query');
  await page.route('**/query', (r) => r.abort('connectionrefused'));
  await page.click('#reload');
  await until('error banner', async () => page.locator('#banner').isVisible());
  assert.match(await page.locator('#banner').innerText(), /cannot be reached/);
  await shot(page, 'error-light');
  page.errors = page.errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(e));
  await page.unroute('**/query');
  await page.click('#banner button');
  await until('recovered', async () => !(await page.locator('#banner').isVisible()) && (await page.locator('tbody tr').count()) > 3);
  await page.done();
});
