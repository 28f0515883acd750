import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'new-global-data';

test('a new static counter is info on its declaration, with the shadow-variable advice', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'new-static-counter'), { withoutTree });
    const [f, ...rest] = ofRule(r, rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'info');
    assert.equal(f.symbol, 'demo_rx_dropped');
    assert.equal(f.line, 10);
    assert.match(f.message, /patch module/);
    assert.match(f.message, /klp_state/);
    assert.ok(f.patchLine !== undefined && r.patch.split('\n')[f.patchLine].startsWith('+static unsigned long demo_rx_dropped'));
  }
});

test('static locals, extern declarations and prototypes are not new global data', async () => {
  for (const withoutTree of [false, true]) {
    assert.deepEqual(ofRule(await runCase(caseDir(rule, 'static-local-and-declarations'), { withoutTree }), rule), []);
  }
});

test('macro-defined and non-static globals count, and say which they are', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'new-mutex-and-global')), rule);
  assert.deepEqual(
    f.map((x) => x.symbol),
    ['demo_rx_cfg_lock', 'demo_rx_cfg_version'],
  );
  assert.match(f[0].message, /^New static variable/);
  assert.match(f[1].message, /^New global variable/);
});
