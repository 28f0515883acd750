// In the editor too, a changed file the engine did not analyse (over livepatch.maxFileBytes)
// is an error, on a patch's diagnostics and in the workspace-changes result the Build
// command's gate reads, instead of an information note (or, for the working tree, a diff that
// showed the big file as deleted).
import { test, before, after } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startServer, makeGitTree, ROOT, type TestServer } from '../../../testing/lspClient';
import { tempDir } from '../../../testing/tempDir';
import { AnalyzeWorkspaceChangesRequest, type AnalyzeWorkspaceChangesResult } from '../protocol';

let tree: string;
let server: TestServer;
const FILE = 'fs/proc/procstats.c';

before(async () => {
  tree = makeGitTree(path.join(ROOT, 'examples', 'demo', 'tree'), tempDir('klp-lsp-'));
  assert.ok(fs.statSync(path.join(tree, FILE)).size > 700);
  server = await startServer(tree, { settings: { maxFileBytes: 700 } });
});
after(async () => {
  await server.stop();
});

test('a .patch changing a file over livepatch.maxFileBytes gets a not-analysed error on the file header', async () => {
  const uri = pathToFileURL(path.join(tree, 'data.patch')).toString();
  server.open(
    uri,
    'diff',
    `--- a/${FILE}\n+++ b/${FILE}\n@@ -10,1 +10,1 @@\n-static unsigned long procstats_limit = 128;\n+static unsigned long procstats_limit = 256;\n`,
    1,
  );
  const { diagnostics } = await server.diagnostics(uri, 1);
  const d = diagnostics.filter((x) => x.code === 'not-analysed');
  assert.equal(d.length, 1, JSON.stringify(diagnostics));
  assert.equal(d[0].severity, 1);
  assert.equal(d[0].range.start.line, 0);
  assert.match(
    String(d[0].message),
    /^fs\/proc\/procstats\.c was not analysed: 0\.0 MB is over the 0\.0 MB size limit \(livepatch\.maxFileBytes\)/,
  );
  assert.match(String(d[0].codeDescription?.href), /docs\/rules\/not-analysed\.md$/);
});

test('workspace changes: a changed file over the limit is a not-analysed error, not a deletion', async () => {
  fs.appendFileSync(path.join(tree, FILE), '/* changed on disk */\n');
  const r = (await server.conn.sendRequest(AnalyzeWorkspaceChangesRequest, {
    uri: pathToFileURL(tree).toString(),
  })) as AnalyzeWorkspaceChangesResult;
  assert.deepEqual(
    r.findings.map((f) => [f.rule, f.severity, f.file]),
    [['not-analysed', 'error', FILE]],
  );
  assert.doesNotMatch(r.diff, /procstats\.c/, 'the big file is not in the diff (it was once diffed as emptied)');
});
