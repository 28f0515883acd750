// Each quick fix, through the real server: open the changed file as an unsaved
// buffer in a kernel git tree, take the fix the server offers, apply it, and
// check with the engine that the finding is gone and nothing new appeared.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CodeActionRequest, type Diagnostic, type TextEdit, type WorkspaceEdit } from 'vscode-languageserver-protocol/node';
import { startServer, makeGitTree, applyEdits, type TestServer } from '../../../testing/lspClient';
import { analyzePatches } from '../engine/analyze';
import { bufferPatch } from './bufferDiff';
import { tempDir } from '../../../testing/tempDir';

const FIXTURES = path.join(__dirname, '..', 'engine', 'rules', 'fixtures');
const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

/** A kernel git tree from a fixture's before/, the after/ text of `rel`, and a server on it. */
async function setup(rule: string, fixture: string, rel: string) {
  const dir = path.join(FIXTURES, rule, fixture);
  const before = path.join(dir, 'before');
  const staging = fs.realpathSync(tempDir('klp-fix-'));
  fs.cpSync(before, staging, { recursive: true });
  fs.writeFileSync(path.join(staging, 'Kbuild'), '');
  if (!fs.existsSync(path.join(staging, 'Makefile'))) fs.writeFileSync(path.join(staging, 'Makefile'), 'VERSION = 6\nPATCHLEVEL = 1\n');
  const tree = makeGitTree(staging, tempDir('klp-lsp-'));
  const server = await startServer(tree);
  servers.push(server);
  return {
    tree,
    server,
    after: fs.readFileSync(path.join(dir, 'after', rel), 'utf8'),
    base: fs.readFileSync(path.join(before, rel), 'utf8'),
  };
}

async function fixOnce(rule: string, fixture: string, rel: string, title: RegExp) {
  const { tree, server, after: text, base } = await setup(rule, fixture, rel);
  const uri = pathToFileURL(path.join(tree, rel)).toString();
  server.open(uri, 'c', text, 1);
  const { diagnostics } = await server.diagnostics(uri, 1);
  const d = diagnostics.find((x: Diagnostic) => x.code === rule);
  assert.ok(d, `${rule} not reported: ${JSON.stringify(diagnostics.map((x) => x.code))}`);
  const actions = (await server.conn.sendRequest(CodeActionRequest.type, {
    textDocument: { uri },
    range: d.range,
    context: { diagnostics: [d] },
  })) as { title: string; edit: WorkspaceEdit }[];
  const action = actions.find((a) => title.test(a.title));
  assert.ok(action, `no fix among ${JSON.stringify(actions.map((a) => a.title))}`);
  const fixed = applyEdits(text, action.edit.changes![uri] as TextEdit[]);
  const r = await analyzePatches([{ name: 'fixed', text: bufferPatch(rel, base, fixed) }], { tree });
  return {
    fixed,
    findings: r.findings,
    before: (await analyzePatches([{ name: 'orig', text: bufferPatch(rel, base, text) }], { tree })).findings,
  };
}

test('syscall: SYSCALL_DEFINEn becomes KPATCH_SYSCALL_DEFINEn with its include', async () => {
  const { fixed, findings } = await fixOnce('syscall', 'changed-syscall', findFile('syscall', 'changed-syscall'), /KPATCH_SYSCALL_DEFINE/);
  assert.match(fixed, /^KPATCH_SYSCALL_DEFINE2\(demo_ctl/m);
  assert.match(fixed, /^#include "kpatch-syscall.h"$/m);
  assert.equal(findings.filter((f) => f.rule === 'syscall').length, 0);
});

test('jump-label: static_branch_*() on a module key becomes static_key_enabled()', async () => {
  const rel = findFile('jump-label', 'module-key-in-same-file');
  const { fixed, findings } = await fixOnce('jump-label', 'module-key-in-same-file', rel, /static_key_enabled/);
  assert.match(fixed, /static_key_enabled\(&demo_verbose\)/);
  assert.doesNotMatch(fixed, /static_branch_unlikely\(&demo_verbose\)/);
  assert.equal(findings.filter((f) => f.rule === 'jump-label').length, 0);
});

test('static-local-removed: the fix keeps a reference to the old static', async () => {
  const rel = findFile('static-local-removed', 'reference-removed');
  const { fixed, findings } = await fixOnce('static-local-removed', 'reference-removed', rel, /Keep a reference/);
  assert.match(fixed, /barrier_data\(&calls\);/);
  assert.equal(findings.filter((f) => f.rule === 'static-local-removed').length, 0);
});

test('line-macro: a #line directive restores the numbering below the change', async () => {
  const rel = findFile('line-macro', 'might-sleep-below-new-function');
  const { fixed, findings, before } = await fixOnce('line-macro', 'might-sleep-below-new-function', rel, /#line/);
  assert.match(fixed, /^#line \d+$/m);
  assert.ok(before.some((f) => f.rule === 'line-macro'));
  assert.equal(findings.filter((f) => f.rule === 'line-macro').length, 0);
});

function findFile(rule: string, fixture: string): string {
  const root = path.join(FIXTURES, rule, fixture, 'after');
  const walk = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  const file = walk(root).find((f) => f.endsWith('.c'))!;
  return path.relative(root, file).split(path.sep).join('/');
}
