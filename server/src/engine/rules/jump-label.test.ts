import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'jump-label';

test('a static branch on a key defined in the same obj-m file is an error with the static_key_enabled() fix', async () => {
  const r = await runCase(caseDir(rule, 'module-key-in-same-file'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.function, 'demo_xmit');
  assert.equal(f.symbol, 'demo_verbose');
  assert.equal(f.line, 10); // the static_branch_unlikely() line
  assert.match(f.message, /static_key_enabled\(&demo_verbose\)/);
  assert.match(f.message, /which is defined in a module/);
  assert.deepEqual(
    f.related.map((x) => x.line),
    [5],
  );
});

test('a tristate object (obj-$(CONFIG_DEMO) with a tristate Kconfig) counts as a module', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'tristate-module-key')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'error');
  assert.match(f[0].message, /CONFIG_DEMO=m/);
});

test('a key defined in another module is an error too', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'module-key-in-other-module')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'error');
  assert.equal(f[0].related[0].file, 'drivers/democore/democore.c');
});

test('built-in code, vmlinux keys, new keys and static_key_enabled() are fine', async () => {
  for (const c of ['builtin-key', 'vmlinux-key-used-by-module', 'new-local-key', 'static-key-enabled-used', 'unchanged-user']) {
    assert.deepEqual(ofRule(await runCase(caseDir(rule, c)), rule), [], c);
  }
});

test('without a tree the module status is unknown: a warning that says so', async () => {
  const r = await runCase(caseDir(rule, 'builtin-key'), { withoutTree: true });
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /depends on whether/);
  assert.match(f[0].message, /module/);
});
