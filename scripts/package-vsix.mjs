#!/usr/bin/env node
// `npm run package`: bundles dist/ (production: minified, no source maps), packs the VSIX with
// @vscode/vsce, prints its size and file list, and fails when it is over 2 MB, misses a file the
// extension needs, or holds a file the .vscodeignore allowlist should have kept out.
//
//   node scripts/package-vsix.mjs [--out FILE] [--no-build]
// Prints the VSIX path on the last line ("vsix: <path>").

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const MAX_BYTES = 2 * 1024 * 1024;

const args = process.argv.slice(2);
const outArg = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const out = path.resolve(root, outArg ?? `${pkg.name}-${pkg.version}.vsix`);

/** Entries of a zip file, from its central directory (no unzip tool needed). */
export function zipEntries(file) {
  const buf = fs.readFileSync(file);
  // End of central directory record: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip file`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const mode = buf.readUInt32LE(p + 38) >>> 16;
    entries.push({ name: buf.toString('utf8', p + 46, p + 46 + nameLen), size, mode });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function run(cmd, argv) {
  execFileSync(cmd, argv, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
}

const t0 = Date.now();
if (!args.includes('--no-build')) run(process.execPath, ['esbuild.mjs', '--production']);
fs.rmSync(out, { force: true });
// - --no-dependencies: esbuild bundles every runtime dependency into dist/, so node_modules stays out.
// - --no-rewrite-relative-links: there is no public repository URL to rewrite README links to; they
//   point at files the VSIX ships (docs/rules/*.md), which VS Code resolves in the extension folder.
run(process.execPath, [
  path.join(root, 'node_modules/@vscode/vsce/vsce'),
  'package',
  '--no-dependencies',
  '--allow-missing-repository',
  '--no-rewrite-relative-links',
  '--out',
  out,
]);

const entries = zipEntries(out).filter((e) => !e.name.endsWith('/'));
const size = fs.statSync(out).size;
console.log(`\n${path.relative(process.cwd(), out)}: ${(size / 1024).toFixed(0)} KiB, ${entries.length} files`);
for (const e of [...entries].sort((a, b) => a.name.localeCompare(b.name))) {
  console.log(`  ${String(e.size).padStart(9)}  ${e.name}`);
}

// What the extension needs at run time, and what may be in the package at all.
const required = [
  'extension/package.json',
  'extension/dist/client.js',
  'extension/dist/server.js',
  'extension/dist/livepatch-check.js',
  'extension/dist/livepatch-check-main.js',
  'extension/dist/index-worker.js',
  'extension/dist/tree-sitter.wasm',
  'extension/dist/tree-sitter-c.wasm',
  'extension/readme.md',
  'extension/changelog.md',
  'extension/LICENSE.txt',
  ...pkg.contributes.grammars.map((g) => `extension/${path.posix.normalize(g.path)}`),
  ...pkg.contributes.viewsContainers.activitybar.map((c) => `extension/${path.posix.normalize(c.icon)}`),
  ...(pkg.icon ? [`extension/${path.posix.normalize(pkg.icon)}`] : []),
  // Walkthrough pages and images (contributes.walkthroughs[].steps[].media).
  ...(pkg.contributes.walkthroughs ?? [])
    .flatMap((w) => w.steps ?? [])
    .flatMap((st) => {
      const m = st.media ?? {};
      const image = typeof m.image === 'string' ? [m.image] : Object.values(m.image ?? {});
      return [m.markdown, m.svg, ...image].filter((f) => typeof f === 'string').map((f) => `extension/${path.posix.normalize(f)}`);
    }),
  ...fs
    .readdirSync(path.join(root, 'docs/rules'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `extension/docs/rules/${f}`),
];
const allowed = [
  /^extension\.vsixmanifest$/,
  /^\[Content_Types\]\.xml$/,
  /^extension\/(package\.json|readme\.md|changelog\.md|LICENSE\.txt)$/,
  /^extension\/dist\/(client|server|livepatch-check|livepatch-check-main|index-worker)\.js$/,
  /^extension\/dist\/tree-sitter(-c)?\.wasm$/,
  /^extension\/syntaxes\/[^/]+\.tmLanguage\.json$/,
  /^extension\/docs\/rules\/[^/]+\.md$/,
  // README screenshots: the extension's details page renders the README from the package.
  /^extension\/docs\/screenshots\/[^/]+\.png$/,
  /^extension\/media\/[^/]+\.(svg|png)$/,
  /^extension\/media\/walkthrough\/[^/]+\.(md|svg|png)$/,
  // livepatch.createTestVm runs the bundled test-VM scripts (scripts/testvm/up.sh and its helpers).
  /^extension\/scripts\/testvm\/[^/]+\.sh$/,
  /^extension\/scripts\/testvm\/smoke\/[^/]+$/,
];
const names = new Set(entries.map((e) => e.name));
const problems = [];
for (const r of required) if (!names.has(r)) problems.push(`missing ${r}`);
for (const e of entries) if (!allowed.some((re) => re.test(e.name))) problems.push(`not allowed in the package: ${e.name}`);
for (const e of entries) {
  // The terminal runs up.sh directly: executables must stay executable.
  const src = path.join(root, e.name.replace(/^extension\//, ''));
  if (/^extension\/scripts\//.test(e.name) && fs.existsSync(src) && fs.statSync(src).mode & 0o100 && !(e.mode & 0o100))
    problems.push(`${e.name} lost its executable bit`);
}
// README links are left relative: say which ones will not resolve inside the installed extension.
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
for (const m of readme.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
  if (/^[a-z]+:/i.test(m[1])) continue;
  if (!names.has(`extension/${path.posix.normalize(m[1])}`)) console.log(`note: README links to ${m[1]}, which the VSIX does not hold`);
}
if (size > MAX_BYTES) problems.push(`the VSIX is ${size} bytes, over the ${MAX_BYTES}-byte budget`);
if (!pkg.icon) console.log('note: package.json has no "icon" (a 128x128 PNG for the extension list)');
if (problems.length) {
  for (const p of problems) console.error(`package: ${p}`);
  process.exit(1);
}
console.log(`packaged in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`vsix: ${out}`);
