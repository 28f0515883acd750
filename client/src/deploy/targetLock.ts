// One livepatch action at a time on a target, across VS Code windows, machines and scripts.
// SshTarget.exclusive() serialises the actions of one extension host; this lock is held on
// the target itself: flock(1) on <sysfs>/kernel/livepatch (the state every action changes),
// taken by a remote process that lives exactly as long as our ssh session. The run wrapper
// kills that process when the session ends, so a crashed window or a dropped link cannot
// leave the lock behind, and a rebooted VM starts unlocked.

import * as os from 'node:os';
import { SshError, type SshTarget } from '../remote/ssh';
import type { TargetSettings } from './operations';

/** flock's exit status when the lock stays taken for the whole wait (`-E`). */
const BUSY = 75;
/** The lock directory is missing (no CONFIG_LIVEPATCH) or cannot be opened: no lock to take. */
const NO_LOCK = 66;
const LOCKED = 'klp-locked';

// $1 lock directory, $2 seconds to wait, $3 owner file, $4 owner label.
// Only an existing directory is locked: flock(1) would otherwise create a file there.
const HOLD_SCRIPT = [
  '[ -d "$1" ] || exit 66',
  'command -v flock >/dev/null 2>&1 || exit 66',
  `exec flock -w "$2" -E ${BUSY} "$1" sh -c '`,
  '  printf "%s\\n" "$2" >"$1" 2>/dev/null',
  `  echo ${LOCKED}`,
  // Held until the run wrapper kills this process group (our ssh session ended).
  '  exec sleep 2147483647',
  `' klp-lock-held "$3" "$4"`,
].join('\n');

const BUSY_SCRIPT = '[ -r "$1" ] && head -c 300 "$1"';

export interface TargetLockOptions {
  signal?: AbortSignal;
  /**
   * How long to wait for a lock another session holds. A few seconds also covers our own
   * previous holder, which the target kills a moment after its ssh session ends.
   */
  waitSeconds?: number;
  /** Told when the target has no lock directory, so the action runs unlocked. */
  onUnlocked?: (why: string) => void;
}

/** What this session writes beside the lock, for a refused session to name: action, host, pid. */
export function ownerLabel(action: string): string {
  return `${action} (${os.hostname()}, pid ${process.pid}, since ${new Date().toISOString()})`.replace(/[\0-\x1f]/g, ' ');
}

/**
 * Runs `fn` while holding the target's livepatch lock. Another session's lock that is not
 * released within `waitSeconds` is an SshError('busy') naming what holds it.
 */
export async function withTargetLock<T>(ssh: SshTarget, t: TargetSettings, action: string, fn: () => Promise<T>, opts: TargetLockOptions = {}): Promise<T> {
  const dir = `${t.sysfsRoot.replace(/\/+$/, '')}/kernel/livepatch`;
  const owner = `${t.workDir.replace(/\/+$/, '')}/.livepatch-lock-owner`;
  const hold = new AbortController();
  const stop = (): void => hold.abort();
  opts.signal?.addEventListener('abort', stop);
  let locked!: () => void;
  const onLocked = new Promise<void>((resolve) => (locked = resolve));
  let seen = '';
  const holder = ssh.run(['sh', '-c', HOLD_SCRIPT, 'klp-lock', dir, String(opts.waitSeconds ?? 5), owner, ownerLabel(action)], {
    signal: hold.signal,
    timeoutMs: 0,
    onStdout: (s) => {
      seen += s;
      if (seen.includes(LOCKED)) locked();
    },
  });
  try {
    const first = await Promise.race([onLocked.then(() => 'locked' as const), holder]);
    if (first !== 'locked') {
      if (first.code === BUSY) {
        const by = (await ssh.run(['sh', '-c', BUSY_SCRIPT, 'klp-lock-owner', owner], { timeoutMs: 15_000 }).catch(() => null))?.stdout.trim();
        throw new SshError('busy', `Another livepatch action is running on ${t.name}${by ? `: ${by}` : ' (from another window, machine or script)'}. Try again when it has finished.`, {
          destination: ssh.destination,
          runningAction: by || undefined,
        });
      }
      opts.onUnlocked?.(first.code === NO_LOCK ? `${dir} is not a directory the login can open` : `flock exited with ${first.code}: ${first.stderr.trim()}`);
    }
    return await fn();
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    hold.abort();
    await holder.catch(() => undefined);
  }
}
