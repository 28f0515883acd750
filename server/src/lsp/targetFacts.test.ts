// The language server with the target's facts (livepatch/didChangeTargetFacts): the client
// sends the paths of the files it cached for the target's release; the open documents are
// checked again and a hedge becomes the certainty that names the release and the symbol.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Diagnostic } from 'vscode-languageserver-protocol/node';
import { startServer, makeGitTree, ROOT, type TestServer } from '../../../testing/lspClient';
import { tempDir } from '../../../testing/tempDir';
import { AnalyzeWorkspaceChangesRequest, DidChangeTargetFactsNotification, type AnalyzeWorkspaceChangesResult } from '../protocol';

const CASE = path.join(ROOT, 'server/src/engine/rules/fixtures/inline-notrace/static-inline-in-c');
const RELEASE = '6.1.0-lsp-test';
let tree: string;
let server: TestServer;
let cache: string;

before(async () => {
  const src = tempDir('klp-lsp-facts-src-');
  fs.cpSync(path.join(CASE, 'before'), src, { recursive: true });
  fs.writeFileSync(path.join(src, 'Kbuild'), 'obj-y += fs/\n');
  fs.writeFileSync(path.join(src, 'Makefile'), 'VERSION = 6\nPATCHLEVEL = 1\n');
  tree = makeGitTree(src, tempDir('klp-lsp-facts-'));
  cache = path.join(tempDir('klp-lsp-facts-cache-'), 'targets');
  fs.mkdirSync(path.join(cache, RELEASE), { recursive: true });
  // The target keeps an out-of-line copy of the static inline the edit changes.
  fs.writeFileSync(path.join(cache, RELEASE, 'kallsyms'), 'ffffffff81001000 T demo_append\nffffffff81001010 t demo_room\n');
  server = await startServer(tree);
});
after(async () => {
  await server?.stop();
});

const inlineNotrace = (ds: Diagnostic[]) => ds.filter((d) => d.code === 'inline-notrace');

test('facts sent: the open source is checked again and the hedged warning becomes an error naming the release and the symbol; facts withdrawn: the hedge is back', async () => {
  const uri = pathToFileURL(path.join(tree, 'fs/demo/buf.c')).toString();
  server.open(uri, 'c', fs.readFileSync(path.join(CASE, 'after/fs/demo/buf.c'), 'utf8'));
  const [hedged] = inlineNotrace((await server.diagnostics(uri, 1)).diagnostics);
  assert.ok(hedged, 'the fixture gives an inline-notrace warning without facts');
  assert.equal(hedged.severity, 2);
  assert.match(String(hedged.message), /if any copy stays out of line/);

  void server.conn.sendNotification(DidChangeTargetFactsNotification, {
    facts: { target: 'vm', release: RELEASE, kallsyms: path.join(cache, RELEASE, 'kallsyms'), symvers: null, config: null },
  });
  // No edit: the same version comes again, analysed with the facts.
  const [certain, ...more] = inlineNotrace((await server.diagnostics(uri, 1)).diagnostics);
  assert.equal(more.length, 0);
  assert.equal(certain.severity, 1);
  assert.match(String(certain.message), new RegExp(`kallsyms of ${RELEASE.replace(/\./g, '\\.')} lists \`demo_room\` \\(t, vmlinux\\)`));
  assert.match(String(certain.message), /doesn't have patchable function entry/);
  assert.equal(certain.range.start.line, hedged.range.start.line);

  // The workspace-changes request (Build's gate) sees the same facts.
  const w = (await server.conn.sendRequest(AnalyzeWorkspaceChangesRequest, { uri })) as AnalyzeWorkspaceChangesResult;
  assert.deepEqual(
    w.findings.filter((f) => f.rule === 'inline-notrace').map((f) => f.severity),
    ['error'],
  );
  assert.ok(
    w.notes.some((n) => n.includes(`target facts of ${RELEASE}: 2 symbol names (kallsyms)`)),
    w.notes.join('\n'),
  );

  void server.conn.sendNotification(DidChangeTargetFactsNotification, { facts: null });
  const [again] = inlineNotrace((await server.diagnostics(uri, 1)).diagnostics);
  assert.equal(again.severity, 2);
  assert.equal(again.message, hedged.message);
});

test('facts that cannot be read leave the hedge and do not stop the server', async () => {
  const uri = pathToFileURL(path.join(tree, 'fs/demo/buf.c')).toString();
  const log: string[] = [];
  server.conn.onNotification('window/logMessage', (p: { message: string }) => void log.push(p.message));
  void server.conn.sendNotification(DidChangeTargetFactsNotification, {
    facts: { target: 'vm', release: RELEASE, kallsyms: path.join(cache, RELEASE, 'missing'), symvers: null, config: null },
  });
  // Nothing changed (there were no facts before): no new analysis; an edit still gets the hedge.
  server.change(uri, 2, [{ text: fs.readFileSync(path.join(CASE, 'after/fs/demo/buf.c'), 'utf8') + '\n' }]);
  const [f] = inlineNotrace((await server.diagnostics(uri, 2)).diagnostics);
  assert.equal(f.severity, 2);
  assert.ok(
    log.some((m) => /cannot be used: kallsyms .*missing' cannot be read/.test(m)),
    log.join('\n'),
  );
});
