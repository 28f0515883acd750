import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'line-macro';

test('a line shift above a local __LINE__ macro user is one warning per file, on the hunk that shifts', async () => {
  const r = await runCase(caseDir(rule, 'local-error-macro-below-new-variable'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.line, 15); // 0-based: the added "static unsigned int demo_max_errors = 16;"
  assert.ok(f.patchLine !== undefined && r.patch.split('\n')[f.patchLine].startsWith('+static unsigned int demo_max_errors'));
  assert.match(f.message, /\+2 lines/);
  assert.match(f.message, /demo_fail\(\) passes the line number as an argument \(demo_error\)/);
  assert.match(f.message, /#line/);
  // Shifted functions are related locations; the changed one and the one without __LINE__ are not.
  assert.deepEqual(
    f.related.map((x) => x.message.split('(')[0]),
    ['demo_fail', 'demo_count_error'],
  );
  assert.equal(f.related[0].line, 19);
  assert.match(f.related[1].message, /bug table only/);
});

test('without the tree, the __LINE__ user visible in the hunk context is still reported', async () => {
  const r = await runCase(caseDir(rule, 'local-error-macro-below-new-variable'), { withoutTree: true });
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.line, 15);
  assert.match(f.message, /hunks only/);
  assert.deepEqual(
    f.related.map((x) => x.line),
    [19],
  );
});

test('a shift above WARN_ON/BUG_ON users only is info (the line lives in the bug table)', async () => {
  const r = await runCase(caseDir(rule, 'bug-table-users-below-longer-function'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'info');
  assert.equal(f.line, 13);
  assert.match(f.message, /__bug_table/);
  assert.deepEqual(
    f.related.map((x) => x.message.split('(')[0]),
    ['demo_queue_pop', 'demo_queue_free'],
  );
});

test('a line delta in a file without __LINE__ users below is not reported', async () => {
  const r = await runCase(caseDir(rule, 'no-line-users-below-longer-function'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a change that keeps the line count constant is not reported', async () => {
  const r = await runCase(caseDir(rule, 'same-line-count-above-bug-table-users'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('might_sleep() passes __LINE__ only with CONFIG_DEBUG_ATOMIC_SLEEP', async () => {
  const dir = caseDir(rule, 'might-sleep-below-new-function');
  const unknown = ofRule(await runCase(dir), rule);
  assert.equal(unknown.length, 1);
  assert.equal(unknown[0].severity, 'warning');
  assert.match(unknown[0].message, /might_sleep: kpatch-build recognises that call pattern/);
  const config = path.join(dir, 'config-without-debug-atomic-sleep');
  assert.deepEqual(ofRule(await runCase(dir, { config }), rule), []);
});

test('kpatch warn-detect shape: one blank line at the top of a file with WARN_ON users', async () => {
  const r = await runCase(caseDir('no-functional-change', 'blank-line-at-top'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'info');
  assert.equal(f[0].line, 1);
  assert.match(f[0].message, /\+1 line\b/);
});

test('a #line directive after the inserted lines restores __LINE__: not reported', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'line-directive-restores-numbering'), { withoutTree });
    assert.deepEqual(ofRule(r, rule), []);
  }
});

test('xfs_force_shutdown() from the subsystem header passes __LINE__ as an argument: warning, not info', async () => {
  const r = await runCase(caseDir(rule, 'header-helper-passes-line'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.line, 17); // 0-based: the first added line in xfs_demo_buf_verify()
  assert.match(f.message, /\+2 lines/);
  assert.match(f.message, /xfs_demo_buf_submit\(\) passes the line number as an argument \(xfs_force_shutdown\)/);
  assert.deepEqual(
    f.related.map((x) => x.message.split('(')[0]),
    ['xfs_demo_buf_submit', 'xfs_demo_buf_ioend'],
  );
  assert.match(f.related[1].message, /bug table only/);
});
