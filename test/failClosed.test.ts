// livepatch-check fails closed: a changed file it did not analyse is an error (exit 2), and
// input that would take unbounded time or memory (an endless stdin, a flood of hunks) ends
// with a clear error. --generate-module writes nothing through symlinks, names its module
// only with a valid name, and makes an atomic-replace module only when asked.
import { test } from '../testing/nodeTest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../testing/tempDir';
import { moduleNameFrom, moduleNameProblem } from '../server/src/engine/generate/moduleName';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'livepatch-check.js');
const demoTree = path.join(root, 'examples', 'demo', 'tree');

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Changes the initializer of existing data: data-global-changed, an error, when the file is read.
const DATA_PATCH = `--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -10,1 +10,1 @@\n-static unsigned long procstats_limit = 128;\n+static unsigned long procstats_limit = 256;\n`;
const BODY_PATCH = `--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -12,3 +12,3 @@\n static void procstats_fill(struct procstats_sample *s)\n {\n-\ts->timestamp = ktime_get_ns();\n+\ts->timestamp = ktime_get_boottime_ns();\n`;

/** The demo tree with procstats.c padded past 4 MiB by comment lines after its code. */
function bigTree(): string {
  const dir = tempDir('lpc-big-');
  fs.cpSync(demoTree, path.join(dir, 'tree'), { recursive: true });
  const file = path.join(dir, 'tree', 'fs', 'proc', 'procstats.c');
  fs.appendFileSync(file, '/* padding: the file grows past the size limit, the code above stays put */\n'.repeat(60_000));
  assert.ok(fs.statSync(file).size > 4 * 1024 * 1024);
  return path.join(dir, 'tree');
}

function patchFile(text: string): string {
  const p = path.join(tempDir('lpc-patch-'), 'change.patch');
  fs.writeFileSync(p, text);
  return p;
}

test('a data-changing patch on a file over the size limit is not clean: exit 2 with a not-analysed error', () => {
  const tree = bigTree();
  const p = patchFile(DATA_PATCH);
  const r = run(['--tree', tree, p]);
  // Before: a note, exit 0.
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /^fs\/proc\/procstats\.c:1:1: error: fs\/proc\/procstats\.c was not analysed: 4\.\d MB is over the 4\.0 MB size limit \(--max-file-size\)\. No rule checked its change.* \[not-analysed\]$/m,
  );
  const j = JSON.parse(run(['--tree', tree, '--format', 'json', p]).stdout);
  assert.deepEqual(
    j.findings.map((f: { rule: string; severity: string; patchLine: number }) => [f.rule, f.severity, f.patchLine]),
    [['not-analysed', 'error', 1]],
  );
  const sarif = JSON.parse(run(['--tree', tree, '--format', 'sarif', p]).stdout).runs[0];
  assert.equal(sarif.results[0].level, 'error');
  assert.equal(sarif.tool.driver.rules[sarif.results[0].ruleIndex].id, 'not-analysed');
  // A higher limit analyses it: the data change is found (exit 1, the rule's verdict).
  const raised = run(['--tree', tree, '--max-file-size', String(16 * 1024 * 1024), p]);
  assert.equal(raised.code, 1, raised.stdout + raised.stderr);
  assert.match(raised.stdout, /\[data-global-changed\]/);
  assert.doesNotMatch(raised.stdout, /not-analysed/);
});

test('--max-file-size: a small limit makes a normal file not analysed; bad values are usage errors', () => {
  assert.ok(fs.statSync(path.join(demoTree, 'fs/proc/procstats.c')).size > 200);
  const r = run(['--tree', demoTree, '--max-file-size', '200', patchFile(BODY_PATCH)]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /over the 0\.0 MB size limit.*\[not-analysed\]/);
  for (const v of ['0', '-5', 'lots', '1e9', '']) {
    const bad = run(['--tree', demoTree, '--max-file-size', v, patchFile(BODY_PATCH)]);
    assert.equal(bad.code, 2, v);
    assert.match(bad.stderr, /--max-file-size takes a number of bytes/, v);
  }
});

