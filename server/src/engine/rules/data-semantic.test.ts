import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';
import { fieldSyncOps } from './data-semantic';

const rule = 'data-semantic';

test('a lock newly taken around a field update is a warning on the lock line', async () => {
  for (const withoutTree of [false, true]) {
    const [f, ...rest] = ofRule(await runCase(caseDir(rule, 'lock-added-around-field-update'), { withoutTree }), rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'warning');
    assert.equal(f.function, 'demo_set_state');
    assert.equal(f.line, 18);
    assert.match(f.message, /now calls spin_lock\(&dev->lock\) and spin_unlock\(&dev->lock\)/);
    assert.match(f.message, /shadow variable/);
  }
});

test('a reference no longer taken is a warning where the call was removed', async () => {
  const [f, ...rest] = ofRule(await runCase(caseDir(rule, 'reference-no-longer-taken')), rule);
  assert.equal(rest.length, 0);
  assert.equal(f.function, 'demo_get');
  assert.match(f.message, /no longer calls kref_get\(&dev->ref\)/);
  assert.equal(f.line, 23); // the line that followed the removed kref_get()
  assert.doesNotMatch(f.message, /atomic_inc/);
});

test('re-indented existing locking, a global lock and atomic_read() are not reported', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'existing-locking-reindented-and-global-lock')), rule), []);
});

test('locking moved into a new helper the function now calls is not a change of rules', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'locking-moved-into-new-helper')), rule), []);
});

test('field operations are keyed by operation and field', () => {
  const ops = fieldSyncOps(
    '{spin_lock_irqsave(&d->lock,flags);atomic_dec(&d->cnt);atomic_read(&d->cnt);mutex_lock(&global);refcount_inc(&obj.refs);}',
  );
  assert.deepEqual([...ops.keys()], ['spin_lock_irqsave(&d->lock)', 'atomic_dec(&d->cnt)', 'refcount_inc(&obj.refs)']);
});

test('KPATCH_IGNORE_FUNCTION(fn) in the file is respected, as by the other function rules', async () => {
  const r = await runCase(caseDir(rule, 'ignored-function'));
  assert.deepEqual(ofRule(r, rule), []);
});
