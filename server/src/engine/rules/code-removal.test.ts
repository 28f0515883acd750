import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'code-removal';

test('a deleted static helper is info on its pre-image definition', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'static-helper-deleted'), { withoutTree });
    const [f, ...rest] = ofRule(r, rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'info');
    assert.equal(f.image, 'pre');
    assert.equal(f.function, 'demo_cache_trim');
    assert.equal(f.line, 13);
    assert.match(f.message, /dead code/);
    assert.doesNotMatch(f.message, /other files/); // static: no outside callers
    assert.ok(f.patchLine !== undefined && r.patch.split('\n')[f.patchLine].startsWith('-static void demo_cache_trim'));
  }
});

test('a renamed global function names the new name and warns about callers elsewhere', async () => {
  const r = await runCase(caseDir(rule, 'exported-function-renamed'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.symbol, 'demo_cache_flush');
  assert.match(f.message, /renamed to demo_cache_flush_all\(\)/);
  assert.match(f.message, /other files/);
  assert.equal(f.related[0].message, 'new name: demo_cache_flush_all()');
});

test('a changed function body is not code removal', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'function-body-changed')), rule), []);
});
