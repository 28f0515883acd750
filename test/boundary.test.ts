// The import direction between the sides, checked on every import in client/src and
// server/src (there is no linter to carry a no-restricted-imports rule):
// - client/ reaches into server/ only through the engine's public entry, the shared
//   protocol and the host build (the shared test support in testing/ goes where it must);
// - server/ never imports client/;
// - the product's own code (not its tests) imports nothing from testing/ or tools/.
// The planted-violation tests make sure the scan would notice a crossing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..');

/** What client/ may import from server/ (repository-relative files). */
const CLIENT_MAY_IMPORT = new Set([
  'server/src/engine/index.ts',
  'server/src/protocol/index.ts',
  // Builds on this machine; outside the engine because it runs make (see its header).
  'server/src/build/hostBuild.ts',
]);

interface Edge {
  from: string;
  to: string;
  spec: string;
}

/** Relative imports, exports-from, require() and import() of one file, resolved to repository-relative paths. */
export function importsOf(file: string, text: string): Edge[] {
  const out: Edge[] = [];
  const re = /(?:\bfrom|\bimport|\brequire\s*\(|\bimport\s*\()\s*['"](\.{1,2}\/[^'"]*)['"]/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1];
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    const to = [`${base}.ts`, `${base}/index.ts`, base].find((c) => fs.existsSync(path.join(root, c))) ?? base;
    out.push({ from: file, to, spec });
  }
  return out;
}

const isTest = (f: string): boolean => f.endsWith('.test.ts');

/** Every forbidden edge, as `from -> spec (why)`. */
export function violations(edges: Edge[]): string[] {
  const bad: string[] = [];
  for (const e of edges) {
    const say = (why: string) => bad.push(`${e.from} -> ${e.spec} (${why})`);
    if (e.from.startsWith('client/') && e.to.startsWith('server/')) {
      if (!CLIENT_MAY_IMPORT.has(e.to)) {
        say('client/ imports server/ only through server/src/engine, server/src/protocol or server/src/build/hostBuild');
      }
    }
    if (e.from.startsWith('server/') && e.to.startsWith('client/')) say('server/ must not import client/');
    if (!isTest(e.from) && /^(?:client|server)\//.test(e.from) && /^(?:testing|tools)\//.test(e.to))
      say('the product does not import test support or tools');
  }
  return bad;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (e.name !== 'fixtures' && e.name !== 'node_modules') out.push(...sources(p));
    } else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const edgesOf = (files: string[]): Edge[] => files.flatMap((f) => importsOf(f, fs.readFileSync(path.join(root, f), 'utf8')));

test('client/ and server/ import each other only through the public entries', () => {
  const files = [...sources('client/src'), ...sources('server/src')];
  const edges = edgesOf(files);
  assert.ok(edges.length > 200, `the scan found only ${edges.length} imports: is it reading the tree?`);
  assert.ok(
    edges.some((e) => e.from.startsWith('client/') && e.to === 'server/src/engine/index.ts'),
    'no client import of the engine entry was seen',
  );
  assert.deepEqual(violations(edges), []);
});

test('a planted deep import from client/ into the engine is caught', () => {
  const planted = importsOf(
    'client/src/commands/planted.ts',
    [
      "import { analyzePatches } from '../../../server/src/engine/analyze';",
      'import {',
      '  KernelTree,',
      "} from '../../../server/src/engine/tree/kernelTree';",
      "const p = require('../../../server/src/lsp/livepatchServer');",
      "import { toWireFinding } from '../../../server/src/protocol';",
    ].join('\n'),
  );
  assert.deepEqual(
    violations(planted).map((v) => v.split(' (')[0]),
    [
      'client/src/commands/planted.ts -> ../../../server/src/engine/analyze',
      'client/src/commands/planted.ts -> ../../../server/src/engine/tree/kernelTree',
      'client/src/commands/planted.ts -> ../../../server/src/lsp/livepatchServer',
    ],
  );
});

test('planted imports of client/ from server/, and of test support from product code, are caught', () => {
  const planted = [
    ...importsOf('server/src/lsp/planted.ts', "import { SshTarget } from '../../../client/src/remote/ssh';"),
    ...importsOf('server/src/lsp/planted.ts', "import { tempDir } from '../../../testing/tempDir';"),
    // Allowed: a client test using the shared language-server test client.
    ...importsOf('client/src/commands/planted.test.ts', "import { startServer } from '../../../testing/lspClient';"),
  ];
  assert.equal(violations(planted).length, 2, violations(planted).join('\n'));
});

/** Places in the VS Code commands that take the per-VM lock or open a progress notification, outside onTarget.ts. */
export function lockingOutsideOnTarget(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [f, text] of files) {
    if (f === 'client/src/commands/remote/onTarget.ts' || f.endsWith('.test.ts')) continue;
    for (const m of text.matchAll(/\b(withTargetLock|exclusive|withProgress)\s*\(/g)) out.push(`${f}: ${m[1]}`);
  }
  return out;
}

test('the commands take the per-VM lock only through runOnTarget (commands/remote/onTarget.ts)', () => {
  const files = new Map(sources('client/src/commands').map((f) => [f, fs.readFileSync(path.join(root, f), 'utf8')]));
  assert.ok(files.has('client/src/commands/remote/onTarget.ts'));
  // checkPatch's progress is in the status bar, on no target: not a remote action.
  assert.deepEqual(
    lockingOutsideOnTarget(files).filter((x) => x !== 'client/src/commands/checkPatch.ts: withProgress'),
    [],
  );
  const planted = new Map([
    ['client/src/commands/remote/load.ts', 'await t.ssh.exclusive(title, () => loadModule(t.ssh, t.settings, ko, name, p));'],
  ]);
  assert.deepEqual(lockingOutsideOnTarget(planted), ['client/src/commands/remote/load.ts: exclusive']);
});
