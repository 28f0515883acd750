import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../testing/fixtures';

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
  assert.deepEqual(f[0].related.map((x) => x.line), [19]);
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
