import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';

const rule = 'always-on-stack';

test('the main function of a kthread_run() thread is a warning pointing at the kthread_run line', async () => {
  const r = await runCase(caseDir(rule, 'kthread-main-function'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'warning');
  assert.equal(f.function, 'demo_scand');
  assert.equal(f.line, 17);
  assert.match(f.message, /kthread/);
  assert.match(f.message, /stalled/);
  assert.match(f.message, /functions it calls/);
  assert.match(f.message, /force/);
  assert.deepEqual(
    f.related.map((x) => x.line),
    [24],
  );
});

test('a helper the kthread calls (it returns) is not flagged', async () => {
  const r = await runCase(caseDir(rule, 'kthread-callee'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a sleeping kthread_should_stop() loop is recognised without kthread_run in the file', async () => {
  const r = await runCase(caseDir(rule, 'kthread-loop-without-kthread-run'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_worker_fn');
});

test('an ordinary prepare_to_wait()/schedule() loop is not a kthread loop', async () => {
  const r = await runCase(caseDir(rule, 'ordinary-wait-loop'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('a __sched function is a warning', async () => {
  const r = await runCase(caseDir(rule, 'sched-function'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.match(f[0].message, /__sched/);
});

test('a __noreturn exit path alone is only info', async () => {
  const r = await runCase(caseDir(rule, 'noreturn-exit-path'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_task_exit');
  assert.equal(f[0].severity, 'info');
});

test('an endless idle loop warns that the change never runs on online CPUs', async () => {
  const r = await runCase(caseDir(rule, 'idle-loop'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].function, 'demo_cpu_idle_loop');
  assert.equal(f[0].severity, 'warning');
  assert.match(f[0].message, /never takes effect/);
});

test('works without a tree when the function head is in the hunk', async () => {
  const r = await runCase(caseDir(rule, 'sched-function'), { withoutTree: true });
  assert.equal(ofRule(r, rule).length, 1);
});
