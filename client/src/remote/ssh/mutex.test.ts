import assert from 'node:assert/strict';
import { test } from '../../../../testing/nodeTest';
import { SshError } from './errors';
import { SshTarget } from './target';

test('per-target lock: a second action is refused by default, queued with wait, and released on failure', async () => {
  const a = new SshTarget({ destination: 'lock-test-host' });
  const b = new SshTarget({ destination: 'lock-test-host' }); // same target, another instance
  let release!: () => void;
  const first = a.exclusive('Build Patch Module', () => new Promise<string>((r) => (release = () => r('built'))));
  await new Promise((r) => setImmediate(r));
  assert.equal(b.runningAction, 'Build Patch Module');
  await assert.rejects(
    b.exclusive('Load', async () => 'x'),
    (e) => e instanceof SshError && e.kind === 'busy' && /Build Patch Module/.test(e.message),
  );
  const order: string[] = [];
  const queued = b.exclusive(
    'Load',
    async () => {
      order.push('load');
      return 'loaded';
    },
    { wait: true },
  );
  const ac = new AbortController();
  const cancelled = b.exclusive('Unload', async () => 'never', { wait: true, signal: ac.signal });
  ac.abort();
  await assert.rejects(cancelled, (e) => e instanceof SshError && e.kind === 'cancelled');
  order.push('release');
  release();
  assert.equal(await first, 'built');
  assert.equal(await queued, 'loaded');
  assert.deepEqual(order, ['release', 'load']);
  await assert.rejects(
    a.exclusive('Fail', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(a.runningAction, undefined);
  assert.equal(await new SshTarget({ destination: 'other-host' }).exclusive('x', async () => 1), 1);
});
