import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'notrace';

test('a changed notrace function is an error with the kpatch-build message', async () => {
  const r = await runCase(caseDir(rule, 'changed-notrace-function'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_clock_read');
  assert.equal(f.line, 7);
  assert.match(f.message, /doesn't have patchable function entry/);
  assert.match(f.message, /callers/);
});

test('noinstr counts as notrace', async () => {
  const r = await runCase(caseDir(rule, 'changed-noinstr-function'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_clock_enter');
  assert.match(f[0].message, /noinstr/);
});

test('a traceable function calling a notrace one is not flagged', async () => {
  const r = await runCase(caseDir(rule, 'traceable-neighbour'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('an object whose Makefile strips the ftrace flags is an error pointing at the Makefile line', async () => {
  const r = await runCase(caseDir(rule, 'makefile-strips-ftrace'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1, 'only the changed function');
  assert.equal(f[0].function, 'demo_lock_acquire');
  assert.match(f[0].message, /CFLAGS_REMOVE_demo_lock\.o/);
  assert.equal(f[0].related.length, 1);
  assert.equal(f[0].related[0].file, 'kernel/demo/Makefile');
  // 0-based raw line, counted across the `\` continuation above it.
  assert.equal(f[0].related[0].line, 4);
});

test('another object of the same Makefile is not affected', async () => {
  const r = await runCase(caseDir(rule, 'makefile-strips-other-object'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('without a tree the attribute part still runs and the Makefile part is skipped', async () => {
  const attr = await runCase(caseDir(rule, 'changed-notrace-function'), { withoutTree: true });
  assert.equal(ofRule(attr, rule).length, 1);
  const mk = await runCase(caseDir(rule, 'makefile-strips-ftrace'), { withoutTree: true });
  assert.deepEqual(ofRule(mk, rule), []);
});

test('KPATCH_IGNORE_FUNCTION(fn) in the file is respected', async () => {
  const r = await runCase(caseDir(rule, 'ignored-function'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a directory-wide ccflags-remove-$(CONFIG_...) line counts, unless the object adds the flags back', async () => {
  const r = await runCase(caseDir(rule, 'directory-wide-ccflags-remove'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].related[0].file, 'kernel/demotrace/Makefile');
  assert.equal(f[0].related[0].line, 3);
  const back = await runCase(caseDir(rule, 'object-adds-ftrace-back'));
  assert.deepEqual(ofRule(back, rule), []);
});

test('the .config decides a ccflags-remove-$(CONFIG_...) line: with the tracer off it strips nothing', async () => {
  const r = await runCase(caseDir(rule, 'tracer-disabled-in-config'));
  assert.deepEqual(ofRule(r, rule), []);
});
