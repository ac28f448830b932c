// The dashboard speaks only the InfluxDB 1.x API of the server that served
// it: POST query with several statements in one request, epoch=ms.

export const DB = 'telegraf';

// Server clock minus browser clock, from each response's Date header, so
// "seconds since the last point" does not depend on the browser's clock.
let skew = 0;
export const serverNow = () => Date.now() + skew;

/** An error the user should read: the server is unreachable or refused. */
export class ServerError extends Error {}

/** Escapes a value for a single-quoted InfluxQL string literal. */
export const lit = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
/** Escapes an identifier (measurement, field or tag key) with double quotes. */
export const ident = (s) => `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * Runs statements (a string or an array, joined with ';') against the
 * telegraf database. Resolves to one result per statement:
 * {series: [{name, tags, columns, values}], error?}.
 */
export async function query(statements, { signal, db = DB } = {}) {
  const q = Array.isArray(statements) ? statements.join(';\n') : statements;
  const body = new URLSearchParams({ db, epoch: 'ms', q });
  let res;
  const t0 = Date.now();
  try {
    res = await fetch('query', { method: 'POST', body, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ServerError(`The herd server at ${location.host} cannot be reached (${e.message}). Is it running?`);
  }
  const date = Date.parse(res.headers.get('Date') || '');
  if (!Number.isNaN(date)) {
    // Date has 1 s resolution: only correct clocks that are clearly off.
    const s = date + 500 - (t0 + Date.now()) / 2;
    skew = Math.abs(s) > 1500 ? s : 0;
  }
  let json;
  try {
    json = await res.json();
  } catch {
    throw new ServerError(`The server answered ${res.status} ${res.statusText} without a JSON body: is this a herd or InfluxDB server?`);
  }
  if (!res.ok && json.error) throw new ServerError(`The server refused the query: ${json.error}`);
  if (!res.ok) throw new ServerError(`The server answered ${res.status} ${res.statusText}.`);
  if (json.error) throw new ServerError(json.error);
  return (json.results || []).map((r) => ({ series: r.series || [], error: r.error }));
}

/** True when err says the database does not exist yet (no agent ever wrote). */
export const isNoDatabase = (err) => /database not found/i.test(String(err && (err.message || err)));
