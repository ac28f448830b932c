// herd's dashboard: a header with the shared time range and auto-refresh,
// and one of three pages chosen by the URL fragment.

import './style.css';
import { h, clear } from './dom.js';
import { readState, setParams, href, globals } from './state.js';
import { RANGES, REFRESHES, resolveRange, parseDur, fmtTime } from './time.js';
import { ServerError } from './api.js';
import * as overview from './overview.js';
import * as host from './host.js';
import * as explore from './explore.js';

const app = document.getElementById('app');
const rangeSel = h('select#range', { 'aria-label': 'Time range', onchange: (e) => setParams({ range: e.target.value === '1h' ? null : e.target.value, from: null, to: null }) });
const refreshSel = h('select#refresh', { 'aria-label': 'Auto-refresh', onchange: (e) => setParams({ refresh: e.target.value === 'off' ? null : e.target.value }) });
const reload = h('button#reload', { type: 'button', title: 'Refresh now', 'aria-label': 'Refresh now', onclick: () => refreshNow() }, '↻');
const navOverview = h('a', { href: '#/' }, 'Overview');
const navExplore = h('a', { href: '#/explore' }, 'Explore');
const banner = h('div#banner.banner', { role: 'alert', hidden: true });
const main = h('main#page');
app.append(
  h('header.top', h('a.brand', { href: '#/' }, h('span.logo', 'herd')), h('nav', navOverview, navExplore),
    h('div.controls', rangeSel, refreshSel, reload)),
  banner, main);

const DATA_PARAMS = ['range', 'from', 'to', 'q', 'view'];
let page = null, pageKey = '', timer = null, lastDataKey = null;
let ctx = null;

function pageFor(path) {
  if (path.startsWith('/host/')) return host;
  if (path === '/explore') return explore;
  return overview;
}

function route() {
  const { path, params } = readState();
  const range = resolveRange(params);
  ctx = {
    path, params, range,
    zoom: (from, to) => setParams({ from, to, range: null }),
    fail: (e) => showError(e),
    ok: () => { banner.hidden = true; },
  };
  // Header controls reflect the state.
  const custom = !range.rel;
  clear(rangeSel).append(
    ...(custom ? [h('option', { value: 'custom', selected: true }, `${fmtTime(range.from, true)} → ${fmtTime(range.to, true)}`)] : []),
    ...RANGES.map((r) => h('option', { value: r, selected: r === range.rel }, `Last ${r}`)));
  const refresh = REFRESHES.includes(params.refresh) ? params.refresh : 'off';
  clear(refreshSel).append(...REFRESHES.map((r) => h('option', { value: r, selected: r === refresh }, r === 'off' ? 'Refresh off' : `Every ${r}`)));
  for (const [a, on, to] of [[navOverview, pageFor(path) === overview, '/'], [navExplore, path === '/explore', '/explore']]) {
    a.href = href(to, globals());
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }

  const mod = pageFor(path);
  const key = path;
  // Only these params change what is fetched; the others (filter, sort,
  // status, ...) only redraw, so typing in the filter sends no queries.
  const dataKey = DATA_PARAMS.map((k) => params[k] || '').join('\u0000');
  if (key !== pageKey || !page) {
    if (page) page.destroy();
    clear(main);
    page = mod.mount(main, proxy);
    pageKey = key;
    document.title = path.startsWith('/host/') ? `${path.slice(6)} · herd` : path === '/explore' ? 'Explore · herd' : 'herd';
    page.update();
  } else if (dataKey !== lastDataKey) {
    page.update();
  } else {
    page.render();
  }
  lastDataKey = dataKey;
  clearInterval(timer);
  if (refresh !== 'off') {
    timer = setInterval(() => { if (!document.hidden) refreshNow(); }, parseDur(refresh));
  }
}

/** Fetches the page's data again; a relative range moves to now. */
function refreshNow() {
  if (!page) return;
  ctx.range = resolveRange(ctx.params);
  page.update();
}

// Pages read the current context through this, so a refresh sees a new range.
const proxy = new Proxy({}, { get: (_, k) => ctx[k] });

function showError(e) {
  banner.hidden = false;
  const msg = e instanceof ServerError ? e.message : `Something went wrong: ${e.message || e}`;
  clear(banner).append(h('strong', 'Cannot load data. '), msg, ' ', h('button', { type: 'button', onclick: () => refreshNow() }, 'Retry'));
}

window.addEventListener('hashchange', route);
// Charts take their colours from the theme: redraw when it flips.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { pageKey = ''; route(); });
route();
