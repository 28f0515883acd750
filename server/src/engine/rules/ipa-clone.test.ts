import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'ipa-clone';

test('a new call to a static function with few callers is a warning on the call', async () => {
  const r = await runCase(caseDir(rule, 'new-call-to-static'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.function, 'demo_poison');
  assert.equal(f.symbol, 'demo_fill');
  assert.equal(f.line, 21); // 0-based: "demo_fill(buf, len, 0x6b);"
  assert.match(f.message, /constprop/);
  assert.match(f.message, /copy the function under a new name/);
  assert.deepEqual(
    f.related.map((x) => x.line),
    [3],
  ); // the callee's definition
});

test('a changed constant argument is a warning that shows old and new value', async () => {
  const r = await runCase(caseDir(rule, 'changed-constant-arg'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_reset');
  assert.match(f[0].message, /0 -> 0x20/);
});

test('a changed non-constant argument is not flagged', async () => {
  const r = await runCase(caseDir(rule, 'changed-variable-arg'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a new prototype for a static function with direct callers is a warning on the function', async () => {
  const r = await runCase(caseDir(rule, 'static-prototype-changed'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_fill');
  assert.match(f[0].message, /prototype/);
  assert.deepEqual(
    f[0].related.map((x) => x.line),
    [17],
  ); // the caller demo_reset()
});

test('calls to new or extern functions, and a prototype change of a function only reached by pointer, are not flagged', async () => {
  for (const c of ['call-to-new-or-extern-function', 'prototype-change-no-direct-callers']) {
    const r = await runCase(caseDir(rule, c));
    assert.deepEqual(ofRule(r, rule), [], c);
  }
});

test('without a tree the prototype case still works from the hunks', async () => {
  const r = await runCase(caseDir(rule, 'static-prototype-changed'), { withoutTree: true });
  assert.equal(ofRule(r, rule).length, 1);
});

// How many call sites a new call still matters at (NEW_CALL_MAX_SITES = 3), pinned from both sides.
test('a new call to a static function with three callers is flagged; with four it is not', async () => {
  const three = ofRule(await runCase(caseDir(rule, 'new-call-with-three-callers')), rule);
  assert.deepEqual(
    three.map((x) => [x.function, x.symbol, x.line]),
    [['demo_scale', 'demo_clamp', 28]],
  );
  assert.match(three[0].message, /3 call sites before, 4 after/);
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'new-call-with-four-callers')), rule), []);
});
