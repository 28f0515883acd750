// The livepatch-check contract other tools depend on: formats and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../testing/tempDir';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'livepatch-check.js');
const demoTree = path.join(root, 'examples', 'demo', 'tree');
const demoPatch = path.join(root, 'examples', 'demo', 'fix-proc-stats.patch');

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tmp(): string {
  return tempDir('lpc-');
}

test('text output is gcc-style with rule ids and a summary, exit 1 on errors', () => {
  const r = run(['--tree', demoTree, demoPatch]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.ok(
    lines.some((l) => /^fs\/proc\/procstats\.c:\d+:\d+: error: .* \[init-section\]$/.test(l)),
    r.stdout,
  );
  assert.ok(
    lines.some((l) => /^include\/linux\/procstats\.h:\d+:\d+: error: .* \[struct-layout\]$/.test(l)),
    r.stdout,
  );
  assert.match(lines[lines.length - 1], /^livepatch-check: 1 patch\(es\), 2 file\(s\): \d+ error\(s\)/);
});

test('json output follows the version 1 contract with 1-based post-image lines', () => {
  const r = run(['--tree', demoTree, '--format', 'json', demoPatch]);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout);
  assert.equal(j.version, 1);
  assert.equal(j.tree, fs.realpathSync(demoTree));
  assert.deepEqual(j.patches[0].files, ['fs/proc/procstats.c', 'include/linux/procstats.h']);
  const s = j.findings.find((f: any) => f.rule === 'struct-layout');
  assert.equal(s.severity, 'error');
  assert.equal(s.file, 'include/linux/procstats.h');
  const post = fs.readFileSync(demoPatch, 'utf8');
  assert.ok(post.includes('+\tunsigned long nr_stalled;'));
  assert.equal(s.line, 11); // the added member, 1-based, in the post-image
  assert.equal(s.symbol, 'struct procstats_sample');
  assert.ok(Array.isArray(s.related) && s.related[0].file === 'include/linux/procstats.h');
  for (const f of j.findings)
    for (const k of ['rule', 'severity', 'file', 'line', 'endLine', 'function', 'symbol', 'message', 'related']) assert.ok(k in f, k);
});

test('sarif output is SARIF 2.1.0 with rules and results', () => {
  const r = run(['--tree', demoTree, '--format', 'sarif', demoPatch]);
  const s = JSON.parse(r.stdout);
  assert.equal(s.version, '2.1.0');
  const run0 = s.runs[0];
  assert.equal(run0.tool.driver.name, 'livepatch-check');
  const res = run0.results.find((x: any) => x.ruleId === 'init-section');
  assert.equal(res.level, 'error');
  assert.equal(run0.tool.driver.rules[res.ruleIndex].id, 'init-section');
  assert.equal(res.locations[0].physicalLocation.artifactLocation.uri, 'fs/proc/procstats.c');
});

