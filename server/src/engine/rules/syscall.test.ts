import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'syscall';

test('a changed SYSCALL_DEFINEn body is an error that names KPATCH_SYSCALL_DEFINEn and kpatch-syscall.h', async () => {
  const r = await runCase(caseDir(rule, 'changed-syscall'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_ctl');
  assert.equal(f.line, 7); // 0-based: "if (arg > 100)"
  assert.match(f.message, /__do_sys_demo_ctl/);
  assert.match(f.message, /KPATCH_SYSCALL_DEFINE2/);
  assert.match(f.message, /#include "kpatch-syscall\.h"/);
  assert.match(f.message, /KLP_SYSCALL_DEFINE2/);
});

test('converting to KPATCH_SYSCALL_DEFINEn is the fix and is not flagged', async () => {
  const r = await runCase(caseDir(rule, 'converted-to-kpatch-syscall'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('SYSCALL_DEFINE0 bodies are ordinary traceable functions', async () => {
  const r = await runCase(caseDir(rule, 'syscall-define0'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('COMPAT_SYSCALL_DEFINEn is an error that says kpatch has no compat wrapper', async () => {
  const r = await runCase(caseDir(rule, 'compat-syscall'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.match(f[0].message, /__do_compat_sys_demo_ctl/);
  assert.match(f[0].message, /no compat variant/);
});

test('works without a tree, from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'changed-syscall'), { withoutTree: true });
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].line, 7);
});
