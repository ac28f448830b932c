// Sparklines on a bare canvas: a hundred hosts times three cells would be
// three hundred chart objects; a canvas and a path each are enough.

/** Draws pts ([t, v], v may be null) over the times [t0, t1] in canvas. */
export function sparkline(canvas, pts, fixedMax, color, t0, t1) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.width, hgt = canvas.height;
  canvas.style.width = `${w}px`;
  canvas.style.height = `${hgt}px`;
  canvas.width = w * dpr;
  canvas.height = hgt * dpr;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  if (t0 == null) { t0 = pts[0][0]; t1 = pts[pts.length - 1][0]; }
  let max = fixedMax || 0;
  if (!fixedMax) for (const [, v] of pts) if (v > max) max = v;
  if (!max) max = 1;
  const x = (t) => (t1 === t0 ? w : ((t - t0) / (t1 - t0)) * (w - 2) + 1);
  const y = (v) => hgt - 1 - (Math.min(v, max) / max) * (hgt - 3);
  ctx.beginPath();
  let started = false;
  for (const [t, v] of pts) {
    if (v == null) { started = false; continue; }
    if (started) ctx.lineTo(x(t), y(v)); else { ctx.moveTo(x(t), y(v)); started = true; }
  }
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.2;
  ctx.stroke();
  let first = null, last = null;
  for (const [t, v] of pts) if (v != null) { if (first == null) first = t; last = t; }
  if (first == null) return;
  ctx.lineTo(x(last), hgt);
  ctx.lineTo(x(first), hgt);
  ctx.globalAlpha = 0.15;
  ctx.fillStyle = color;
  ctx.fill();
}
