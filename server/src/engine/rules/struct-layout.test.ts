import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'struct-layout';

test('an added member is an error pointing at the member, with the old definition related', async () => {
  const r = await runCase(caseDir(rule, 'member-added'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.symbol, 'struct demo_dev');
  assert.equal(f.line, 3);
  assert.match(f.message, /lock/);
  assert.match(f.message, /shadow variable/);
  assert.equal(f.related[0].image, 'pre');
});

test('comment and whitespace edits inside a struct are not layout changes', async () => {
  const r = await runCase(caseDir(rule, 'member-comment-only'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('an appended enumerator is only a warning', async () => {
  const r = await runCase(caseDir(rule, 'enum-appended'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /DEMO_STALLED/);
});
