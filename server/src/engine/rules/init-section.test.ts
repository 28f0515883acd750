import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'init-section';

test('a changed __init function is an error on its changed line', async () => {
  const r = await runCase(caseDir(rule, 'changed-init-function'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_setup');
  assert.equal(f.line, 6); // 0-based: "demo_ready = 2;"
  assert.match(f.message, /__init/);
  assert.match(f.message, /callback/);
  assert.ok(f.patchLine !== undefined && r.patch.split('\n')[f.patchLine].startsWith('+'));
});

test('a changed module_init() target is an error even without __init', async () => {
  const r = await runCase(caseDir(rule, 'changed-initcall-target'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.match(f[0].message, /module_init/);
});

test('changing another function next to an __init one is fine', async () => {
  const r = await runCase(caseDir(rule, 'unchanged-init-function'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('changed __initdata is an error', async () => {
  const r = await runCase(caseDir(rule, 'changed-initdata'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].symbol, 'demo_banner');
});

test('works without a tree, from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'changed-init-function'), { withoutTree: true });
  assert.equal(ofRule(r, rule).length, 1);
  assert.match(r.notes.join('\n'), /no kernel tree/);
});

test('KPATCH_IGNORE_FUNCTION(fn) in the file is respected, as by the other function rules', async () => {
  const r = await runCase(caseDir(rule, 'ignored-function'));
  assert.deepEqual(ofRule(r, rule), []);
});
