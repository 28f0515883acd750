import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'static-local-removed';

test('removing every use of a static local is an error in the patched function, old declaration related', async () => {
  const r = await runCase(caseDir(rule, 'reference-removed'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_poll');
  assert.equal(f.symbol, 'calls');
  assert.equal(f.image, 'post');
  assert.match(f.message, /reference to static local variable calls in demo_poll was removed/);
  assert.match(f.message, /barrier_data\(&calls\)/);
  const decl = f.related.find((x) => /declared here/.test(x.message));
  assert.ok(decl);
  assert.equal(decl.image, 'pre');
  assert.equal(decl.line, 8); // 0-based "static int calls;" in the old file
  assert.ok(f.related.some((x) => x.image === 'pre' && /removed here/.test(x.message)));
});

test('keeping the declaration but dropping the uses is still an error (the compiler drops the variable)', async () => {
  const r = await runCase(caseDir(rule, 'declaration-kept-use-removed'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.match(f[0].message, /still declares/);
});

test('moving the static out of the function breaks the correlation too', async () => {
  const r = await runCase(caseDir(rule, 'moved-to-file-scope'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.match(f[0].message, /no longer declares/);
});

test('a changed function that still uses its static local is fine', async () => {
  const r = await runCase(caseDir(rule, 'reference-kept'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a static local that was never used is not reported when it goes away', async () => {
  const r = await runCase(caseDir(rule, 'unused-before'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('works from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'reference-removed'), { withoutTree: true });
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].symbol, 'calls');
});

test('from the hunks alone a use may hide outside the hunk: only a warning (with the tree: nothing)', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'use-left-outside-hunk')), rule), []);
  const f = ofRule(await runCase(caseDir(rule, 'use-left-outside-hunk'), { withoutTree: true }), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /only the hunks were seen/);
});
