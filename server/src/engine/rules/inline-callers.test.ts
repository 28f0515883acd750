import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzePatches } from '../analyze';
import { caseDir, makePatch, ofRule, runCase } from '../../../../testing/fixtures';
import { tempDir } from '../../../../testing/tempDir';

const rule = 'inline-callers';

test('a header inline lists its callers from the tree, and only real calls', async () => {
  const r = await runCase(caseDir(rule, 'header-inline-callers'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.function, 'demo_queue_len');
  assert.equal(f.line, 10);
  const related = f.related.map((x) => `${x.file}:${x.line}`).sort();
  // misc.c only mentions the name in a comment.
  assert.deepEqual(related, ['drivers/demo/rx.c:5', 'drivers/demo/tx.c:5']);
  assert.match(f.related.find((x) => x.file === 'drivers/demo/tx.c')!.message, /demo_tx_budget\(\)/);
  assert.match(f.message, /2 in 2 files/);
  assert.match(f.message, /\.c file/);
});

test('the caller list is capped and the message says so', async () => {
  const r = await runCase(caseDir(rule, 'many-callers'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].related.length, 50);
  assert.match(f[0].message, /incomplete: the list stops at 50 callers/);
});

test('a static function with one call site names its caller', async () => {
  const r = await runCase(caseDir(rule, 'static-single-caller'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_checksum');
  assert.match(f[0].message, /single call site, in demo_verify\(\)/);
  assert.match(f[0].message, /noinline/);
  assert.deepEqual(
    f[0].related.map((x) => x.line),
    [19],
  );
});

test('a static function with two call sites, or marked noinline, is not flagged', async () => {
  for (const c of ['static-two-callers', 'noinline-single-caller']) {
    const r = await runCase(caseDir(rule, c));
    assert.deepEqual(ofRule(r, rule), [], c);
  }
});

test('without a tree a header inline is still reported, and says callers are unknown', async () => {
  const r = await runCase(caseDir(rule, 'header-inline-callers'), { withoutTree: true });
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.deepEqual(f[0].related, []);
  assert.match(f[0].message, /not known without the kernel tree/);
});

test('without a tree the single-call-site guess is not made (the hunks show only part of the file)', async () => {
  const r = await runCase(caseDir(rule, 'static-single-caller'), { withoutTree: true });
  assert.deepEqual(ofRule(r, rule), []);
});

// The caller search has one grep cache, the tree's, keyed on its commit, index and changed files:
// a server that analyses again after an edit sees the new caller at once.
test('a caller added to the git tree between two analyses in one process is found by the second', async () => {
  const saved = process.env.KLP_CACHE;
  process.env.KLP_CACHE = tempDir('klp-callers-cache-');
  try {
    const dir = caseDir(rule, 'header-inline-callers');
    const tree = tempDir('klp-callers-tree-');
    fs.cpSync(path.join(dir, 'before'), tree, { recursive: true });
    const stats = path.join(tree, 'drivers', 'demo', 'stats.c');
    fs.writeFileSync(stats, '#include <linux/demo_queue.h>\n\nint demo_stats(void)\n{\n\treturn 0;\n}\n');
    const g = (...a: string[]) => execFileSync('git', ['-C', tree, ...a], { stdio: 'ignore' });
    g('init', '-q');
    g('add', '-A');
    g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');
    // The search is time-boxed (1 s, git included): on a loaded machine a run may stop early. Complete
    // greps are cached on disk, so asking again gets further; `enough` says when an answer will do.
    const callers = async (enough: (files: string[]) => boolean) => {
      let last = { files: [] as string[], message: '' };
      for (let attempt = 0; attempt < 10; attempt++) {
        const r = await analyzePatches([{ name: 'case.patch', text: makePatch(dir) }], { tree });
        const [f] = ofRule(r, rule);
        last = { files: f.related.map((x) => x.file).sort(), message: f.message };
        if (!/ran out of time/.test(f.message) || enough(last.files)) return last.files;
      }
      assert.fail(`the caller search never finished: ${last.message}`);
    };
    assert.deepEqual(await callers(() => false), ['drivers/demo/rx.c', 'drivers/demo/tx.c']);
    // A new caller, neither staged nor committed.
    fs.writeFileSync(stats, '#include <linux/demo_queue.h>\n\nint demo_stats(struct demo_queue *q)\n{\n\treturn demo_queue_len(q);\n}\n');
    const found = await callers((files) => files.includes('drivers/demo/stats.c'));
    assert.deepEqual(found, ['drivers/demo/rx.c', 'drivers/demo/stats.c', 'drivers/demo/tx.c']);
  } finally {
    if (saved === undefined) delete process.env.KLP_CACHE;
    else process.env.KLP_CACHE = saved;
  }
});

test('a header function made noinline changes every caller, even with its body unchanged', async () => {
  const r = await runCase(caseDir(rule, 'header-inline-to-noinline'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.function, 'demo_queue_len');
  assert.equal(f.line, 8); // the head the patch changed
  assert.match(f.message, /was inline and is now noinline/);
  assert.match(f.message, /every one of them changes/);
  assert.match(f.message, /own out-of-line copy/);
  assert.deepEqual(f.related.map((x) => `${x.file}:${x.line}`).sort(), ['drivers/demo/rx.c:5', 'drivers/demo/tx.c:5']);
});

test('a header function that loses its inline keyword is reported the same way', async () => {
  const r = await runCase(caseDir(rule, 'header-inline-dropped'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.match(f[0].message, /was inline and no longer is/);
  assert.equal(f[0].related.length, 2);
});
