import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'data-size-changed';

test('a longer array is an object size mismatch', async () => {
  const r = await runCase(caseDir(rule, 'array-grown'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.symbol, 'demo_hist');
  assert.equal(f.line, 4);
  assert.match(f.message, /object size mismatch: demo_hist/);
  assert.match(f.message, /int\[8\]' -> 'int\[16\]/);
  assert.match(f.message, /new name|shadow variable/);
  assert.equal(f.related[0].image, 'pre');
});

test('a wider type is an error; for an exported object the message mentions the CRC', async () => {
  const widened = ofRule(await runCase(caseDir(rule, 'type-widened')), rule);
  assert.equal(widened.length, 1);
  assert.match(widened[0].message, /'u32' -> 'u64'/);
  assert.doesNotMatch(widened[0].message, /CRC/);
  const exported = ofRule(await runCase(caseDir(rule, 'exported-type-changed')), rule);
  assert.equal(exported.length, 1);
  assert.equal(exported[0].severity, 'error');
  assert.match(exported[0].message, /exported.*CRC/);
});

test('a signedness-only change keeps the size: warning', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'signedness-only')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
});

test('a static local array that grows is reported in its function', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'static-local-array-grown')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_account');
  assert.equal(f[0].symbol, 'demo_last');
});

test('an unsized array with more initializers grows: object size mismatch, besides data-global-changed', async () => {
  const r = await runCase(caseDir(rule, 'unsized-array-grown'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.symbol, 'demo_rates');
  assert.equal(f.line, 8); // the element the patch added
  assert.match(f.message, /object size mismatch: demo_rates/);
  assert.match(f.message, /\[3\]' -> '.*\[4\]/);
  assert.equal(ofRule(r, 'data-global-changed').length, 1);
});

test('an unsized array whose element count stays is not a size change', async () => {
  const r = await runCase(caseDir(rule, 'unsized-array-same-count'));
  assert.deepEqual(ofRule(r, rule), []);
  assert.equal(ofRule(r, 'data-global-changed').length, 1);
});

test('a new initializer with the same type is not a size change', async () => {
  const r = await runCase(caseDir(rule, 'initializer-only'));
  assert.deepEqual(ofRule(r, rule), []);
  assert.equal(ofRule(r, 'data-global-changed').length, 1);
});

test('works from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'array-grown'), { withoutTree: true });
  assert.deepEqual(
    ofRule(r, rule).map((f) => f.symbol),
    ['demo_hist'],
  );
});
