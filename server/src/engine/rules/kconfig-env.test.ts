import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';
import { targetFactsFromText } from '../target/facts';

const rule = 'kconfig-env';

function factsOf(dir: string, release: string | null = '6.1.0-test-amd64') {
  return targetFactsFromText({ release, config: fs.readFileSync(path.join(dir, 'target-config'), 'utf8') });
}

test('a target with IBT and randstruct: one error naming both options, on the first change', async () => {
  const dir = caseDir(rule, 'ibt-and-randstruct');
  const r = await runCase(dir, { facts: factsOf(dir) });
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.file, 'kernel/demo_tunable.c');
  assert.equal(f.line, 6);
  assert.match(f.message, /\.config of 6\.1\.0-test-amd64/);
  assert.match(f.message, /kernel option 'CONFIG_GCC_PLUGIN_RANDSTRUCT' not supported/);
  assert.match(f.message, /kernel option 'CONFIG_X86_KERNEL_IBT' not supported/);
  assert.doesNotMatch(f.message, /CONFIG_LIVEPATCH|CONFIG_DEBUG_INFO/);
});

test("Debian 6.1's configuration passes every gate", async () => {
  const dir = caseDir(rule, 'debian-6.1');
  assert.deepEqual(ofRule(await runCase(dir, { facts: factsOf(dir) }), rule), []);
});

test('a target without livepatch or debug info: both named; runs without the tree', async () => {
  const dir = caseDir(rule, 'debian-6.1');
  const facts = targetFactsFromText({ release: null, config: 'CONFIG_MODULES=y\n# CONFIG_LIVEPATCH is not set\n' });
  const [f, ...rest] = ofRule(await runCase(dir, { facts, withoutTree: true }), rule);
  assert.equal(rest.length, 0);
  assert.match(f.message, /target's \.config rules out/);
  assert.match(f.message, /CONFIG_LIVEPATCH is not set/);
  assert.match(f.message, /kernel doesn't have 'CONFIG_DEBUG_INFO' enabled/);
});

test("without the target's .config nothing is claimed (the tree's .config is not the target's)", async () => {
  const dir = caseDir(rule, 'ibt-and-randstruct');
  assert.deepEqual(ofRule(await runCase(dir), rule), []);
  assert.deepEqual(ofRule(await runCase(dir, { config: path.join(dir, 'target-config') }), rule), []);
});
