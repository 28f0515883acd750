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
const HOLDER = 'klp-holder';

// $1 lock directory, $2 seconds to wait, $3 owner file, $4 owner label.
// Only an existing directory is locked: flock(1) would otherwise create a file there.
const HOLD_SCRIPT = [
  '[ -d "$1" ] || exit 66',
  'command -v flock >/dev/null 2>&1 || exit 66',
  `exec flock -w "$2" -E ${BUSY} "$1" sh -c '`,
  // Line 2 names the process that holds the lock ($$ becomes the sleep), for Break Lock.
  `  printf "%s\\n${HOLDER} %s\\n" "$2" "$$" >"$1" 2>/dev/null`,
  `  echo ${LOCKED}`,
  // Held until the run wrapper kills this process group (our ssh session ended).
  '  exec sleep 2147483647',
  `' klp-lock-held "$3" "$4"`,
].join('\n');

const BUSY_SCRIPT = '[ -r "$1" ] && head -c 300 "$1" | head -n 1';

// $1 lock directory, $2 owner file. Exit 75: the lock is held. Then the owner file, if any.
const OWNER_SCRIPT = ['[ -d "$1" ] || exit 66', `flock -n -E ${BUSY} "$1" true; s=$?`, '[ -r "$2" ] && head -c 1000 "$2"', 'exit $s'].join(
  '\n',
);

/*
 * $1 lock directory, $2 owner file, $3 the owner file's text as the user saw it. Breaks the
 * lock only if the file still says the same (exit 4: changed, 3: gone), and kills only the
 * holder it names, if that is still a `sleep` whose parent is flock on this directory
 * (exit 5: it names none such).
 */
const BREAK_SCRIPT = [
  'cur=$(cat -- "$2" 2>/dev/null) || exit 3',
  '[ "$cur" = "$3" ] || exit 4',
  `pid=$(sed -n 's/^${HOLDER} \\([0-9][0-9]*\\)$/\\1/p' -- "$2")`,
  'rm -f -- "$2"',
  '[ -n "$pid" ] || exit 5',
  'ppid=$(sed "s/^.*) [A-Za-z] \\([0-9]*\\) .*$/\\1/" "/proc/$pid/stat" 2>/dev/null) || exit 5',
  'me=$(tr "\\0" " " <"/proc/$pid/cmdline" 2>/dev/null)',
  'parent=$(tr "\\0" "\\n" <"/proc/$ppid/cmdline" 2>/dev/null)',
  'case "$me" in "sleep 2147483647 ") ;; *) exit 5 ;; esac',
  'printf "%s\\n" "$parent" | grep -qxF -- "$1" || exit 5',
  'printf "%s\\n" "$parent" | head -n 1 | grep -q "flock$" || exit 5',
  'kill -TERM "$pid"',
].join('\n');

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

const lockPaths = (t: TargetSettings): { dir: string; owner: string } => ({
  dir: `${t.sysfsRoot.replace(/\/+$/, '')}/kernel/livepatch`,
  owner: `${t.workDir.replace(/\/+$/, '')}/.livepatch-lock-owner`,
});

export interface LockStatus {
  /** Someone holds the lock now. */
  held: boolean;
  /** What the owner file says (the last holder, when nobody holds it): action, host, pid, since. */
  label?: string;
  /** The owner file's text, for breakTargetLock() to check nothing changed meanwhile. */
  ownerText?: string;
}

/** Who holds the target's livepatch lock, if anyone. */
export async function readLockStatus(ssh: SshTarget, t: TargetSettings, opts: { signal?: AbortSignal } = {}): Promise<LockStatus> {
  const { dir, owner } = lockPaths(t);
  const r = await ssh.run(['sh', '-c', OWNER_SCRIPT, 'klp-lock-status', dir, owner], { signal: opts.signal, timeoutMs: 15_000 });
  if (r.code === NO_LOCK) return { held: false };
  if (r.code !== 0 && r.code !== BUSY)
    throw new SshError('remote-failed', `Cannot read the lock of ${t.name}: ${r.stderr.trim() || `exit ${r.code}`}`, {
      destination: ssh.destination,
      exitCode: r.code,
    });
  const text = r.stdout.replace(/\n+$/, '');
  return { held: r.code === BUSY, label: text.split('\n')[0] || undefined, ownerText: text || undefined };
}

/**
 * Break a lock whose holder is gone for good (a half-open connection can keep it for hours):
 * only if the owner file still says `seen.ownerText`, kill the holder it names and remove it.
 */
export async function breakTargetLock(
  ssh: SshTarget,
  t: TargetSettings,
  seen: LockStatus,
  opts: { signal?: AbortSignal } = {},
): Promise<'broken' | 'changed'> {
  if (!seen.ownerText) throw new SshError('invalid-argument', `The lock of ${t.name} names no holder to break.`);
  const { dir, owner } = lockPaths(t);
  const r = await ssh.run(['sh', '-c', BREAK_SCRIPT, 'klp-lock-break', dir, owner, seen.ownerText], {
    signal: opts.signal,
    timeoutMs: 15_000,
  });
  if (r.code === 3 || r.code === 4) return 'changed';
  if (r.code !== 0 && r.code !== 5) {
    throw new SshError('remote-failed', `Breaking the lock of ${t.name} failed: ${r.stderr.trim() || `exit ${r.code}`}`, {
      destination: ssh.destination,
      exitCode: r.code,
    });
  }
  // flock lets go once its child is gone: give it a moment, then make sure.
  for (let i = 0; i < 20; i++) {
    if (!(await readLockStatus(ssh, t, opts)).held) return 'broken';
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new SshError(
    'remote-failed',
    `The lock of ${t.name} is still held, by a process the owner file does not name (${seen.label ?? 'unknown'}). Find it on the VM with \`fuser -v ${dir}\`.`,
    { destination: ssh.destination },
  );
}

/**
 * Runs `fn` while holding the target's livepatch lock. Another session's lock that is not
 * released within `waitSeconds` is an SshError('busy') naming what holds it.
 */
export async function withTargetLock<T>(
  ssh: SshTarget,
  t: TargetSettings,
  action: string,
  fn: () => Promise<T>,
  opts: TargetLockOptions = {},
): Promise<T> {
  const { dir, owner } = lockPaths(t);
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
        const by = (
          await ssh.run(['sh', '-c', BUSY_SCRIPT, 'klp-lock-owner', owner], { timeoutMs: 15_000 }).catch(() => null)
        )?.stdout.trim();
        throw new SshError(
          'busy',
          `Another livepatch action is running on ${t.name}${by ? `: ${by}` : ' (from another window, machine or script)'}. Try again when it has finished.`,
          {
            destination: ssh.destination,
            runningAction: by || undefined,
          },
        );
      }
      opts.onUnlocked?.(
        first.code === NO_LOCK ? `${dir} is not a directory the login can open` : `flock exited with ${first.code}: ${first.stderr.trim()}`,
      );
    }
    return await fn();
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    hold.abort();
    await holder.catch(() => undefined);
  }
}
