import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'symbol-namespace';

test('built-in code that starts calling an EXPORT_SYMBOL_NS_GPL function: warning with MODULE_IMPORT_NS()', async () => {
  const r = await runCase(caseDir(rule, 'builtin-starts-using-ns-export'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.function, 'demo_user_fixup');
  assert.equal(f.symbol, 'demo_lib_reset');
  assert.equal(f.line, 10);
  assert.match(f.message, /MODULE_IMPORT_NS\(DEMO_LIB\)/);
  assert.match(f.message, /drivers\/demolib\/lib\.c/);
});

test('plain exports, calls that were already there and an existing import are fine', async () => {
  for (const c of ['plain-export', 'already-used-before', 'import-already-present']) {
    assert.deepEqual(ofRule(await runCase(caseDir(rule, c)), rule), [], c);
  }
});

test('needs the tree: nothing from the hunks alone', async () => {
  const r = await runCase(caseDir(rule, 'builtin-starts-using-ns-export'), { withoutTree: true });
  assert.deepEqual(ofRule(r, rule), []);
  assert.match(r.notes.join('\n'), /symbol-namespace/);
});

test('KPATCH_IGNORE_FUNCTION(fn) in the file is respected, as by the other function rules', async () => {
  const r = await runCase(caseDir(rule, 'ignored-function'));
  assert.deepEqual(ofRule(r, rule), []);
});
