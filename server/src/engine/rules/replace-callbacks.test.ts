import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'replace-callbacks';

test('a new KPATCH_POST_PATCH_CALLBACK is an info about atomic replace', async () => {
  const r = await runCase(caseDir(rule, 'new-post-patch-callback'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'info');
  assert.equal(f.symbol, 'KPATCH_POST_PATCH_CALLBACK');
  assert.equal(f.function, 'demo_post_patch');
  assert.match(f.message, /only this patch's callbacks run/);
  assert.match(f.message, /klp_state/);
});

test('a changed callback body counts as a changed callback', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'changed-callback-body')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_post_patch');
});

test('new shadow-variable use is an info about hand-over', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'shadow-variable-added')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].symbol, 'klp_shadow_get_or_alloc');
  assert.equal(f[0].function, 'demo_conn_open');
  assert.match(f[0].message, /klp_shadow_free_all/);
});

test('an existing callback the patch does not touch is not reported', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'callback-untouched')), rule), []);
});

test('works from the hunks alone', async () => {
  assert.equal(ofRule(await runCase(caseDir(rule, 'new-post-patch-callback'), { withoutTree: true }), rule).length, 1);
  assert.equal(ofRule(await runCase(caseDir(rule, 'shadow-variable-added'), { withoutTree: true }), rule).length, 1);
});
