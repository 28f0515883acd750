import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'special-data-section';

test('changing an existing __read_mostly variable is an error naming the shared section', async () => {
  for (const withoutTree of [false, true]) {
    const [f, ...rest] = ofRule(await runCase(caseDir(rule, 'changed-read-mostly-value'), { withoutTree }), rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'error');
    assert.equal(f.symbol, 'demo_batch');
    assert.equal(f.line, 5);
    assert.match(f.message, /\.data\.\.read_mostly/);
    assert.match(f.message, /not selected for inclusion/);
  }
});

test('a new per-CPU variable next to an existing one is an error that names the existing one', async () => {
  const [f, ...rest] = ofRule(await runCase(caseDir(rule, 'new-percpu-next-to-existing')), rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.symbol, 'demo_misses');
  assert.match(f.message, /\.data\.\.percpu/);
  assert.match(f.message, /demo_hits/);
  assert.match(f.message, /alloc_percpu/);
});

test('the first __read_mostly variable of a file is a warning with the tree, an error without it', async () => {
  const withTree = ofRule(await runCase(caseDir(rule, 'new-read-mostly-first-in-file')), rule);
  assert.deepEqual(
    withTree.map((f) => [f.symbol, f.severity]),
    [['demo_strict', 'warning']],
  );
  const hunkOnly = ofRule(await runCase(caseDir(rule, 'new-read-mostly-first-in-file'), { withoutTree: true }), rule);
  assert.deepEqual(
    hunkOnly.map((f) => [f.symbol, f.severity]),
    [['demo_strict', 'error']],
  );
});

test('new plain statics and ____cacheline_aligned (alignment only) are fine', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'new-plain-and-aligned-statics')), rule), []);
});

test('a new __read_mostly static local in a changed function is reported with its function', async () => {
  const [f, ...rest] = ofRule(await runCase(caseDir(rule, 'new-read-mostly-static-local')), rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_batch_size');
  assert.equal(f.symbol, 'demo_warned');
  assert.equal(f.line, 10);
});

test('removing an __ro_after_init variable changes its section too', async () => {
  const [f, ...rest] = ofRule(await runCase(caseDir(rule, 'removed-ro-after-init')), rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.image, 'pre');
  assert.equal(f.symbol, 'demo_boot_mode');
  assert.match(f.message, /\.data\.\.ro_after_init/);
});
