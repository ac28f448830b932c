// Value formatting by unit, shared by charts, tooltips and tables.

const BIN = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const SI = ['', 'k', 'M', 'G', 'T', 'P'];

function scaled(v, base, names, digits = 1) {
  let i = 0;
  let a = Math.abs(v);
  while (a >= base && i < names.length - 1) { a /= base; v /= base; i++; }
  const d = i === 0 && Number.isInteger(v) ? 0 : (Math.abs(v) >= 100 ? 0 : digits);
  return `${v.toFixed(d)}${names[i] ? ' ' + names[i] : ''}`;
}

export function duration(sec) {
  if (sec == null || !Number.isFinite(sec)) return '–';
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ${Math.floor(sec % 3600 / 60)}m`;
  return `${Math.floor(sec / 86400)}d ${Math.floor(sec % 86400 / 3600)}h`;
}

/** Formats v in unit: percent, bytes, bytesps, celsius, hz, seconds, short. */
export function fmt(v, unit) {
  if (v == null || Number.isNaN(v)) return '–';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v !== 'number') return String(v);
  switch (unit) {
    case 'percent': return `${v.toFixed(Math.abs(v) < 10 ? 1 : 0)}%`;
    case 'bytes': return scaled(v, 1024, BIN);
    case 'bytesps': return `${scaled(v, 1024, BIN)}/s`;
    case 'celsius': return `${v.toFixed(1)} °C`;
    case 'hz': return scaled(v, 1000, ['Hz', 'kHz', 'MHz', 'GHz']);
    case 'seconds': return duration(v);
    case 'ops': return `${scaled(v, 1000, SI)}/s`;
    case 'bool': return v >= 0.5 ? 'yes' : 'no';
    default: return Math.abs(v) >= 1000 ? scaled(v, 1000, SI) : String(+v.toFixed(Math.abs(v) < 10 ? 2 : 1));
  }
}

/** Axis tick formatter: ticks are round numbers, so no forced decimals. */
export const axisFmt = (unit) => (u, ticks) => ticks.map((v) => {
  if (v == null) return '';
  if (unit === 'percent') return `${+v.toFixed(2)}%`;
  if (unit === 'celsius') return `${+v.toFixed(1)} °C`;
  return fmt(v, unit);
});

/** Pixels the y axis needs for a unit's longest labels ("1023.5 MiB/s"). */
export const axisSize = (unit) => (unit === 'bytesps' ? 84 : unit === 'bytes' || unit === 'ops' ? 72 : 56);
