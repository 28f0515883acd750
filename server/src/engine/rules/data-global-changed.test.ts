import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'data-global-changed';

test('a changed member of a const ops table is an error on the changed line', async () => {
  const r = await runCase(caseDir(rule, 'ops-table-changed'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.symbol, 'demo_fops');
  assert.equal(f.line, 18); // ".read = demo_read_checked,"
  assert.match(f.message, /kpatch patches functions, not data/);
  assert.match(f.message, /code that reads 'demo_fops'/);
  assert.match(f.message, /callback/);
  assert.deepEqual(
    f.related.map((x) => [x.image, x.line]),
    [['pre', 16]],
  );
});

test('a changed array of function pointers is an error', async () => {
  const r = await runCase(caseDir(rule, 'function-pointer-array-changed'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].symbol, 'demo_handlers');
  assert.equal(f[0].severity, 'error');
});

test('new arguments to DEFINE_RATELIMIT_STATE() change a live object', async () => {
  const r = await runCase(caseDir(rule, 'ratelimit-state-changed'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].symbol, 'demo_rs');
  assert.match(f[0].message, /DEFINE_RATELIMIT_STATE/);
});

test('a scalar static const is usually folded into its readers: only a warning', async () => {
  const r = await runCase(caseDir(rule, 'const-scalar-changed'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /3 -> 2/);
});

test('adding a new global, or changing the code that reads the table, is fine', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'new-global-added')), rule), []);
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'reader-changed-instead')), rule), []);
});

test('works from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'ops-table-changed'), { withoutTree: true });
  assert.deepEqual(
    ofRule(r, rule).map((f) => f.symbol),
    ['demo_fops'],
  );
});
