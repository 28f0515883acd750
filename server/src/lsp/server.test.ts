// The language server end to end over stdio: patch documents, live kernel
// sources diffed against the base ref, hovers, quick fixes, the custom request.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HoverRequest, CodeActionRequest, type Diagnostic, type TextEdit, type WorkspaceEdit } from 'vscode-languageserver-protocol/node';
import { startServer, makeGitTree, applyEdits, ROOT, type TestServer } from '../../../testing/lspClient';
import { tempDir } from '../../../testing/tempDir';
import { analyzePatches } from '../engine/analyze';
import {
  AnalyzeWorkspaceChangesRequest,
  type AnalyzeWorkspaceChangesResult,
  GenerateModuleRequest,
  type GenerateModuleResult,
  LocateBuildReferencesRequest,
  type LocateBuildReferencesResult,
} from '../protocol';

let tree: string;
let server: TestServer;
const demoPatch = fs.readFileSync(path.join(ROOT, 'examples', 'demo', 'fix-proc-stats.patch'), 'utf8');

before(async () => {
  tree = makeGitTree(path.join(ROOT, 'examples', 'demo', 'tree'), tempDir('klp-lsp-'));
  server = await startServer(tree);
});
after(async () => {
  await server.stop();
});

const byCode = (ds: Diagnostic[], code: string) => ds.filter((d) => d.code === code);

test('a .patch gets diagnostics on its own lines, with rule ids, docs links and related locations', async () => {
  const uri = pathToFileURL(path.join(tree, 'fix-proc-stats.patch')).toString();
  server.open(uri, 'diff', demoPatch);
  const { diagnostics } = await server.diagnostics(uri);
  const lines = demoPatch.split('\n');
  const [init] = byCode(diagnostics, 'init-section');
  assert.ok(init, JSON.stringify(diagnostics.map((d) => d.code)));
  assert.equal(init.source, 'livepatch');
  assert.equal(init.severity, 1);
  assert.match(lines[init.range.start.line], /^\+\tif \(!proc_create_single/);
  assert.match(String(init.message), /callback/);
  assert.match(init.codeDescription!.href, /docs\/rules\/init-section\.md$/);
  const [layout] = byCode(diagnostics, 'struct-layout');
  assert.equal(lines[layout.range.start.line], '+\tunsigned long nr_stalled;');
  const rel = layout.relatedInformation![0];
  assert.equal(rel.location.uri, pathToFileURL(path.join(tree, 'include/linux/procstats.h')).toString());
  assert.ok(!diagnostics.some((d) => /ERROR|MISSING/.test(String(d.message))));
});

test('hover on a finding explains the rule and the build message', async () => {
  const uri = pathToFileURL(path.join(tree, 'fix-proc-stats.patch')).toString();
  const line = demoPatch.split('\n').indexOf('+\tunsigned long nr_stalled;');
  const h = await server.conn.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line, character: 3 } });
  const md = (h!.contents as { value: string }).value;
  assert.match(md, /struct-layout/);
  assert.match(md, /shadow variable/i);
  assert.match(md, /kpatch-build/);
});