test('an endless standard input (yes | livepatch-check -) ends with a clear error, exit 2, quickly', async () => {
  const t0 = Date.now();
  const child = spawn(process.execPath, [cli, '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  child.stdin.on('error', () => {}); // EPIPE once it stops reading
  const line = Buffer.from('y\n'.repeat(1 << 19));
  let open = true;
  const pump = (): void => {
    while (open && child.stdin.write(line));
    if (open) child.stdin.once('drain', pump);
  };
  pump();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  open = false;
  assert.equal(code, 2, stderr);
  assert.match(stderr, /^livepatch-check: standard input is bigger than 64 MB: not a patch this tool reads$/m);
  assert.ok(Date.now() - t0 < 10_000, `${Date.now() - t0} ms`);
});

test('a patch file that is a device or too big is refused without reading it all', () => {
  const r = run(['/dev/zero']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\/dev\/zero is bigger than 64 MB/);
  const big = path.join(tempDir('lpc-sparse-'), 'sparse.patch');
  fs.closeSync(fs.openSync(big, 'w'));
  fs.truncateSync(big, 65 * 1024 * 1024); // sparse: costs no disk
  const t0 = Date.now();
  const s = run([big]);
  assert.equal(s.code, 2);
  assert.match(s.stderr, /sparse\.patch is bigger than 64 MB/);
  assert.ok(Date.now() - t0 < 2000);
});

test('more than 10 000 hunks in one run is a clear error, not minutes and gigabytes', () => {
  const hunks = (n: number, file: string) =>
    `--- a/${file}\n+++ b/${file}\n` +
    Array.from({ length: n }, (_, i) => `@@ -${i * 3 + 1},1 +${i * 3 + 1},1 @@\n-int v${i};\n+long v${i};\n`).join('');
  const t0 = Date.now();
  const r = run(['-'], hunks(5_001, 'lib/a.c') + hunks(5_000, 'lib/b.c'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^livepatch-check: 10001 hunks in one run is over the limit of 10000: check the patches in smaller groups$/m);
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  // At the limit it runs.
  assert.notEqual(run(['-'], hunks(100, 'lib/a.c')).code, 2);
});

test('--generate-module does not write through a symlink in OUTDIR', () => {
  const dir = tempDir('lpc-gen-');
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const victim = path.join(dir, 'victim.txt');
  fs.writeFileSync(victim, 'precious\n');
  fs.symlinkSync(victim, path.join(out, 'Kbuild'));
  const r = run(['--tree', demoTree, '--generate-module', out, '--module-name', 'livepatch_ts', patchFile(BODY_PATCH)]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /refusing to write .*\/out\/Kbuild: it is a symlink \(to .*victim\.txt\)/);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  assert.deepEqual(fs.readdirSync(out), ['Kbuild'], 'nothing else written either');
  // A dangling one too (O_CREAT would create its target).
  const out2 = path.join(dir, 'out2');
  fs.mkdirSync(out2);
  fs.symlinkSync(path.join(dir, 'created-through-link'), path.join(out2, 'klp_patch_tables.c'));
  assert.equal(run(['--tree', demoTree, '--generate-module', out2, '--module-name', 'livepatch_ts', patchFile(BODY_PATCH)]).code, 2);
  assert.ok(!fs.existsSync(path.join(dir, 'created-through-link')));
  // Regular files from an earlier run are replaced.
  const out3 = path.join(dir, 'out3');
  fs.mkdirSync(out3);
  fs.writeFileSync(path.join(out3, 'Kbuild'), 'old\n');
  assert.equal(run(['--tree', demoTree, '--generate-module', out3, '--module-name', 'livepatch_ts', patchFile(BODY_PATCH)]).code, 0);
  assert.match(fs.readFileSync(path.join(out3, 'Kbuild'), 'utf8'), /^obj-m := livepatch_ts\.o\n/);
  assert.deepEqual(
    fs.readdirSync(out3).sort(),
    ['Kbuild', 'Makefile', 'klp_patch_tables.c', 'patched_0_procstats.c', 'src'],
    'no temporary files left',
  );
});

test('an empty or odd --module-name is a clear usage error', () => {
  // The one check the CLIs and the generator share (moduleNameFrom's names pass it).
  const cases: [string, RegExp][] = [
    ['', /it is empty/],
    ['1patch', /starts with a digit/],
    ['live-patch', /contains "-"/],
    ['a/b', /contains "\/"/],
    ['..', /contains "\."/],
    ['x'.repeat(56), /56 characters long, and the kernel takes at most 55/],
    ['name with space', /contains " "/],
    ['caf\u00e9', /contains "\u00e9"/],
  ];
  for (const [name, why] of cases) assert.match(moduleNameProblem(name) ?? 'accepted', why, JSON.stringify(name));
  for (const ok of [
    'Livepatch_Fix_2',
    '_x',
    'x'.repeat(55),
    moduleNameFrom('0001-Fix the-thing!.patch'),
    moduleNameFrom('x'.repeat(300)),
  ]) {
    assert.equal(moduleNameProblem(ok), null, ok);
  }
  const dir = tempDir('lpc-name-');
  for (const [name, why] of [cases[0], cases[3]]) {
    const out = path.join(dir, 'out');
    const r = run(['--tree', demoTree, '--generate-module', out, '--module-name', name, patchFile(BODY_PATCH)]);
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.ok(r.stderr.startsWith(`livepatch-check: --module-name ${JSON.stringify(name)}: `), r.stderr);
    assert.match(r.stderr, why, name);
    assert.ok(!fs.existsSync(out), `${name}: nothing written`);
  }
  // Upper case is fine for the kernel.
  assert.equal(
    run(['--tree', demoTree, '--generate-module', path.join(dir, 'ok'), '--module-name', 'Livepatch_Fix_2', patchFile(BODY_PATCH)]).code,
    0,
  );
  assert.match(fs.readFileSync(path.join(dir, 'ok', 'Kbuild'), 'utf8'), /^obj-m := Livepatch_Fix_2\.o\n/);
});

test('a generated module replaces other livepatches only with --replace', () => {
  const dir = tempDir('lpc-replace-');
  const plain = run(['--tree', demoTree, '--generate-module', path.join(dir, 'a'), '--module-name', 'livepatch_a', patchFile(BODY_PATCH)]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(fs.readFileSync(path.join(dir, 'a', 'klp_patch_tables.c'), 'utf8'), /^\t\.replace = false,$/m);
  assert.match(plain.stdout, /livepatch_a stacks on the livepatches already loaded \(--replace makes it replace them\)/);
  const rep = run([
    '--tree',
    demoTree,
    '--generate-module',
    path.join(dir, 'b'),
    '--module-name',
    'livepatch_b',
    '--replace',
    patchFile(BODY_PATCH),
  ]);
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(fs.readFileSync(path.join(dir, 'b', 'klp_patch_tables.c'), 'utf8'), /^\t\.replace = true,$/m);
  assert.match(rep.stdout, /livepatch_b is an atomic-replace patch: loading it disables and replaces every livepatch already loaded/);
  const usage = run(['--tree', demoTree, '--replace', patchFile(BODY_PATCH)]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--replace only applies with --generate-module/);
});
