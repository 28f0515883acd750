import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'static-local-new';

test('a new static local in a patched function is a warning on its declaration', async () => {
  const r = await runCase(caseDir(rule, 'new-counter'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.function, 'demo_submit');
  assert.equal(f.symbol, 'rejected');
  assert.equal(f.line, 12); // 0-based "static unsigned long rejected;"
  assert.match(f.message, /unable to correlate static local variable rejected/);
  assert.match(f.message, /shadow variable/);
});

test('new once-only macros are special statics: special-static reports them, not this rule', async () => {
  const r = await runCase(caseDir(rule, 'new-once-macros'));
  assert.deepEqual(ofRule(r, rule), []);
  const f = ofRule(r, 'special-static');
  assert.equal(f.length, 1);
  assert.equal(f[0].line, 13); // the pr_warn_once() line the patch added
  assert.match(f[0].message, /pr_warn_once\(\)/);
  assert.match(f[0].message, /WARN_ON_ONCE\(\)/);
});

test('a new file-scope static is allowed (new globals are included by kpatch)', async () => {
  const r = await runCase(caseDir(rule, 'new-static-global'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a new read-only static table has no state to lose', async () => {
  const r = await runCase(caseDir(rule, 'new-const-table'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a once-only macro that was already there is not new state', async () => {
  const r = await runCase(caseDir(rule, 'existing-once-kept'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('works from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'new-counter'), { withoutTree: true });
  assert.deepEqual(
    ofRule(r, rule).map((f) => f.symbol),
    ['rejected'],
  );
});
