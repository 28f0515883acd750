import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'printk-cold';

test('pr_info() on the main path of an existing function is a warning suggesting KPATCH_PRINTK', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'pr-info-on-main-path'), { withoutTree });
    const [f, ...rest] = ofRule(r, rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'warning');
    assert.equal(f.function, 'demo_ring_reset');
    assert.equal(f.line, 14);
    assert.match(f.message, /__cold/);
    assert.match(f.message, /KPATCH_PRINTK/);
  }
});

test('printers in an error branch or after a goto label are info only', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'printers-on-error-paths')), rule);
  assert.deepEqual(
    f.map((x) => [x.function, x.symbol, x.severity, x.line]),
    [
      ['demo_ring_start', 'pr_err', 'info', 25],
      ['demo_ring_stop', 'netdev_warn', 'info', 42],
    ],
  );
});

test('KPATCH_PRINTK, a jiffies guard, pr_debug and an existing printk that only moved are not reported', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'guarded-or-existing-printk')), rule), []);
});

test('a printer inside a new helper is not reported (the helper is new code)', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'printk-in-new-helper')), rule), []);
});

test('KPATCH_IGNORE_FUNCTION(fn) in the file is respected, as by the other function rules', async () => {
  const r = await runCase(caseDir(rule, 'ignored-function'));
  assert.deepEqual(ofRule(r, rule), []);
});
