// Bundles the language server, the CLI, the benchmarks and the VS Code client.
// web-tree-sitter is aliased to its CommonJS build: esbuild would otherwise pick
// the ESM build, whose import.meta.url becomes {} in CJS output and makes
// Parser.init() fail at run time without any build warning.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const production = process.argv.includes('--production');
// web-tree-sitter's exports map hides package.json; find its folder from node_modules.
const wtsDir = path.resolve('node_modules/web-tree-sitter');
const tscDir = path.dirname(require.resolve('tree-sitter-c/package.json'));

mkdirSync('dist', { recursive: true });
// The runtime wasm must come from the same web-tree-sitter version as its JS glue.
copyFileSync(path.join(wtsDir, 'tree-sitter.wasm'), 'dist/tree-sitter.wasm');
copyFileSync(path.join(tscDir, 'tree-sitter-c.wasm'), 'dist/tree-sitter-c.wasm');

// Names the engine build for the CLI's index store (engine/index/indexStore.ts): a hash of
// the engine's sources and the parser's wasm, so an index made by other code is never read.
const engineBuild = createHash('sha1');
for (const f of readdirSync('server/src/engine', { recursive: true }).sort()) {
  if (!/\.ts$/.test(f) || /\.test\.ts$/.test(f)) continue;
  engineBuild
    .update(f)
    .update('\0')
    .update(readFileSync(path.join('server/src/engine', f)))
    .update('\0');
}
for (const f of ['dist/tree-sitter.wasm', 'dist/tree-sitter-c.wasm']) engineBuild.update(readFileSync(f));

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  keepNames: true,
  logLevel: 'warning',
  alias: { 'web-tree-sitter': path.join(wtsDir, 'tree-sitter.cjs') },
  // The native binding is optional (benchmarks); never bundle a .node file.
  external: ['vscode', 'tree-sitter', 'tree-sitter-c'],
  define: { KLP_ENGINE_BUILD: JSON.stringify(engineBuild.digest('hex').slice(0, 16)) },
};

// `import * as fs from 'node:fs'` becomes `__toESM(require("node:fs"))` in every file that
// writes it: a fresh copy of all of fs's properties, 14 times in the CLI alone (3 ms of
// every run). This rewrite gives each bundle one copy per built-in module. It keeps the
// line count, so the source maps still hold.
const builtinCopies = {
  name: 'one-namespace-per-builtin',
  setup(build) {
    build.onEnd((result) => {
      for (const out of Object.keys(result.metafile?.outputs ?? {})) {
        if (!out.endsWith('.js')) continue;
        const text = readFileSync(out, 'utf8');
        const helper = /^var (__toESM\d*) = /m.exec(text);
        if (!helper) continue;
        const name = helper[1];
        const call = new RegExp(`\\b${name}\\(require\\(("node:[\\w/]+")\\)\\)`, 'g');
        const rewritten = text
          .replace(call, '__builtinNamespace($1)')
          .replace(
            helper[0],
            `var __builtinNamespaces = {}, __builtinNamespace = (id) => __builtinNamespaces[id] ??= ${name}(require(id)); ${helper[0]}`,
          );
        writeFileSync(out, rewritten);
      }
    });
  },
};
common.metafile = true;
common.plugins = [builtinCopies];

await Promise.all([
  esbuild.build({ ...common, entryPoints: { client: 'client/src/extension.ts' }, outdir: 'dist' }),
  esbuild.build({ ...common, entryPoints: { server: 'server/src/server.ts' }, outdir: 'dist' }),
  esbuild.build({
    ...common,
    // livepatch-check.js is a launcher that loads livepatch-check-main.js with a V8 code cache.
    entryPoints: { 'livepatch-check': 'server/src/cli/launch.ts', 'livepatch-deploy': 'client/src/cli/livepatch-deploy.ts' },
    outdir: 'dist',
    banner: { js: '#!/usr/bin/env node' },
  }),
  esbuild.build({
    ...common,
    // index-worker.js: the CLI's second indexing thread for big runs (engine/parse/indexPool.ts).
    entryPoints: { 'livepatch-check-main': 'server/src/cli/livepatch-check.ts', 'index-worker': 'server/src/engine/parse/indexWorker.ts' },
    outdir: 'dist',
  }),
  esbuild.build({
    ...common,
    entryPoints: {
      bench: 'scripts/bench.ts',
      'bench-corpus': 'scripts/bench-corpus.ts',
      'parse-accuracy': 'scripts/parse-accuracy.ts',
      'bench-lsp': 'scripts/bench-lsp.ts',
      fuzz: 'scripts/fuzz.ts',
    },
    outdir: 'dist',
  }),
]);
