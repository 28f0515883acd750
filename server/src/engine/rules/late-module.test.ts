import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'late-module';

test('an obj-m file gets one info, on the first changed function, however many functions change', async () => {
  const r = await runCase(caseDir(rule, 'module-object'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'info');
  assert.equal(f.function, 'demo_rx');
  assert.equal(f.symbol, 'demo');
  assert.equal(f.line, 5); // first line the patch changed in demo_rx()
  assert.match(f.message, /loaded/);
  assert.match(f.message, /not loaded/);
});

test('a composite module behind a tristate option is named after the module', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'composite-tristate-module')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].symbol, 'demodrv');
  assert.match(f[0].message, /CONFIG_DEMO=m/);
});

test('built-in objects (obj-y, or a bool option) get nothing', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'builtin-object')), rule), []);
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'bool-option-builtin')), rule), []);
});

test('needs the tree', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'module-object'), { withoutTree: true }), rule), []);
});

test('a function named in KPATCH_IGNORE_FUNCTION() is not the one reported, as with the other function rules', async () => {
  const [f, ...rest] = ofRule(await runCase(caseDir(rule, 'first-function-ignored')), rule);
  assert.equal(rest.length, 0);
  assert.equal(f.function, 'demo_tx');
});