test('the struct-layout quick fix moves the member into a shadow-variable scaffold', async () => {
  const uri = pathToFileURL(path.join(tree, 'fix-proc-stats.patch')).toString();
  // Ask for actions with the diagnostic the editor would pass back.
  server.open(uri, 'diff', demoPatch, 2);
  const published = await server.diagnostics(uri, 2);
  const d = byCode(published.diagnostics, 'struct-layout')[0];
  const actions = (await server.conn.sendRequest(CodeActionRequest.type, {
    textDocument: { uri },
    range: d.range,
    context: { diagnostics: [d] },
  })) as { title: string; edit: WorkspaceEdit }[];
  const fix = actions.find((a) => /shadow/.test(a.title));
  assert.ok(fix, JSON.stringify(actions.map((a) => a.title)));
  const changes = fix.edit.documentChanges as any[];
  const patchEdits = changes.find((c) => c.textDocument?.uri === uri).edits as TextEdit[];
  const created = changes.find((c) => c.kind === 'create');
  const scaffold = (changes.find((c) => c.textDocument?.uri === created.uri).edits as TextEdit[])[0].newText;
  assert.match(scaffold, /klp_shadow_get_or_alloc/);
  assert.match(scaffold, /klp_shadow_free/);
  assert.match(scaffold, /#define KLP_SHADOW_PROCSTATS_SAMPLE_NR_STALLED/);
  const fixed = applyEdits(demoPatch, patchEdits);
  assert.ok(!fixed.includes('+\tunsigned long nr_stalled;'));
  // The fixed patch is still a valid patch and the layout finding is gone.
  const r = await analyzePatches([{ name: 'fixed.patch', text: fixed }], { tree });
  assert.equal(r.findings.filter((f) => f.rule === 'struct-layout').length, 0);
});

test('a kernel source shows findings for the live buffer against HEAD, and none after undo', async () => {
  const file = path.join(tree, 'fs/proc/procstats.c');
  const uri = pathToFileURL(file).toString();
  const text = fs.readFileSync(file, 'utf8');
  server.open(uri, 'c', text, 1);
  assert.deepEqual((await server.diagnostics(uri, 1)).diagnostics, []);
  const lines = text.split('\n');
  const at = lines.indexOf(
    '\treturn 0;',
    lines.findIndex((l) => l.includes('proc_procstats_init')),
  );
  // Incremental change: insert one line inside the __init function, unsaved.
  server.change(uri, 2, [
    { range: { start: { line: at, character: 0 }, end: { line: at, character: 0 } }, text: '\tpr_info("procstats ready\\n");\n' },
  ]);
  const d2 = (await server.diagnostics(uri, 2)).diagnostics;
  const init = byCode(d2, 'init-section')[0];
  assert.ok(init, JSON.stringify(d2));
  assert.equal(init.range.start.line, at);
  // Undo: back to the base text, diagnostics clear.
  server.change(uri, 3, [{ range: { start: { line: at, character: 0 }, end: { line: at + 1, character: 0 } }, text: '' }]);
  assert.deepEqual((await server.diagnostics(uri, 3)).diagnostics, []);
  // Then an edit in another function (reparsed from the base's tree, not from the undone edit's).
  const fill =
    lines.indexOf(
      '{',
      lines.findIndex((l) => l.startsWith('static void procstats_fill')),
    ) + 1;
  server.change(uri, 4, [
    { range: { start: { line: fill, character: 0 }, end: { line: fill, character: 0 } }, text: '\tstatic int calls;\n' },
  ]);
  const d4 = (await server.diagnostics(uri, 4)).diagnostics;
  assert.deepEqual(
    byCode(d4, 'static-local-new').map((d) => d.range.start.line),
    [fill],
    JSON.stringify(d4),
  );
  assert.deepEqual(byCode(d4, 'init-section'), []);
});

test('livepatch/analyzeWorkspaceChanges reports unsaved buffers against the base', async () => {
  const file = path.join(tree, 'fs/proc/procstats.c');
  const uri = pathToFileURL(file).toString();
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const at = lines.indexOf(
    '\treturn 0;',
    lines.findIndex((l) => l.includes('proc_procstats_init')),
  );
  server.change(uri, 4, [{ range: { start: { line: at, character: 0 }, end: { line: at, character: 0 } }, text: '\tpr_info("x\\n");\n' }]);
  await server.diagnostics(uri, 4);
  const r = (await server.conn.sendRequest(AnalyzeWorkspaceChangesRequest, {
    uri: pathToFileURL(tree).toString(),
  })) as AnalyzeWorkspaceChangesResult;
  assert.equal(r.tree, tree);
  assert.deepEqual(r.files, ['fs/proc/procstats.c']);
  const f = r.findings.find((x) => x.rule === 'init-section');
  assert.ok(f);
  assert.equal(f.line, at + 1);
  assert.match(r.diff, /^\+\tpr_info\("x\\n"\);$/m);
});

test('Generate Module with the patched-unit generator returns the unit the extension builds on the host', async () => {
  const patch = `--- a/fs/proc/procstats.c
+++ b/fs/proc/procstats.c
@@ -23,6 +23,7 @@
 	procstats_fill(&s);
 	WARN_ON(s.nr_running > procstats_limit);
 	seq_printf(m, "running %lu\\n", s.nr_running);
+	seq_printf(m, "limit %lu\\n", procstats_limit);
 	seq_printf(m, "total %lu\\n", procstats_total(&s));
 	return 0;
 }
`;
  const kallsyms = [
    'ffffffff81000000 t procstats_fill',
    'ffffffff81000100 t procstats_show',
    'ffffffff82000000 d procstats_limit',
    '',
  ].join('\n');
  const g = (await server.conn.sendRequest(GenerateModuleRequest, {
    patch,
    uri: pathToFileURL(tree).toString(),
    name: 'livepatch_unit_lsp',
    generator: 'unit',
    kallsyms,
  })) as GenerateModuleResult;
  assert.ok(g.ok, JSON.stringify(g));
  assert.ok(g.unit, 'the unit itself comes back');
  assert.deepEqual(
    g.unit.functions.map((f) => [f.object, f.oldName]),
    [['vmlinux', 'procstats_show']],
  );
  const unit = g.unit.files[g.unit.units[0].unit];
  // Compiler errors land on the patched file's lines: the unit says where its text comes from.
  assert.match(unit, /^#line 1 "fs\/proc\/procstats\.c"$/m);
  assert.match(unit, /seq_printf\(m, "limit %lu\\n", procstats_limit\);/);
});

test('build output names are located in the tree the build ran from', async () => {
  const r = (await server.conn.sendRequest(LocateBuildReferencesRequest, {
    uri: pathToFileURL(tree).toString(),
    files: ['fs/proc/procstats.c'],
    references: [
      { object: 'fs/proc/procstats.o', function: 'procstats_show.isra.0' },
      { section: '.init.text' },
      { file: '/tmp/build/fs/proc/procstats.c', line: 13 },
    ],
  })) as LocateBuildReferencesResult;
  assert.deepEqual(r, [
    { file: 'fs/proc/procstats.c', line: 18, endLine: 18, what: 'function procstats_show' },
    null,
    { file: 'fs/proc/procstats.c', line: 12, endLine: 12, what: 'fs/proc/procstats.c:13' },
  ]);
});

test('rules can be switched off or re-graded in settings', async () => {
  server.settings = { rules: { 'init-section': { severity: 'off' }, 'struct-layout': { severity: 'hint' } } };
  await server.conn.sendNotification('workspace/didChangeConfiguration', { settings: {} });
  const uri = pathToFileURL(path.join(tree, 'other.patch')).toString();
  server.open(uri, 'diff', demoPatch, 1);
  const { diagnostics } = await server.diagnostics(uri, 1);
  assert.equal(byCode(diagnostics, 'init-section').length, 0);
  assert.equal(byCode(diagnostics, 'struct-layout')[0].severity, 4);
  server.settings = {};
});

test('a malformed patch gives one clear diagnostic, not a crash', async () => {
  const uri = pathToFileURL(path.join(tree, 'broken.patch')).toString();
  server.open(uri, 'diff', '--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -1,5 +1,5 @@\n-a\n+b\n', 1);
  const { diagnostics } = await server.diagnostics(uri, 1);
  assert.equal(diagnostics.length, 1);
  assert.match(String(diagnostics[0].message), /Cannot analyse this patch: .*malformed/);
});
