// The language server against bad and pathological documents: garbage gets a
// clear diagnostic, a document over the size cap gets a "not analysed" note
// without being read, and the analysis of a slow document is cancelled by the
// next edit instead of holding up the new version.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startServer, makeGitTree, ROOT, type TestServer } from '../../../testing/lspClient';
import { tempDir } from '../../../testing/tempDir';

let tree: string;
let server: TestServer;
const demoPatch = fs.readFileSync(path.join(ROOT, 'examples', 'demo', 'fix-proc-stats.patch'), 'utf8');
const uriOf = (rel: string) => pathToFileURL(path.join(tree, rel)).toString();

before(async () => {
  tree = makeGitTree(path.join(ROOT, 'examples', 'demo', 'tree'), tempDir('klp-lsp-'));
  server = await startServer(tree);
});
after(async () => {
  await server.stop();
  fs.rmSync(tree, { recursive: true, force: true });
});

test('garbage in a .patch document gets one clear error diagnostic', async () => {
  const cases: [string, string, RegExp][] = [
    ['nul.patch', `${demoPatch.slice(0, 200)}\0\u0001\u00ff garbage ${'\u0000'.repeat(10)}`, /binary data \(NUL byte\)/],
    ['binary.patch', 'diff --git a/fw.bin b/fw.bin\nnew file mode 100644\nGIT binary patch\nliteral 4\nLcmZQzU|;3$\n\n', /binary patch/],
    ['escape.patch', '--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n', /escapes the tree/],
    ['counts.patch', demoPatch.replace('@@ -7,19 +7,23 @@', '@@ -7,19 +7,99 @@'), /malformed/],
    ['words.patch', 'Just some words.\nNo diff here at all.\n', /no diff found/],
  ];
  for (const [name, text, why] of cases) {
    const uri = uriOf(name);
    server.open(uri, 'diff', text, 1);
    const { diagnostics } = await server.diagnostics(uri, 1);
    assert.equal(diagnostics.length, 1, `${name}: ${JSON.stringify(diagnostics)}`);
    assert.equal(diagnostics[0].code, 'patch-error', name);
    assert.equal(diagnostics[0].severity, 1, name);
    assert.match(String(diagnostics[0].message), /^Cannot analyse this patch: /, name);
    assert.match(String(diagnostics[0].message), why, name);
  }
});

test('a document over the size cap gets a "not analysed" note, promptly', async () => {
  // Over the default livepatch.maxFileBytes (4 MB).
  const big =
    demoPatch +
    `diff --git a/fs/proc/big.c b/fs/proc/big.c\nnew file mode 100644\n--- /dev/null\n+++ b/fs/proc/big.c\n@@ -0,0 +1,150000 @@\n${'+\tprocstats_limit += 1; /* padding padding */\n'.repeat(150_000)}`;
  assert.ok(big.length > 4 * 1024 * 1024);
  for (const [rel, lang] of [
    ['big.patch', 'diff'],
    ['fs/proc/big_source.c', 'c'],
  ] as const) {
    const uri = uriOf(rel);
    const t0 = performance.now();
    server.open(uri, lang, big, 1);
    const { diagnostics } = await server.diagnostics(uri, 1);
    const ms = performance.now() - t0;
    assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
    assert.match(String(diagnostics[0].message), /Not analysed: \d+\.\d MB is over the 4 MB limit \(livepatch\.maxFileBytes\)/);
    assert.ok(ms < 10_000, `${rel}: ${ms.toFixed(0)} ms`);
  }
});

test('a garbage kernel source buffer does not break the server', async () => {
  // Mismatched braces, unterminated comment and string, deep nesting: the
  // source is diffed against HEAD and analysed; diagnostics (maybe none) come back.
  const file = 'fs/proc/procstats.c';
  const base = fs.readFileSync(path.join(tree, file), 'utf8');
  // A real finding first (a line added to the __init function), then the garbage: the parser's
  // recovery keeps the rest of the file, so the finding is still reported, on its line.
  const lines = base.split('\n');
  const at = lines.indexOf(
    '\treturn 0;',
    lines.findIndex((l) => l.includes('proc_procstats_init')),
  );
  lines.splice(at, 0, '\tpr_info("procstats ready\\n");');
  const garbage = `${lines.join('\n')}\n}}}} ((( static int __init x(\n#if 1\n#if 2\n/* never closed\n"unterminated\n${'F('.repeat(3000)}1${')'.repeat(3000)};\n`;
  const uri = uriOf(file);
  server.open(uri, 'c', garbage, 1);
  const first = await server.diagnostics(uri, 1);
  assert.deepEqual(
    first.diagnostics.filter((d) => d.code === 'init-section').map((d) => d.range.start.line),
    [at],
    JSON.stringify(first.diagnostics),
  );
  // Still answering: back to the base text, the diagnostics clear.
  server.change(uri, 2, [{ text: base }]);
  assert.deepEqual((await server.diagnostics(uri, 2)).diagnostics, []);
});

