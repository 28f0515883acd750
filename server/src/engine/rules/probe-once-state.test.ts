import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'probe-once-state';

test('a .probe callback that changes stored state is a warning on the store', async () => {
  const r = await runCase(caseDir(rule, 'probe-stores-state'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.function, 'demo_probe');
  assert.equal(f.line, 15); // 0-based: "priv->threshold = 20;"
  assert.match(f.message, /\.probe callback/);
  assert.match(f.message, /POST_PATCH_CALLBACK/);
});

test('a *_setup routine whose change stores nothing is info', async () => {
  const r = await runCase(caseDir(rule, 'setup-without-stores'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_hw_setup');
  assert.equal(f[0].severity, 'info');
});

test('an ordinary function of the driver is not flagged', async () => {
  const r = await runCase(caseDir(rule, 'unrelated-function'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('__init functions are left to init-section', async () => {
  const r = await runCase(caseDir(rule, 'init-function-left-to-init-section'));
  assert.deepEqual(ofRule(r, rule), []);
  assert.equal(ofRule(r, 'init-section').length, 1);
});

test('works without a tree', async () => {
  const r = await runCase(caseDir(rule, 'setup-without-stores'), { withoutTree: true });
  assert.equal(ofRule(r, rule).length, 1);
});
