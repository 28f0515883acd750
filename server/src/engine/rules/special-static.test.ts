import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'special-static';

test('an existing WARN_ON_ONCE in a patched function is re-instantiated: info', async () => {
  const r = await runCase(caseDir(rule, 'existing-warn-once'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'info');
  assert.equal(f.function, 'demo_submit');
  assert.equal(f.symbol, 'WARN_ON_ONCE');
  assert.equal(f.line, 12);
  assert.match(f.message, /one more time/);
});

test('an existing ratelimited message in a patched function: ratelimit state starts over', async () => {
  const r = await runCase(caseDir(rule, 'existing-ratelimit'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_queue_depth');
  assert.match(f[0].message, /pr_warn_ratelimited\(\)/);
  assert.match(f[0].message, /ratelimit/);
});

test('a lock initialised in patched code gets a new lockdep key', async () => {
  const r = await runCase(caseDir(rule, 'lock-init-in-patched-code'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_queue_setup');
  assert.match(f[0].message, /spin_lock_init\(\)/);
  assert.match(f[0].message, /lockdep/);
});

test('only patched functions count: an untouched function with a ratelimit is not reported', async () => {
  const r = await runCase(caseDir(rule, 'other-function-changed'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a newly added WARN_ON_ONCE is special-static too (kpatch never correlates __warned): info, not static-local-new', async () => {
  const r = await runCase(caseDir(rule, 'new-warn-once-only'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'info');
  assert.equal(f[0].symbol, 'WARN_ON_ONCE');
  assert.match(f[0].message, /adds WARN_ON_ONCE\(\)/);
  assert.match(f[0].message, /start clear/);
  assert.deepEqual(ofRule(r, 'static-local-new'), []);
});

test('an existing and a new once-only use in one function are one special-static finding', async () => {
  const r = await runCase(caseDir(rule, 'existing-and-new-once'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.function, 'demo_queue_push');
  assert.equal(f.line, 12); // the WARN_ON_ONCE() that was already there
  assert.equal(f.endLine, 15); // the pr_warn_once() the patch added
  assert.match(f.message, /uses WARN_ON_ONCE\(\).*one more time/);
  assert.match(f.message, /also adds pr_warn_once\(\)/);
  assert.deepEqual(ofRule(r, 'static-local-new'), []);
});

test('works from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'existing-ratelimit'), { withoutTree: true });
  assert.equal(ofRule(r, rule).length, 1);
});
