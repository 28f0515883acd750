// The in-process mutex per target: one action at a time in this process (the lock on the VM,
// deploy/targetLock.ts, covers other processes and machines).

import { SshError } from './errors';

interface Holder {
  label: string;
  waiters: Array<{ label: string; resolve: () => void }>;
}
const holders = new Map<string, Holder>();

/** Takes `key` for `label`; resolves with the release function. Refused with SshError('busy') unless `wait`. */
export async function acquire(key: string, label: string, wait: boolean, signal?: AbortSignal, dest?: string): Promise<() => void> {
  const held = holders.get(key);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    const h = holders.get(key);
    if (!h) return;
    const next = h.waiters.shift();
    if (next) {
      h.label = next.label;
      next.resolve();
    } else holders.delete(key);
  };
  if (!held) {
    holders.set(key, { label, waiters: [] });
    return release;
  }
  if (!wait) {
    throw new SshError('busy', `"${held.label}" is still running on ${dest ?? key}. Wait for it to finish or cancel it.`, {
      destination: dest,
      runningAction: held.label,
    });
  }
  if (signal?.aborted) throw new SshError('cancelled', `Cancelled while waiting for "${held.label}".`, { destination: dest });
  await new Promise<void>((resolve, reject) => {
    const entry = {
      label,
      resolve: (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
    };
    const onAbort = (): void => {
      const i = held.waiters.indexOf(entry);
      if (i >= 0) held.waiters.splice(i, 1);
      reject(new SshError('cancelled', `Cancelled while waiting for "${held.label}".`, { destination: dest }));
    };
    held.waiters.push(entry);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return release;
}

/** The label of the action holding `key`, if any. */
export function holderOf(key: string): string | undefined {
  return holders.get(key)?.label;
}