test('a NUL byte in a kernel source buffer gets a diagnostic', async () => {
  const file = 'fs/proc/procstats.c';
  const base = fs.readFileSync(path.join(tree, file), 'utf8');
  const uri = uriOf('fs/proc/procstats_nul.c');
  fs.copyFileSync(path.join(tree, file), path.join(tree, 'fs/proc/procstats_nul.c'));
  server.open(uri, 'c', base.replace('return 0;', 'return 0;\0'), 1);
  const d = await Promise.race([
    server.diagnostics(uri, 1),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no diagnostics for the buffer with a NUL byte')), 3000)),
  ]);
  assert.equal(d.diagnostics.length, 1);
  assert.match(String(d.diagnostics[0].message), /^Not analysed: .*NUL/);
});

/**
 * A patch whose analysis takes seconds: many new, function-heavy files, then a line added to an
 * __init function: its init-section finding comes back only if the analysis got to the end.
 */
function slowPatch(files: number): string {
  let out = '';
  const body = Array.from({ length: 60 }, (_, i) =>
    [
      `static int slow_fn${i}(int x)`,
      '{',
      `\tstatic int calls${i};`,
      `\tpr_info("slow %d\\n", __LINE__);`,
      `\treturn x + calls${i}++;`,
      '}',
      '',
    ].join('\n'),
  ).join('\n');
  const lines = body.split('\n');
  for (let f = 0; f < files; f++) {
    out += `diff --git a/fs/proc/slow${f}.c b/fs/proc/slow${f}.c\nnew file mode 100644\n--- /dev/null\n+++ b/fs/proc/slow${f}.c\n@@ -0,0 +1,${lines.length} @@\n`;
    out += lines.map((l) => `+${l}\n`).join('');
  }
  out +=
    'diff --git a/fs/proc/procstats.c b/fs/proc/procstats.c\n--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -31,3 +31,4 @@ static int __init proc_procstats_init(void)\n {\n \tproc_create_single("procstats", 0, NULL, procstats_show);\n+\tpr_info("procstats ready\\n");\n \treturn 0;\n';
  return out;
}

/** CPU time (user + system, ms) the server process has used so far: clock ticks of /proc/PID/stat. */
function serverCpuMs(): number {
  const stat = fs.readFileSync(`/proc/${server.proc.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

test('the next edit cancels the analysis of a slow document', async () => {
  const text = slowPatch(200);
  // How long the whole analysis takes on this machine, in wall time and in the server's CPU time.
  const full = uriOf('slow-full.patch');
  let t0 = performance.now();
  let cpu0 = serverCpuMs();
  server.open(full, 'diff', text, 1);
  const all = await server.diagnostics(full, 1);
  const fullMs = performance.now() - t0;
  const fullCpuMs = serverCpuMs() - cpu0;
  // The whole document was analysed: the last hunk's finding is there, on the added line.
  const added = text.split('\n').indexOf('+\tpr_info("procstats ready\\n");');
  assert.deepEqual(
    all.diagnostics.filter((d) => d.code === 'init-section').map((d) => d.range.start.line),
    [added],
    JSON.stringify(all.diagnostics.slice(0, 5)),
  );
  // The same document, edited right after opening. Version 2 must not wait for version 1 (the
  // analysis yields between files), and version 1's analysis must stop: once version 2 is out the
  // server goes idle instead of finishing work nobody will see. CPU time, unlike wall time, does
  // not grow when other test files load the machine; still, up to three tries on fresh documents.
  const tries: string[] = [];
  const uris: string[] = [];
  let ok = false;
  for (let attempt = 0; attempt < 3 && !ok; attempt++) {
    const uri = uriOf(`slow-edited-${attempt}.patch`);
    uris.push(uri);
    t0 = performance.now();
    server.open(uri, 'diff', text, 1);
    await new Promise((r) => setTimeout(r, 50));
    server.change(uri, 2, [{ text: demoPatch }]);
    const second = await server.diagnostics(uri, 2);
    const editedMs = performance.now() - t0;
    assert.ok(
      second.diagnostics.some((d) => d.code === 'init-section'),
      JSON.stringify(second.diagnostics.map((d) => d.code)),
    );
    cpu0 = serverCpuMs();
    await new Promise((r) => setTimeout(r, Math.max(500, fullMs)));
    const afterCpuMs = serverCpuMs() - cpu0;
    tries.push(`version 2 after ${editedMs.toFixed(0)} ms, then ${afterCpuMs.toFixed(0)} ms of CPU`);
    ok = editedMs < fullMs * 0.6 && afterCpuMs < fullCpuMs * 0.25;
  }
  assert.ok(ok, `${tries.join('; ')}: the full analysis of version 1 takes ${fullMs.toFixed(0)} ms (${fullCpuMs.toFixed(0)} ms of CPU)`);
  // Version 1 is never published, not even late.
  for (const uri of uris) {
    await assert.rejects(
      Promise.race([server.diagnostics(uri, 1), new Promise((_, reject) => setTimeout(() => reject(new Error('none')), 200))]),
      /none/,
    );
  }
});
