import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// describe from testing/nodeTest: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../testing/nodeTest';
import { SshError, SshTarget, prepareControlDir } from '../remote/ssh';
import { childPids, startSshd, sshdUnavailable, type TestSshd } from '../../../testing/sshd';
import { tempDir } from '../../../testing/tempDir';
import type { TargetSettings } from './operations';
import { breakTargetLock, readLockStatus, withTargetLock } from './targetLock';

/** A target whose sysfs is a fixture the (unprivileged) test login can read. */
function fixture(withLivepatch = true): TargetSettings {
  const root = tempDir('klp-lock-');
  fs.mkdirSync(path.join(root, withLivepatch ? 'sys/kernel/livepatch' : 'sys/kernel'), { recursive: true });
  fs.mkdirSync(path.join(root, 'work'));
  for (const d of ['', 'sys', 'sys/kernel', 'sys/kernel/livepatch', 'work']) {
    if (fs.existsSync(path.join(root, d))) fs.chmodSync(path.join(root, d), 0o777);
  }
  return {
    name: 'lab-vm',
    destination: '',
    workDir: path.join(root, 'work'),
    backend: 'kbuild',
    sysfsRoot: path.join(root, 'sys'),
    procRoot: path.join(root, 'proc'),
  };
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

/** Takes the lock from `ssh` and holds it until release(); resolves once the lock is held. */
async function holdLock<T>(
  ssh: SshTarget,
  t: Parameters<typeof withTargetLock>[1],
  what: string,
  result: T,
): Promise<{ done: Promise<T>; release: () => void }> {
  const inside = deferred();
  const gate = deferred();
  const done = withTargetLock(ssh, t, what, async () => {
    inside.resolve();
    await gate.promise;
    return result;
  });
  await inside.promise;
  return { done, release: gate.resolve };
}

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
    const { done: first, release } = await holdLock(a, t, 'building livepatch_ring', 'built');
    await assert.rejects(
      withTargetLock(b, t, 'loading livepatch_ring', async () => 'loaded', { waitSeconds: 1 }),
      (e: SshError) => {
        assert.equal(e.kind, 'busy');
        assert.match(e.message, /Another livepatch action is running on lab-vm: building livepatch_ring \(/);
        assert.ok(e.message.includes(os.hostname()) && e.message.includes(`pid ${process.pid}`), e.message);
        return true;
      },
    );
    release();
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
    const cancelled = withTargetLock(
      a,
      t,
      'building livepatch_cancel',
      async () => {
        inside.resolve();
        await new Promise((_, reject) => ac.signal.addEventListener('abort', () => reject(new Error('cancelled'))));
      },
      { signal: ac.signal },
    );
    await inside.promise;
    ac.abort();
    await assert.rejects(cancelled, /cancelled/);
    assert.equal(await withTargetLock(b, t, 'loading', async () => 'loaded', { waitSeconds: 10 }), 'loaded');
  });

  test('Break Lock: shows the holder, breaks only the lock it was shown, and the next action goes ahead', async () => {
    const t = fixture();
    const [a, b] = [windowOn(), windowOn()];
    const inside = deferred();
    const stale = withTargetLock(a, t, 'building livepatch_stale', async () => {
      inside.resolve();
      await new Promise(() => undefined); // its user walked away, the session hangs on
    });
    void stale.catch(() => undefined);
    await inside.promise;
    const seen = await readLockStatus(b, t);
    assert.equal(seen.held, true);
    assert.match(seen.label ?? '', new RegExp(`^building livepatch_stale \\(${os.hostname()}, pid ${process.pid}, since `));
    // What the user confirmed is no longer what holds it: nothing is broken.
    assert.equal(await breakTargetLock(b, t, { ...seen, ownerText: `${seen.ownerText}x` }), 'changed');
    assert.equal((await readLockStatus(b, t)).held, true);
    assert.equal(await breakTargetLock(b, t, seen), 'broken');
    const after = await readLockStatus(b, t);
    assert.equal(after.held, false);
    assert.equal(after.ownerText, undefined, 'the owner file is gone');
    assert.equal(await withTargetLock(b, t, 'loading livepatch_stale', async () => 'loaded', { waitSeconds: 1 }), 'loaded');
  });

  test("Break Lock kills no process but the lock's own holder, whatever the owner file names", async () => {
    const t = fixture();
    const [a, b] = [windowOn(), windowOn()];
    const { done: held, release } = await holdLock(a, t, 'building livepatch_forged', undefined);
    const bystander = spawn('sleep', ['2147483647'], { stdio: 'ignore' });
    try {
      const owner = path.join(t.workDir, '.livepatch-lock-owner');
      fs.writeFileSync(owner, `forged\nklp-holder ${bystander.pid}\n`);
      const seen = await readLockStatus(b, t);
      await assert.rejects(breakTargetLock(b, t, seen), /still held, by a process the owner file does not name/);
      assert.equal(bystander.exitCode, null);
      assert.equal(bystander.signalCode, null, 'the bystander was not killed');
    } finally {
      bystander.kill('SIGKILL');
      release();
      await held;
    }
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

describe(
  'a half-open connection (the holder suspended or cut off) does not keep the lock',
  { skip: sshdUnavailable(), timeout: 120_000 },
  () => {
    let sshd: TestSshd;
    before(async () => {
      // As the test VM's sshd does (build-image.sh), with seconds instead of a minute.
      sshd = await startSshd({ clientAlive: { interval: 1, countMax: 3 } });
    });
    after(async () => {
      await sshd?.stop();
    });

    test('a holder whose ssh stops answering (SIGSTOP: a suspended laptop) loses the lock once sshd gives up on it', async () => {
      const t = fixture();
      // Without multiplexing, the lock's own ssh holds the TCP connection.
      const [a, b] = [new SshTarget(sshd.target()), new SshTarget(sshd.target())];
      const inside = deferred();
      const held = withTargetLock(a, t, 'building livepatch_suspend', async () => {
        inside.resolve();
        await new Promise(() => undefined);
      });
      void held.catch(() => undefined);
      await inside.promise;
      const holders = ourSsh('klp-lock');
      assert.equal(holders.length, 1, `one local ssh holds the lock: ${holders.join(' ')}`);
      // The connection stays open (loopback TCP still acks), but nobody answers on it.
      process.kill(holders[0], 'SIGSTOP');
      try {
        const t0 = Date.now();
        assert.equal(await withTargetLock(b, t, 'loading livepatch_suspend', async () => 'loaded', { waitSeconds: 30 }), 'loaded');
        assert.ok(Date.now() - t0 < 30_000);
      } finally {
        process.kill(holders[0], 'SIGKILL');
        process.kill(holders[0], 'SIGCONT');
      }
    });
  },
);
