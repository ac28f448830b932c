// Builds the dashboard into internal/ui/dist, which the herd binary embeds:
// index.html plus content-hashed assets (served as immutable). Run by
// `make ui` (npm ci && npm run build); never commit the output.
import * as esbuild from 'esbuild';
import { mkdirSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.HERD_UI_OUT || join(here, '..', 'internal', 'ui', 'dist');

// Empty the output but keep .keep, which lets go:embed compile without a build.
mkdirSync(out, { recursive: true });
for (const name of readdirSync(out)) {
  if (name !== '.keep') rmSync(join(out, name), { recursive: true, force: true });
}

const result = await esbuild.build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

let js = '', css = '';
for (const file of Object.keys(result.metafile.outputs)) {
  if (file.endsWith('.js')) js = basename(file);
  if (file.endsWith('.css')) css = basename(file);
}
if (!js || !css) throw new Error('build produced no js or css');

const icon = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%232563eb'/%3E%3Cpath d='M3 11l3-4 3 2 4-5' stroke='white' stroke-width='1.6' fill='none'/%3E%3C/svg%3E";
// Paths are relative so the dashboard also works behind a reverse proxy
// under a sub-path; the app's own routes live in the #fragment.
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>herd</title>
<link rel="icon" href="${icon}">
<link rel="stylesheet" href="assets/${css}">
<script defer src="assets/${js}"></script>
</head>
<body>
<noscript>herd's dashboard needs JavaScript. The InfluxDB API answers at /query.</noscript>
<div id="app"></div>
</body>
</html>
`;
writeFileSync(join(out, 'index.html'), html);

let raw = 0, gz = 0;
const files = ['index.html', `assets/${js}`, `assets/${css}`];
for (const f of files) {
  const b = readFileSync(join(out, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
console.log(`dashboard built into ${out}: ${files.join(', ')}; ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
