// Failure classification: ssh's own failures (exit 255, judged on its -E log) and sudo's,
// turned into an SshError whose message says what to do. Pure: tested without ssh.

import { SshError, type SshErrorDetail } from './errors';

/** The last `lines` lines of a text, trailing space dropped. */
export function tail(text: string, lines = 12): string {
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(-lines).join('\n');
}

/** Pure: turn ssh/sudo stderr into a typed error, or undefined when it is the remote command's own failure. */
export function classifyFailure(
  stderr: string,
  code: number,
  ctx: {
    destination: string;
    sudo: boolean;
    terminalCommand?: string;
    /** ssh's own messages (ssh -E): exit 255 is judged on them alone, never on the remote stderr. */
    sshLog?: string;
  },
): SshError | undefined {
  const dest = ctx.destination;
  const login = ctx.terminalCommand ?? `ssh ${dest}`;
  const base: SshErrorDetail = {
    destination: dest,
    exitCode: code,
    stderrTail: tail(stderr),
    stderr,
    sshLog: ctx.sshLog === undefined ? undefined : tail(ctx.sshLog),
  };
  if (ctx.sudo && code === 1) {
    const m = /^sudo: (a password is required|a terminal is required[^\n]*|sorry, you must have a tty[^\n]*|no tty present[^\n]*)/m.exec(
      stderr,
    );
    if (m) {
      return new SshError(
        'sudo-password',
        `sudo on ${dest} wants a password ("${m[1]}"). The extension never sends passwords: allow passwordless sudo for this user (a NOPASSWD rule in /etc/sudoers.d/) or set the target's privilege to "root" and log in as root.`,
        base,
      );
    }
  }
  if (ctx.sudo && code === 127 && /sudo'?: (No such file or directory|not found|command not found)/.test(stderr)) {
    return new SshError(
      'sudo-missing',
      `sudo is not installed on ${dest}. Install it (with a NOPASSWD rule for this user) or set the target's privilege to "root" and log in as root.`,
      base,
    );
  }
  if (code !== 255) return undefined;
  // From here on, `stderr` means ssh's messages. ssh said nothing: the remote command itself
  // exited 255 (a silent multiplexing client is the caller's to tell apart).
  if (ctx.sshLog !== undefined) {
    if (!ctx.sshLog.trim()) return undefined;
    stderr = ctx.sshLog;
  }
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|POSSIBLE DNS SPOOFING DETECTED|REVOKED HOST KEY/.test(stderr)) {
    const fp = /The fingerprint for the (\S+) key sent by the remote host is\s*\n?\s*((?:SHA256|MD5):[A-Za-z0-9+/=:]+)/.exec(stderr);
    const offending = /Offending (?:\S+ )?key (?:for IP )?in (.+?):(\d+)/.exec(stderr);
    const remove = /^\s*(ssh-keygen -f .+ -R .+)$/m.exec(stderr);
    const keyType = fp?.[1];
    const fingerprint = fp?.[2];
    const verify = keyType
      ? `ssh-keygen -lf /etc/ssh/ssh_host_${keyType.toLowerCase()}_key.pub`
      : 'ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub';
    return new SshError(
      'host-key-changed',
      `The host key of ${dest} has changed${fingerprint ? `: it now presents ${keyType} ${fingerprint}` : ''}. ` +
        `Either the VM was re-created or someone is intercepting the connection. Compare the fingerprint with \`${verify}\` on the VM's console; ` +
        `if it matches, remove the old key${remove ? ` with \`${remove[1]}\`` : ' (ssh-keygen -R <host>)'} and connect once in a terminal with \`${login}\`.`,
      {
        ...base,
        fingerprint,
        keyType,
        knownHostsEntry: offending ? `${offending[1]}:${offending[2]}` : undefined,
        terminalCommand: remove ? remove[1] : login,
      },
    );
  }
  const unknown = /No (\S+) host key is known for (.+?) and you have requested strict checking/.exec(stderr);
  if (unknown || /Host key verification failed/.test(stderr)) {
    return new SshError(
      'host-key-unknown',
      `${dest} is not in known_hosts, and host keys are always verified. Connect once in a terminal with \`${login}\` and compare the fingerprint it shows with the VM's (\`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub\` on its console), or enable acceptNewHostKey for this target.`,
      { ...base, keyType: unknown?.[1], terminalCommand: login },
    );
  }
  let m: RegExpExecArray | null;
  if ((m = /Could not resolve hostname (\S+?):\s*(.*)/.exec(stderr))) {
    return new SshError(
      'dns',
      `Cannot resolve the host name ${m[1]} (${m[2].trim()}). Check the destination, or the HostName of that alias in ~/.ssh/config.`,
      base,
    );
  }
  if ((m = /connect to host (\S+) port (\d+): Connection refused/.exec(stderr))) {
    return new SshError(
      'connection-refused',
      `${m[1]} refused the connection on port ${m[2]}: is the VM up and sshd running, and is the port right?`,
      base,
    );
  }
  if (/Connection timed out during banner exchange|connect to host \S+ port \d+: (Connection|Operation) timed out/.test(stderr)) {
    return new SshError(
      'connect-timeout',
      `Connecting to ${dest} timed out. Is the VM running and reachable (a booting VM can take a minute)?`,
      base,
    );
  }
  if ((m = /connect to host (\S+) port \d+: (No route to host|Network is unreachable)/.exec(stderr))) {
    return new SshError('unreachable', `${m[1]} is unreachable: ${m[2]}.`, base);
  }
  if ((m = /Permission denied \(([^)]*)\)/.exec(stderr))) {
    return new SshError(
      'permission-denied',
      `${dest} refused the login (methods offered: ${m[1]}). Key-based login is required: check the user, IdentityFile and the VM's authorized_keys; \`${login}\` in a terminal shows the same failure.`,
      base,
    );
  }
  if (
    /Timeout, server .* not responding|Connection (closed|reset) by|Broken pipe|kex_exchange_identification|client_loop: send disconnect|Connection to .* closed by remote host/.test(
      stderr,
    )
  ) {
    return new SshError('connection-lost', `The connection to ${dest} was lost: ${tail(stderr, 2)}`, base);
  }
  if (
    /^(ssh: |Bad owner or permissions|.*: Bad configuration option|.*line \d+: |Load key|no such identity|mux_client_|Control socket)/m.test(
      stderr,
    ) ||
    !stderr.trim()
  ) {
    return new SshError('ssh-failed', `ssh to ${dest} failed: ${tail(stderr, 3) || 'exit status 255'}`, base);
  }
  return undefined;
}
