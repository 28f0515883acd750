import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'inline-notrace';

test('a static inline whose address is taken is an error: its out-of-line copy has no fentry', async () => {
  const r = await runCase(caseDir(rule, 'address-taken-inline'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_release');
  assert.equal(f.line, 5); // 0-based: "file->private_data = NULL;"
  assert.match(f.message, /address is taken/);
  assert.match(f.message, /__always_inline/);
  assert.match(f.message, /doesn't have patchable function entry/);
});

test('a small static inline in a .c file is a warning (normally inlined, so it usually builds)', async () => {
  const r = await runCase(caseDir(rule, 'static-inline-in-c'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_room');
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /__always_inline/);
});

test('a static inline in a header is a warning', async () => {
  const r = await runCase(caseDir(rule, 'header-inline'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /includes this header/);
});

test('__always_inline functions are never flagged', async () => {
  const r = await runCase(caseDir(rule, 'always-inline-changed'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('switching the patched copy to __always_inline (the fix) is not flagged', async () => {
  const r = await runCase(caseDir(rule, 'switched-to-always-inline'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('works without a tree', async () => {
  const r = await runCase(caseDir(rule, 'static-inline-in-c'), { withoutTree: true });
  assert.equal(ofRule(r, rule).length, 1);
});

// The size threshold (BIG_BODY_LINES = 40, with at least two call sites), pinned from both sides.
test('a 40-line static inline with two call sites is an error: gcc is likely to keep it out of line', async () => {
  const r = await runCase(caseDir(rule, 'inline-40-lines-two-callers'));
  const f = ofRule(r, rule);
  assert.deepEqual(
    f.map((x) => [x.function, x.severity]),
    [['demo_mix', 'error']],
  );
  assert.match(f[0].message, /it is 40 lines long with 2 call sites in this file/);
});

test('one line shorter, or called once, it stays a warning', async () => {
  for (const c of ['inline-39-lines-two-callers', 'inline-40-lines-one-caller']) {
    const r = await runCase(caseDir(rule, c));
    assert.deepEqual(
      ofRule(r, rule).map((x) => [x.function, x.severity]),
      [['demo_mix', 'warning']],
      c,
    );
  }
});
