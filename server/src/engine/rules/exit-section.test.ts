import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'exit-section';

test('a changed __exit function is an error on its first changed line', async () => {
  const r = await runCase(caseDir(rule, 'changed-exit-function'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_exit');
  assert.equal(f.line, 13); // 0-based: "rcu_barrier();"
  assert.match(f.message, /__exit/);
  assert.match(f.message, /\.exit\.text/);
  assert.match(f.message, /UNPATCH_CALLBACK/);
  assert.ok(f.patchLine !== undefined && r.patch.split('\n')[f.patchLine].startsWith('+'));
});

test('a module_exit() target without __exit is only a warning', async () => {
  const r = await runCase(caseDir(rule, 'module-exit-without-exit-attr'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /module_exit\(\)/);
});

test('changing another function in a file with an __exit function is fine', async () => {
  const r = await runCase(caseDir(rule, 'unchanged-exit-function'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('works without a tree', async () => {
  const r = await runCase(caseDir(rule, 'changed-exit-function'), { withoutTree: true });
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'error');
});
