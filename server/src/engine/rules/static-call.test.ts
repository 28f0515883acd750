import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'static-call';

test('static_call() on a key the obj-m file defines is an error pointing to KPATCH_STATIC_CALL()', async () => {
  const r = await runCase(caseDir(rule, 'module-static-call'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_run');
  assert.equal(f.symbol, 'demo_op');
  assert.equal(f.line, 15);
  assert.match(f.message, /KPATCH_STATIC_CALL\(demo_op\)/);
  assert.match(f.message, /KLP_STATIC_CALL/);
  assert.equal(f.related[0].line, 9); // DEFINE_STATIC_CALL
});

test('built-in code and KPATCH_STATIC_CALL() are fine', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'builtin-static-call')), rule), []);
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'kpatch-static-call-used')), rule), []);
});

test('without a tree: a warning', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'module-static-call'), { withoutTree: true }), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
});
