// The URL is the state: "#/<page>?range=1h&refresh=10s&...", so any view
// can be bookmarked and shared. The fragment keeps the server's own paths
// free (unknown paths stay 404 for API clients) and works under a proxy
// sub-path.

export function readState() {
  const raw = location.hash.slice(1);
  const i = raw.indexOf('?');
  const path = (i < 0 ? raw : raw.slice(0, i)).split('/').map((s) => {
    try { return decodeURIComponent(s); } catch { return s; }
  }).join('/') || '/';
  const params = Object.fromEntries(new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)));
  return { path, params };
}

/** The fragment for a page path and params (null/'' values dropped). */
export function href(path, params = {}) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') p.set(k, v);
  const qs = p.toString();
  return `#${path.split('/').map(encodeURIComponent).join('/')}${qs ? '?' + qs : ''}`;
}

// Params that follow the user from page to page.
export const GLOBAL = ['range', 'from', 'to', 'refresh', 'stale', 'down'];

/** Navigates to path with params; replace avoids a history entry (typing). */
export function go(path, params, { replace = false } = {}) {
  const h = href(path, params);
  if (h === location.hash) return;
  if (replace) {
    history.replaceState(null, '', h);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = h;
  }
}

/** Merges changes (null deletes) into the current params. */
export function setParams(changes, opts) {
  const { path, params } = readState();
  const next = { ...params };
  for (const [k, v] of Object.entries(changes)) {
    if (v == null || v === '') delete next[k]; else next[k] = String(v);
  }
  go(path, next, opts);
}

/** The global params of the current state, to carry to another page. */
export function globals() {
  const { params } = readState();
  const g = {};
  for (const k of GLOBAL) if (params[k]) g[k] = params[k];
  return g;
}