test('exit 0 when nothing is error-level', () => {
  const dir = tmp();
  const p = path.join(dir, 'ok.patch');
  fs.writeFileSync(
    p,
    `--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -12,3 +12,3 @@\n static void procstats_fill(struct procstats_sample *s)\n {\n-\ts->timestamp = ktime_get_ns();\n+\ts->timestamp = ktime_get_boottime_ns();\n`,
  );
  const r = run(['--tree', demoTree, p]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('exit 2 with a one-line reason for bad input', () => {
  const dir = tmp();
  const cases: [string, string | Buffer, RegExp][] = [
    ['escape.patch', `--- a/x.c\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n`, /escapes the tree/],
    ['abs.patch', `--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n`, /escapes the tree/],
    ['count.patch', `--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -1,5 +1,5 @@\n-a\n+b\n`, /malformed/],
    ['binary.patch', `diff --git a/x.bin b/x.bin\nindex 1..2 100644\nGIT binary patch\nliteral 1\nIcmZpd00001\n`, /binary/],
    ['nul.patch', Buffer.from('--- a/x\n+++ b/x\n\0\0\0'), /binary|NUL/],
    ['empty.patch', 'just some text\n', /no diff/],
    // Found by the mutation run (a truncated header left a directory name).
    ['directory.patch', `--- a/fs/proc\n+++ b/fs/proc\n@@ -1 +1 @@\n-a\n+b\n`, /not a file in the kernel tree/],
  ];
  for (const [name, body, re] of cases) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, body);
    const r = run(['--tree', demoTree, p]);
    assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re, name);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line: ${r.stderr}`);
    assert.equal(r.stdout, '', name);
  }
  assert.equal(run(['--tree', path.join(dir, 'nope'), demoPatch]).code, 2);
  assert.equal(run(['--tree', demoTree, path.join(dir, 'missing.patch')]).code, 2);
  assert.equal(run([]).code, 2);
  assert.equal(run(['--format', 'xml', demoPatch]).code, 2);
});

test('a hunk that does not apply to the tree is bad input, not a crash', () => {
  const dir = tmp();
  const p = path.join(dir, 'stale.patch');
  fs.writeFileSync(
    p,
    `--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -1,1 +1,1 @@\n-this line is not in the file\n+nor is this one\n`,
  );
  const r = run(['--tree', demoTree, p]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /does not apply/);
});

test('without --tree the analysis runs on the hunks and says so', () => {
  const r = run(['--format', 'json', demoPatch]);
  const j = JSON.parse(r.stdout);
  assert.equal(j.tree, null);
  assert.match(j.notes.join('\n'), /no kernel tree/);
  assert.ok(j.findings.some((f: any) => f.rule === 'init-section'));
});

test('a symlink inside the tree pointing outside is refused before reading', () => {
  const dir = tmp();
  const tree = path.join(dir, 'tree');
  const outside = path.join(dir, 'outside');
  fs.mkdirSync(path.join(tree, 'fs'), { recursive: true });
  fs.mkdirSync(outside);
  // The file outside is a FIFO nobody writes: opening it to read blocks, whatever the mount's
  // atime policy. Refused before it is opened, the CLI exits at once; opened, it hangs until killed.
  execFileSync('mkfifo', [path.join(outside, 'canary.c')]);
  fs.symlinkSync(outside, path.join(tree, 'fs', 'link'));
  const p = path.join(dir, 'link.patch');
  fs.writeFileSync(p, `--- a/fs/link/canary.c\n+++ b/fs/link/canary.c\n@@ -1 +1 @@\n-int canary;\n+int canary = 1;\n`);
  const r = spawnSync(process.execPath, [cli, '--tree', tree, p], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(r.signal, null, 'the CLI opened the file outside the tree (it blocked reading the FIFO)');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /escapes the kernel tree through a symlink/);
});

test('--generate-module writes a kbuild livepatch module, and refuses with the reasons on errors', () => {
  const dir = tmp();
  const p = path.join(dir, 'ok.patch');
  fs.writeFileSync(
    p,
    `--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -12,3 +12,3 @@\n static void procstats_fill(struct procstats_sample *s)\n {\n-\ts->timestamp = ktime_get_ns();\n+\ts->timestamp = ktime_get_boottime_ns();\n`,
  );
  const out = path.join(dir, 'mod');
  const r = run(['--tree', demoTree, '--generate-module', out, '--module-name', 'livepatch_ts', p]);
  assert.equal(r.code, 0, r.stderr);
  // The default generator compiles the patched file itself.
  const unit = fs.readFileSync(path.join(out, 'patched_0_procstats.c'), 'utf8');
  assert.match(unit, /^#undef MODULE\n#line 1 "fs\/proc\/procstats\.c"\n/);
  assert.match(unit, /void livepatch_procstats_fill\(struct procstats_sample \*s\)\n\{\n\ts->timestamp = ktime_get_boottime_ns\(\);/);
  assert.match(
    unit,
    /extern __typeof__\(__klp_orig_procstats_limit\) procstats_limit __asm__\("__klp_sym_7_vmlinux_15_procstats_limit_0"\)/,
  );
  assert.match(
    fs.readFileSync(path.join(out, 'klp_patch_tables.c'), 'utf8'),
    /\.old_name = "procstats_fill",\n\t\t\.new_func = livepatch_procstats_fill,[\s\S]*\.replace = false,/,
  );
  assert.match(
    fs.readFileSync(path.join(out, 'Kbuild'), 'utf8'),
    /^obj-m := livepatch_ts\.o\nlivepatch_ts-y := patched_0_procstats\.o klp_patch_tables\.o\n/,
  );
  // The older closure generator stays available.
  const closure = path.join(dir, 'closure');
  const rc = run(['--tree', demoTree, '--generate-module', closure, '--generator', 'closure', '--module-name', 'livepatch_ts', p]);
  assert.equal(rc.code, 0, rc.stderr);
  const c = fs.readFileSync(path.join(closure, 'livepatch_ts.c'), 'utf8');
  assert.match(c, /static void livepatch_procstats_fill\(struct procstats_sample \*s\)/);
  assert.equal(fs.readFileSync(path.join(closure, 'Kbuild'), 'utf8'), 'obj-m += livepatch_ts.o\n');
  const bad = run(['--tree', demoTree, '--generate-module', path.join(dir, 'bad'), demoPatch]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /cannot generate a livepatch module/);
  assert.match(bad.stderr, /init-section/);
  assert.ok(!fs.existsSync(path.join(dir, 'bad')));
});

test('git format-patch mails (message, diffstat, signature) are read', () => {
  const dir = tmp();
  const p = path.join(dir, '0001-fix.patch');
  fs.writeFileSync(
    p,
    `From 1234567890abcdef Mon Sep 17 00:00:00 2001\nFrom: A Developer <a@example.org>\nSubject: [PATCH] procstats: use boot time\n\n---\n fs/proc/procstats.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\ndiff --git a/fs/proc/procstats.c b/fs/proc/procstats.c\nindex 1111111..2222222 100644\n--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -12,3 +12,3 @@\n static void procstats_fill(struct procstats_sample *s)\n {\n-\ts->timestamp = ktime_get_ns();\n+\ts->timestamp = ktime_get_boottime_ns();\n-- \n2.39.5\n\n`,
  );
  const r = run(['--tree', demoTree, '--format', 'json', p]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).patches[0].files, ['fs/proc/procstats.c']);
});

test('KLP_TIMINGS=1 adds one stderr line: where the run went, by phase, adding up to its total', () => {
  const quiet = run(['--tree', demoTree, demoPatch]);
  const r = spawnSync(process.execPath, [cli, '--tree', demoTree, demoPatch], {
    encoding: 'utf8',
    // Without the index store: a stored pre-image has no whole-file parse to show.
    env: { ...process.env, KLP_TIMINGS: '1', KLP_NO_INDEX_CACHE: '1' },
  });
  // The findings and exit status do not change.
  assert.equal(r.status, quiet.code);
  assert.equal(r.stdout, quiet.stdout);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('livepatch-check: timings: '));
  assert.equal(lines.length, 1, r.stderr);
  const t = JSON.parse(lines[0].slice('livepatch-check: timings: '.length)) as { totalMs: number; phases: Record<string, number> };
  for (const phase of ['node startup', 'bundle load', 'read patches', 'parse', 'index', 'rule struct-layout', 'other'])
    assert.ok(typeof t.phases[phase] === 'number', `phase ${phase} in ${lines[0]}`);
  const sum = Object.values(t.phases).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - t.totalMs) < 1, `phases add up to ${sum}, total ${t.totalMs}`);
  assert.ok(t.phases.other >= 0, 'no phase is counted twice');
  // Off by default.
  assert.doesNotMatch(quiet.stderr, /timings/);
});

test('a run indexed on two threads (IndexPool) prints exactly what a one-thread run prints', () => {
  const store = tmp();
  // Stored pre-images are not sent to the pool: the first two runs start from an empty store.
  const env = (extra: Record<string, string>) => ({ ...process.env, KLP_TIMINGS: '1', ...extra });
  const args = [cli, '--tree', demoTree, '--format', 'json', demoPatch];
  const one = spawnSync(process.execPath, args, { encoding: 'utf8', env: env({ KLP_NO_WORKERS: '1', KLP_NO_INDEX_CACHE: '1' }) });
  // No size floor: the demo's two files go to the pool.
  const two = spawnSync(process.execPath, args, { encoding: 'utf8', env: env({ KLP_POOL_MIN_BYTES: '0', KLP_INDEX_CACHE: store }) });
  assert.equal(two.status, one.status, two.stderr);
  assert.equal(two.stdout, one.stdout);
  assert.ok(JSON.parse(one.stdout).findings.length > 0);
  // What was indexed (by the worker or this thread, whichever claimed it first) is stored, both images: the next run parses nothing.
  const three = spawnSync(process.execPath, args, { encoding: 'utf8', env: env({ KLP_POOL_MIN_BYTES: '0', KLP_INDEX_CACHE: store }) });
  assert.equal(three.stdout, one.stdout);
  assert.doesNotMatch(three.stderr, /"parse|"wait for wasm"/);
});

test('the index store keeps what the IndexPool worker indexed, both images: the same big patch again parses nothing', () => {
  // 40 files of 150 functions: the main thread is still parsing when the worker starts taking files from the end.
  const tree = tmp();
  fs.mkdirSync(path.join(tree, 'fs', 'big'), { recursive: true });
  let patch = '';
  for (let f = 0; f < 40; f++) {
    const body = Array.from({ length: 150 }, (_, i) => `static int big${f}_fn${i}(int x)\n{\n\treturn x + ${i};\n}\n`).join('\n');
    fs.writeFileSync(path.join(tree, 'fs', 'big', `f${f}.c`), body);
    const lines = body.split('\n');
    patch += `--- a/fs/big/f${f}.c\n+++ b/fs/big/f${f}.c\n@@ -3,2 +3,2 @@\n-${lines[2]}\n+\treturn x + 100;\n ${lines[3]}\n`;
  }
  const patchFile = path.join(tmp(), 'big.patch');
  fs.writeFileSync(patchFile, patch);
  const store = tmp();
  const args = [cli, '--tree', tree, '--format', 'json', patchFile];
  const env = { ...process.env, KLP_TIMINGS: '1', KLP_POOL_MIN_BYTES: '0', KLP_INDEX_CACHE: store };
  const first = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  const again = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  assert.equal(again.stdout, first.stdout);
  assert.equal(again.status, first.status, again.stderr);
  assert.doesNotMatch(again.stderr, /"parse|"wait for wasm"/);
});

test('the index store: the same patch again parses nothing and starts no wasm; another edit parses only its items; KLP_NO_INDEX_CACHE=1 keeps nothing', () => {
  const store = tmp();
  const args = [cli, '--tree', demoTree, '--format', 'json', demoPatch];
  const phases = (r: { stderr: string }) =>
    JSON.parse(/livepatch-check: timings: (.*)/.exec(r.stderr)![1]).phases as Record<string, number>;
  const off = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    env: { ...process.env, KLP_NO_INDEX_CACHE: '1', KLP_INDEX_CACHE: store },
  });
  assert.deepEqual(fs.readdirSync(store), [], 'nothing kept');
  const env = { ...process.env, KLP_TIMINGS: '1', KLP_INDEX_CACHE: store };
  const first = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  const [build] = fs.readdirSync(store);
  assert.match(build, /^[0-9a-f]{16}$/);
  // Both changed files' pre- and post-images.
  const kept = fs.readdirSync(path.join(store, build));
  assert.ok(kept.length >= 4, kept.join(' '));
  assert.ok('parse' in phases(first));
  const second = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  assert.equal(second.stdout, off.stdout);
  assert.equal(first.stdout, off.stdout);
  assert.equal(second.status, off.status);
  const p = phases(second);
  assert.ok(!('parse' in p) && !('parse (changed items)' in p) && !('wait for wasm' in p), JSON.stringify(p));
  assert.deepEqual(fs.readdirSync(path.join(store, build)).sort(), kept.sort(), 'nothing new to keep');
  /** The demo patch with `= 256;` changed to `value`, run with the store and without it: the same output. */
  const variant = (value: string) => {
    const file = path.join(tmp(), 'variant.patch');
    fs.writeFileSync(file, fs.readFileSync(demoPatch, 'utf8').replace('= 256;', value));
    const vargs = [cli, '--tree', demoTree, '--format', 'json', file];
    const run = spawnSync(process.execPath, vargs, { encoding: 'utf8', env });
    const off = spawnSync(process.execPath, vargs, { encoding: 'utf8', env: { ...process.env, KLP_NO_INDEX_CACHE: '1' } });
    assert.equal(run.stdout, off.stdout);
    assert.equal(run.status, off.status, run.stderr);
    return run;
  };
  // The same file patched another way: its stored pre-image is sliced, only the changed items parsed.
  const p3 = phases(variant('= 512;'));
  assert.ok(!('parse' in p3) && 'parse (changed items)' in p3, JSON.stringify(p3));
  // The items and blanked texts lost (a store pruned half-way): the stored index cannot be
  // sliced, so both images are parsed whole; the output is the same, and they are kept again.
  const auxes = () => fs.readdirSync(path.join(store, build)).filter((n) => n.endsWith('.aux.bin'));
  assert.ok(auxes().length >= 4, auxes().join(' '));
  for (const n of auxes()) fs.rmSync(path.join(store, build, n));
  const fourth = variant('= 1024;');
  assert.ok('parse' in phases(fourth), JSON.stringify(phases(fourth)));
  // The changed file's two images (the header, patched as before, was not parsed: its entries stay as they are).
  assert.equal(auxes().length, 2, 'the sliced file kept whole again');
});

test('the index store: a rule that must parse in an otherwise stored run gets the parser, and prints the same', () => {
  const store = tmp();
  // A printk added to an existing function: printk-cold parses the function (and keeps what it found).
  const patch = path.join(tmp(), 'printk.patch');
  fs.writeFileSync(
    patch,
    [
      'diff --git a/fs/proc/procstats.c b/fs/proc/procstats.c',
      '--- a/fs/proc/procstats.c',
      '+++ b/fs/proc/procstats.c',
      '@@ -14,4 +14,5 @@ static void procstats_fill(struct procstats_sample *s)',
      ' \ts->timestamp = ktime_get_ns();',
      ' \ts->nr_running = nr_running();',
      ' \ts->nr_blocked = nr_iowait();',
      '+\tpr_info("procstats: filled\\n");',
      ' }',
      '',
    ].join('\n'),
  );
  const args = [cli, '--tree', demoTree, '--format', 'json', patch];
  const env = { ...process.env, KLP_TIMINGS: '1', KLP_INDEX_CACHE: store };
  const phases = (r: { stderr: string }) =>
    JSON.parse(/livepatch-check: timings: (.*)/.exec(r.stderr)![1]).phases as Record<string, number>;
  const off = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, KLP_NO_INDEX_CACHE: '1' } });
  assert.ok(
    JSON.parse(off.stdout).findings.some((f: { rule: string }) => f.rule === 'printk-cold'),
    off.stdout,
  );
  spawnSync(process.execPath, args, { encoding: 'utf8', env });
  const [build] = fs.readdirSync(store);
  const dir = path.join(store, build);
  const rulesKept = fs.readdirSync(dir).filter((n) => n.endsWith('.kept.bin'));
  assert.equal(rulesKept.length, 1, fs.readdirSync(dir).join(' '));
  // Every image is stored, but what printk-cold kept is gone: the run has to start the parser after all.
  fs.rmSync(path.join(dir, rulesKept[0]));
  const again = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  assert.equal(again.stdout, off.stdout);
  assert.equal(again.status, off.status);
  assert.ok('wait for wasm' in phases(again) && 'parse' in phases(again), JSON.stringify(phases(again)));
  // And kept it again: the next run parses nothing.
  const last = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  assert.equal(last.stdout, off.stdout);
  assert.ok(!('wait for wasm' in phases(last)), JSON.stringify(phases(last)));
});
