// Destination and argv: what the user calls the target, turned into the ssh command line.
// Host keys are always verified: the options that would turn that off are refused.

import { SshError } from './errors';
import { shJoin } from './quote';
import { targetControlDir } from './controlDir';

/** The options of one ssh connection (see configFromSetting for where they come from). */
export interface SshTargetConfig {
  /** A ~/.ssh/config alias, host, user@host, user@host:port, [v6]:port or ssh://user@host:port. */
  destination: string;
  /** The OpenSSH client to run (default `ssh`). */
  sshPath?: string;
  /** ssh -F: a config file to use instead of ~/.ssh/config. */
  configFile?: string;
  /** Overrides a port given in `destination`. */
  port?: number;
  identityFile?: string;
  knownHostsFile?: string;
  /** `yes` (default) or `accept-new` (trust on first use, only when the user opted in). Never `no`. */
  strictHostKeyChecking?: 'yes' | 'accept-new';
  /** Seconds (default 10). */
  connectTimeout?: number;
  /** Seconds (default 15). */
  serverAliveInterval?: number;
  /** Default 3. */
  serverAliveCountMax?: number;
  /** Private (0700) directory for the ControlPath socket; see prepareControlDir(). Unset: no multiplexing set by us. */
  controlDir?: string;
  /** Seconds an idle master connection stays up (default 600). */
  controlPersist?: number;
  /** More `-o` options, e.g. `ProxyJump=bastion`. Options that turn host-key checking off are refused. */
  extraOptions?: string[];
  /** `root`: log in as root (default). `sudo`: prefix privileged commands with `sudo -n`. */
  sudo?: 'root' | 'sudo';
  /** Test seam: pretend to be on this platform (multiplexing is off on win32). */
  platform?: NodeJS.Platform;
}

export interface ParsedDestination {
  /** What goes after `--` on the ssh command line: alias, host or user@host. */
  target: string;
  user?: string;
  host: string;
  port?: number;
}

export function parseDestination(dest: string): ParsedDestination {
  const bad = (why: string): never => {
    throw new SshError('invalid-argument', `Not a usable ssh destination ${JSON.stringify(dest)}: ${why}.`);
  };
  let d = dest.trim();
  if (!d) bad('empty');
  if (/[\s\0-\x1f\x7f]/.test(d)) bad('it contains spaces or control characters');
  if (d.startsWith('-')) bad("it starts with '-'");
  if (d.startsWith('ssh://')) d = d.slice('ssh://'.length).replace(/\/$/, '');
  let user: string | undefined;
  const at = d.lastIndexOf('@');
  if (at >= 0) {
    user = d.slice(0, at);
    d = d.slice(at + 1);
    if (!user) bad('empty user');
  }
  let host = d;
  let port: number | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(d);
  if (v6) {
    host = v6[1];
    if (v6[2]) port = Number(v6[2]);
  } else {
    const m = /^([^:]+):(\d+)$/.exec(d);
    if (m) {
      host = m[1];
      port = Number(m[2]);
    }
  }
  if (!host) bad('empty host');
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) bad('bad port');
  return { target: user ? `${user}@${host}` : host, user, host, port };
}

/** Value for an ssh -o option that takes a path: % is a token character, spaces need quotes. */
function optPath(p: string, suffix = ''): string {
  if (p.includes('"')) throw new SshError('invalid-argument', `Paths with '"' cannot be passed to ssh: ${p}`);
  const v = p.replace(/%/g, '%%') + suffix;
  return /\s/.test(v) ? `"${v}"` : v;
}

const FORBIDDEN_OPTION = /^\s*(StrictHostKeyChecking\s*[=\s]\s*(no|off|false)|UserKnownHostsFile\s*[=\s]\s*\/dev\/null)\s*$/i;

export function buildSshArgs(
  cfg: SshTargetConfig,
  extra: { controlCommand?: string; noMultiplex?: boolean; verbose?: boolean } = {},
): string[] {
  const dest = parseDestination(cfg.destination);
  const args: string[] = [];
  if (extra.verbose) args.push('-v');
  if (cfg.configFile) args.push('-F', cfg.configFile);
  const port = cfg.port ?? dest.port;
  if (port !== undefined) args.push('-p', String(port));
  if (cfg.identityFile) args.push('-i', cfg.identityFile, '-o', 'IdentitiesOnly=yes');
  const strict = cfg.strictHostKeyChecking ?? 'yes';
  if (strict !== 'yes' && strict !== 'accept-new')
    throw new SshError('invalid-argument', `StrictHostKeyChecking must be yes or accept-new, not ${String(strict)}.`);
  args.push(
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${cfg.connectTimeout ?? 10}`,
    '-o',
    `ServerAliveInterval=${cfg.serverAliveInterval ?? 15}`,
    '-o',
    `ServerAliveCountMax=${cfg.serverAliveCountMax ?? 3}`,
    '-o',
    `StrictHostKeyChecking=${strict}`,
  );
  if (cfg.knownHostsFile) args.push('-o', `UserKnownHostsFile=${optPath(cfg.knownHostsFile)}`);
  const platform = cfg.platform ?? process.platform;
  if (platform === 'win32' || extra.noMultiplex) {
    // Win32-OpenSSH has no ControlMaster; a user's global ControlPath would break every call.
    args.push('-o', 'ControlMaster=no', '-o', 'ControlPath=none');
  } else if (cfg.controlDir) {
    args.push(
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${optPath(targetControlDir(cfg), '/%C')}`,
      '-o',
      `ControlPersist=${cfg.controlPersist ?? 600}`,
    );
  }
  for (const o of cfg.extraOptions ?? []) {
    if (FORBIDDEN_OPTION.test(o)) throw new SshError('invalid-argument', `Refusing ssh option "${o}": host keys are always verified.`);
    args.push('-o', o);
  }
  if (extra.controlCommand) args.push('-O', extra.controlCommand);
  // -T: no pty (clean stdout, no CRLF); -e none: stdin bytes are never ssh escapes.
  args.push('-T', '-e', 'none', '--', dest.target);
  return args;
}

/**
 * The command a user can paste into a terminal to connect the same way interactively
 * (to see and accept a host key, or watch a login fail): no BatchMode, same files.
 */
export function terminalSshCommand(cfg: SshTargetConfig): string {
  const dest = parseDestination(cfg.destination);
  const argv = ['ssh'];
  if (cfg.configFile) argv.push('-F', cfg.configFile);
  const port = cfg.port ?? dest.port;
  if (port !== undefined) argv.push('-p', String(port));
  if (cfg.identityFile) argv.push('-i', cfg.identityFile);
  if (cfg.knownHostsFile) argv.push('-o', `UserKnownHostsFile=${optPath(cfg.knownHostsFile)}`);
  argv.push(dest.target);
  return shJoin(argv);
}
