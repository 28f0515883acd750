import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// describe from test/support: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../test/support/nodeTest';
import { SshError, SshTarget, prepareControlDir } from '../remote/ssh';
import { childPids, startSshd, sshdUnavailable, type TestSshd } from '../remote/testing/sshd';
import { tempDir } from '../../../test/support/tempDir';
import type { TargetSettings } from './operations';
import { withTargetLock } from './targetLock';

/** A target whose sysfs is a fixture the (unprivileged) test login can read. */
function fixture(withLivepatch = true): TargetSettings {
  const root = tempDir('klp-lock-');
  fs.mkdirSync(path.join(root, withLivepatch ? 'sys/kernel/livepatch' : 'sys/kernel'), { recursive: true });
  fs.mkdirSync(path.join(root, 'work'));
  for (const d of ['', 'sys', 'sys/kernel', 'sys/kernel/livepatch', 'work']) {
    if (fs.existsSync(path.join(root, d))) fs.chmodSync(path.join(root, d), 0o777);
  }
  return { name: 'lab-vm', destination: '', workDir: path.join(root, 'work'), backend: 'kbuild', sysfsRoot: path.join(root, 'sys'), procRoot: path.join(root, 'proc') };
}

/** Local ssh processes of ours whose command line mentions `needle`. */
function ourSsh(needle: string): number[] {
  return childPids(process.pid).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
    } catch {
      return false;
    }
  });
}

const deferred = (): { promise: Promise<void>; resolve: () => void } => {
  let resolve!: () => void;
  return { promise: new Promise<void>((r) => (resolve = r)), resolve };
};

describe('the target-wide livepatch lock through a real sshd', { skip: sshdUnavailable(), timeout: 120_000 }, () => {
  let sshd: TestSshd;
  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });

  // Two VS Code windows: two SshTargets with their own multiplexing masters.
  const windowOn = (): SshTarget => new SshTarget(sshd.target({ controlDir: prepareControlDir(tempDir('klp-lcm-')) }));

  test('a second window is refused while the first holds the target, naming what holds it; it goes ahead afterwards', async () => {
    const t = fixture();
    const [a, b] = [windowOn(), windowOn()];
    const inside = deferred();
    const gate = deferred();
    const first = withTargetLock(a, t, 'building livepatch_ring', async () => {
      inside.resolve();
      await gate.promise;
      return 'built';
    });
    await inside.promise;
    await assert.rejects(withTargetLock(b, t, 'loading livepatch_ring', async () => 'loaded', { waitSeconds: 1 }), (e: SshError) => {
      assert.equal(e.kind, 'busy');
      assert.match(e.message, /Another livepatch action is running on lab-vm: building livepatch_ring \(/);
      assert.ok(e.message.includes(os.hostname()) && e.message.includes(`pid ${process.pid}`), e.message);
      return true;
    });
    gate.resolve();
    assert.equal(await first, 'built');
    // Released: the next action (another window, or this one again at once) gets the lock.
    assert.equal(await withTargetLock(b, t, 'loading livepatch_ring', async () => 'loaded'), 'loaded');
    assert.equal(await withTargetLock(a, t, 'unloading livepatch_ring', async () => 'unloaded'), 'unloaded');
  });

  test('the lock dies with the session that held it: a window whose ssh is killed leaves nothing held', async () => {
    const t = fixture();
    const [a, b] = [windowOn(), windowOn()];
    const inside = deferred();
    const crashed = withTargetLock(a, t, 'building livepatch_crash', async () => {
      inside.resolve();
      await new Promise(() => undefined); // the window hangs for good
    });
    void crashed.catch(() => undefined);
    await inside.promise;
    const holders = ourSsh('klp-lock');
    assert.equal(holders.length, 1, `one local ssh holds the lock: ${holders.join(' ')}`);
    process.kill(holders[0], 'SIGKILL');
    const t0 = Date.now();
    assert.equal(await withTargetLock(b, t, 'loading livepatch_crash', async () => 'loaded', { waitSeconds: 10 }), 'loaded');
    assert.ok(Date.now() - t0 < 10_000, 'the target freed the lock when the session ended');
  });

  test('a cancelled action frees the lock', async () => {
    const t = fixture();
    const [a, b] = [windowOn(), windowOn()];
    const ac = new AbortController();
    const inside = deferred();
    const cancelled = withTargetLock(a, t, 'building livepatch_cancel', async () => {
      inside.resolve();
      await new Promise((_, reject) => ac.signal.addEventListener('abort', () => reject(new Error('cancelled'))));
    }, { signal: ac.signal });
    await inside.promise;
    ac.abort();
    await assert.rejects(cancelled, /cancelled/);
    assert.equal(await withTargetLock(b, t, 'loading', async () => 'loaded', { waitSeconds: 10 }), 'loaded');
  });

  test('no /sys/kernel/livepatch (no CONFIG_LIVEPATCH): the action runs unlocked, says why, and creates nothing', async () => {
    const t = fixture(false);
    const why: string[] = [];
    assert.equal(await withTargetLock(windowOn(), t, 'checking', async () => 'ran', { onUnlocked: (w) => why.push(w) }), 'ran');
    assert.equal(why.length, 1);
    assert.match(why[0], /kernel\/livepatch is not a directory/);
    assert.ok(!fs.existsSync(path.join(t.sysfsRoot, 'kernel/livepatch')), 'flock must not create a lock file in its place');
  });
});
