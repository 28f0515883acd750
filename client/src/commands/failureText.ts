// How a failed remote action is worded: a short toast, and the whole story for the log
// channel. Remote stderr and ssh's own messages can run to many lines; they belong in the
// log, never in a notification. No vscode import, so it is tested with node:test.

import { SshError } from '../remote/ssh';

/** Longest toast text before it is cut (VS Code notifications wrap badly beyond a few lines). */
const TOAST_MAX = 300;

export interface FailureText {
  /** One line for the notification. */
  toast: string;
  /** Everything, for the log channel: the full message, the remote stderr tail and ssh's messages. */
  log: string;
}

export function failureText(title: string, err: unknown): FailureText {
  const message = err instanceof Error ? err.message : String(err);
  let first = message.split('\n')[0].trim();
  const more = first !== message.trim();
  if (first.length > TOAST_MAX) first = `${first.slice(0, TOAST_MAX - 1)}…`;
  const verify = err instanceof SshError && err.detail.terminalCommand ? ` Verify in a terminal: ${err.detail.terminalCommand}` : '';
  const toast = `Livepatch: ${title} failed: ${first}${more ? ' (details in the log)' : ''}${verify}`;
  const log = [`${title} failed: ${message}`];
  if (err instanceof SshError) {
    if (err.detail.stderrTail && !message.includes(err.detail.stderrTail)) log.push(`remote stderr:\n${err.detail.stderrTail}`);
    if (err.detail.sshLog?.trim()) log.push(`ssh:\n${err.detail.sshLog.trim()}`);
  }
  return { toast, log: log.join('\n') };
}
