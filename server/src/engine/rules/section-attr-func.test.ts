import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'section-attr-func';

test('a changed __sched function is an error naming .sched.text and KPATCH_IGNORE_SECTION', async () => {
  const r = await runCase(caseDir(rule, 'changed-sched-function'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_wait_ready');
  assert.equal(f.line, 8); // 0-based: "if (!wq)"
  assert.match(f.message, /changed section \.sched\.text not selected for inclusion/);
  assert.match(f.message, /KPATCH_IGNORE_SECTION\("\.sched\.text"\)/);
  assert.match(f.message, /callers/);
});

test('an unrelated function next to a __sched one is not flagged', async () => {
  const r = await runCase(caseDir(rule, 'neighbour-of-sched-function'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('an explicit __section("...") names that section', async () => {
  const r = await runCase(caseDir(rule, 'explicit-section'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_entry_hook');
  assert.match(f[0].message, /\.demo\.text/);
  assert.match(f[0].message, /KPATCH_IGNORE_SECTION\("\.demo\.text"\)/);
});

test('the documented fix (attribute dropped, KPATCH_IGNORE_SECTION added) is not re-flagged', async () => {
  const r = await runCase(caseDir(rule, 'attr-dropped-with-ignore-section'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('dropping the attribute without KPATCH_IGNORE_SECTION is still an error that asks for it', async () => {
  const r = await runCase(caseDir(rule, 'attr-dropped-without-ignore-section'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'error');
  assert.match(f[0].message, /drops __sched/);
  assert.match(f[0].message, /KPATCH_IGNORE_SECTION/);
});

test('KPATCH_IGNORE_SECTION while the attribute stays warns that the change would be dropped', async () => {
  const r = await runCase(caseDir(rule, 'ignore-section-but-attr-kept'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /left out of the patch/);
});

test('works without a tree', async () => {
  const r = await runCase(caseDir(rule, 'changed-sched-function'), { withoutTree: true });
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].line, 8);
});
