// Every failure of the transport is an SshError: `kind` says which, `message` says what to do.

export type SshErrorKind =
  | 'invalid-argument'
  | 'ssh-missing'
  | 'host-key-changed'
  | 'host-key-unknown'
  | 'connection-refused'
  | 'dns'
  | 'unreachable'
  | 'connect-timeout'
  | 'permission-denied'
  | 'connection-lost'
  | 'ssh-failed'
  | 'sudo-password'
  | 'sudo-missing'
  | 'timeout'
  | 'cancelled'
  | 'remote-failed'
  | 'busy';

export interface SshErrorDetail {
  destination?: string;
  /** Host key fingerprint (SHA256:…) for host-key errors, when ssh told us. */
  fingerprint?: string;
  keyType?: string;
  /** known_hosts file and line of the offending key (host-key-changed). */
  knownHostsEntry?: string;
  /** A command the user can paste into a terminal. */
  terminalCommand?: string;
  exitCode?: number;
  /** Last lines of the remote command's stderr. */
  stderrTail?: string;
  /** Last lines of ssh's own messages (its -E log): for the log channel, not for toasts. */
  sshLog?: string;
  stdout?: string;
  stderr?: string;
  /** For busy: the action holding the target. */
  runningAction?: string;
}

/** Every failure of this module; `kind` says which, `message` says what to do. */
export class SshError extends Error {
  override readonly name = 'SshError';
  constructor(
    readonly kind: SshErrorKind,
    message: string,
    readonly detail: SshErrorDetail = {},
  ) {
    super(message);
  }
}
