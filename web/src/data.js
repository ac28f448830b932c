// Turning InfluxDB JSON results into aligned chart columns.

/**
 * Aligns every value column of every series on the union of their
 * timestamps. label(series, column) names each line (default: tags and
 * column). Returns {labels, xs, ys}.
 */
export function align(seriesList, label = defaultLabel) {
  const lines = [];
  for (const s of seriesList) {
    for (let c = 1; c < s.columns.length; c++) lines.push({ label: label(s, s.columns[c]), s, c });
  }
  const times = new Set();
  for (const s of seriesList) for (const row of s.values || []) times.add(row[0]);
  const xs = [...times].sort((a, b) => a - b);
  const at = new Map(xs.map((t, i) => [t, i]));
  const ys = lines.map(({ s, c }) => {
    const col = new Array(xs.length).fill(null);
    for (const row of s.values || []) {
      const v = row[c];
      col[at.get(row[0])] = typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v : null;
    }
    return col;
  });
  return { labels: lines.map((l) => l.label), xs, ys };
}

export function defaultLabel(s, col) {
  const tags = Object.values(s.tags || {}).filter(Boolean).join(' ');
  const c = col.replace(/^(mean|max|min|last|sum|non_negative_derivative)_?/, '');
  return tags ? (c && c !== 'value' ? `${tags} ${c}` : tags) : (c || col);
}

/** Sums lines that share a label (e.g. rx+tx of many interfaces). */
export function sumByLabel({ labels, xs, ys }) {
  const idx = new Map();
  const outL = [], outY = [];
  labels.forEach((l, i) => {
    if (!idx.has(l)) { idx.set(l, outL.length); outL.push(l); outY.push(ys[i].slice()); return; }
    const acc = outY[idx.get(l)];
    ys[i].forEach((v, j) => { if (v != null) acc[j] = (acc[j] ?? 0) + v; });
  });
  return { labels: outL, xs, ys: outY };
}

/** Map from a tag's value (default host) to the series with that tag. */
export function byTag(series, tag = 'host') {
  const m = new Map();
  for (const s of series || []) {
    const k = s.tags ? s.tags[tag] : undefined;
    if (k == null) continue;
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(s);
  }
  return m;
}

/** The last row of a single-row series as {column: value}. */
export function lastRow(s) {
  if (!s || !s.values || !s.values.length) return null;
  const row = s.values[s.values.length - 1];
  const o = {};
  s.columns.forEach((c, i) => { o[c] = row[i]; });
  return o;
}
