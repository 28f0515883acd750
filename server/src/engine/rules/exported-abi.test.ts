import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';
import { abiPrototype } from './exported-abi';

const rule = 'exported-abi';

test('a changed prototype of an exported function is an error naming the export macro', async () => {
  const r = await runCase(caseDir(rule, 'exported-prototype-changed'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.symbol, 'demo_count_get');
  assert.equal(f.line, 21);
  assert.match(f.message, /EXPORT_SYMBOL\(\)/);
  assert.match(f.message, /Version disagreement for symbol demo_count_get/);
  assert.equal(f.related[0].image, 'pre');
});

test('static prototypes, attribute-only and parameter-name-only changes keep the CRC', async () => {
  for (const c of ['static-prototype-changed', 'exported-attribute-only', 'exported-parameter-renamed']) {
    assert.deepEqual(ofRule(await runCase(caseDir(rule, c)), rule), [], c);
  }
});

test('a new #include that completes a struct the file only declared is an error (the kpatch symvers case)', async () => {
  const r = await runCase(caseDir(rule, 'new-include-completes-struct'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.line, 3);
  assert.equal(f.symbol, '<linux/demo_ops.h>');
  assert.match(f.message, /struct demo_ops/);
  assert.match(f.message, /#ifndef __GENKSYMS__/);
  assert.match(f.message, /Version disagreement/);
  assert.deepEqual(
    f.related.map((x) => [x.file, x.line]),
    [['include/linux/demo_ops.h', 6]],
  );
});

test('new includes that add no definitions, are hidden from genksyms, are kpatch helpers, or go to a file without exports are fine', async () => {
  for (const c of ['new-include-nothing-new', 'new-include-hidden-from-genksyms', 'new-include-kpatch-macros', 'new-include-no-exports']) {
    assert.deepEqual(ofRule(await runCase(caseDir(rule, c)), rule), [], c);
  }
});

test('without a tree a new #include is only a hint', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'new-include-completes-struct'), { withoutTree: true }), rule);
  assert.equal(f.length, 1);
  assert.notEqual(f[0].severity, 'error');
});

test('a changed struct that an exported prototype takes is an error listing the export', async () => {
  const r = await runCase(caseDir(rule, 'struct-used-by-export'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].file, 'include/linux/demo_types.h');
  assert.equal(f[0].symbol, 'struct demo_dev');
  assert.match(f[0].message, /demo_register/);
  assert.equal(f[0].related[0].file, 'drivers/demo/core.c');
});

test('abiPrototype ignores attributes and parameter names, not types', () => {
  assert.equal(abiPrototype('noinline int foo(struct bar *b, int n)'), abiPrototype('int foo(struct bar *, int count)'));
  assert.notEqual(abiPrototype('int foo(int n)'), abiPrototype('int foo(long n)'));
  assert.equal(abiPrototype('unsigned int foo(unsigned int)'), abiPrototype('unsigned int foo(unsigned int x)'));
});
