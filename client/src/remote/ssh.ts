// The one SSH transport: the system OpenSSH client spawned with argv arrays, so users
// keep their ~/.ssh/config (aliases, ProxyJump, agents, certificates, known_hosts).
// Pure Node: no `vscode` import, so it is tested against a real sshd with node:test.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

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

export interface RunOptions {
  /** Bytes for the remote command's stdin. Without it the command's stdin is /dev/null. */
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Apply `sudo -n` in sudo mode (default true). False runs as the login user. */
  privileged?: boolean;
  /** Keep at most this many characters of each stream in the result (default 16 MiB; the tail is kept). */
  maxBuffer?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface UploadOptions {
  /** Octal mode for the file, e.g. 0o644. */
  mode?: number;
  /** Create the parent directory first. */
  mkdirs?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  privileged?: boolean;
}

export interface CheckResult {
  kernelRelease: string;
  /** uid the commands run as (after sudo, in sudo mode). */
  uid: number;
  latencyMs: number;
}

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

// ---------------------------------------------------------------------------
// Remote words: quoting and validation

const SAFE_WORD = /^[A-Za-z0-9_/.:@+-][A-Za-z0-9_/.,:=@+-]*$/;

/**
 * POSIX single-quote one remote word. The remote command ssh sends is a string that the
 * login shell parses, so every word of it is built through this function.
 */
export function shQuote(word: string): string {
  if (word.includes('\0')) throw new SshError('invalid-argument', 'A remote argument contains a NUL byte.');
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quote and join argv into the one string the remote shell will run. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}

const MODULE_NAME = /^[A-Za-z0-9_-]+$/;

/** A kernel module name that may reach the remote shell: `[A-Za-z0-9_-]+`. */
export function assertModuleName(name: string): string {
  // MODULE_NAME_LEN is 56 with the NUL on 64-bit kernels.
  if (!MODULE_NAME.test(name) || name.length > 55) {
    throw new SshError('invalid-argument', `Not a valid module name: ${JSON.stringify(name)} (1-55 letters, digits, '_' or '-').`);
  }
  return name;
}

/** A remote path: no NUL or newline, not empty, not starting with '-' (it would read as an option). */
export function assertRemotePath(p: string): string {
  if (!p || /[\0\n\r]/.test(p) || p.startsWith('-')) {
    throw new SshError('invalid-argument', `Not a usable remote path: ${JSON.stringify(p)}.`);
  }
  return p;
}

/** A `livepatch.targets` entry, as far as the transport is concerned. */
export interface TargetSetting {
  destination: string;
  sshConfigFile?: string;
  privilege?: 'root' | 'sudo';
  acceptNewHostKey?: boolean;
}

/** Map a `livepatch.targets` entry plus machine-level settings to a transport config. */
export function configFromSetting(t: TargetSetting, machine: { sshPath?: string; controlDir?: string; platform?: NodeJS.Platform } = {}): SshTargetConfig {
  return {
    destination: t.destination,
    sshPath: machine.sshPath || undefined,
    // `~/` as in ssh_config itself: settings are JSON, no shell expands it.
    configFile: t.sshConfigFile ? t.sshConfigFile.replace(/^~(?=\/)/, os.homedir()) : undefined,
    sudo: t.privilege === 'sudo' ? 'sudo' : 'root',
    strictHostKeyChecking: t.acceptNewHostKey ? 'accept-new' : 'yes',
    controlDir: machine.controlDir,
    platform: machine.platform,
  };
}

// ---------------------------------------------------------------------------
// Destination and argv

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

/**
 * The socket directory of one target: `%C` hashes only host, port and user, so targets
 * that differ in config file, keys, known_hosts or host-key policy would otherwise share
 * a master, and the one with the weaker settings would ride on the other's connection.
 */
export function targetControlDir(cfg: SshTargetConfig): string {
  const identity = JSON.stringify([
    cfg.destination, cfg.sshPath ?? null, cfg.configFile ?? null, cfg.port ?? null, cfg.identityFile ?? null,
    cfg.knownHostsFile ?? null, cfg.strictHostKeyChecking ?? 'yes', cfg.extraOptions ?? [],
  ]);
  const base = (cfg.controlDir ?? '').replace(/\/+$/, '');
  return `${base}/${createHash('sha256').update(identity).digest('hex').slice(0, CONTROL_SUBDIR_CHARS)}`;
}

const FORBIDDEN_OPTION = /^\s*(StrictHostKeyChecking\s*[=\s]\s*(no|off|false)|UserKnownHostsFile\s*[=\s]\s*\/dev\/null)\s*$/i;

export function buildSshArgs(cfg: SshTargetConfig, extra: { controlCommand?: string; noMultiplex?: boolean; verbose?: boolean } = {}): string[] {
  const dest = parseDestination(cfg.destination);
  const args: string[] = [];
  if (extra.verbose) args.push('-v');
  if (cfg.configFile) args.push('-F', cfg.configFile);
  const port = cfg.port ?? dest.port;
  if (port !== undefined) args.push('-p', String(port));
  if (cfg.identityFile) args.push('-i', cfg.identityFile, '-o', 'IdentitiesOnly=yes');
  const strict = cfg.strictHostKeyChecking ?? 'yes';
  if (strict !== 'yes' && strict !== 'accept-new') throw new SshError('invalid-argument', `StrictHostKeyChecking must be yes or accept-new, not ${String(strict)}.`);
  args.push(
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${cfg.connectTimeout ?? 10}`,
    '-o', `ServerAliveInterval=${cfg.serverAliveInterval ?? 15}`,
    '-o', `ServerAliveCountMax=${cfg.serverAliveCountMax ?? 3}`,
    '-o', `StrictHostKeyChecking=${strict}`,
  );
  if (cfg.knownHostsFile) args.push('-o', `UserKnownHostsFile=${optPath(cfg.knownHostsFile)}`);
  const platform = cfg.platform ?? process.platform;
  if (platform === 'win32' || extra.noMultiplex) {
    // Win32-OpenSSH has no ControlMaster; a user's global ControlPath would break every call.
    args.push('-o', 'ControlMaster=no', '-o', 'ControlPath=none');
  } else if (cfg.controlDir) {
    args.push(
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${optPath(targetControlDir(cfg), '/%C')}`,
      '-o', `ControlPersist=${cfg.controlPersist ?? 600}`,
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

// ---------------------------------------------------------------------------
// Remote wrappers

/*
 * Runs "$@" so that it dies with the connection. The channel's stdin stays open for the
 * whole run (the local side never closes it) and a watcher blocks reading it: EOF means
 * the local ssh was killed or the connection dropped, and the watcher kills its process
 * group (sshd made the session a process-group leader with setsid; under sudo, sudo's).
 * A remote command that starts its own session or process group escapes this.
 * $1 is the number of input bytes to take from stdin first; they go to a temp file that
 * becomes the command's stdin, so the stream stays free for the watcher.
 */
const RUN_WRAPPER = [
  'n=$1; shift',
  'exec 3<&0 </dev/null',
  'if [ "$n" -gt 0 ]; then',
  '  t=$(mktemp) || exit 125',
  '  head -c "$n" <&3 >"$t"',
  '  if [ $(wc -c <"$t") -ne "$n" ]; then rm -f "$t"; echo "klp: input cut short" >&2; exit 125; fi',
  '  exec 4<"$t"; rm -f "$t"',
  'else exec 4</dev/null; fi',
  // The watcher: on EOF, TERM the group, give it up to 5 s (while this shell still waits
  // for the command), then KILL whatever is left, itself included.
  "( trap '' TERM; while read -r _ <&3; do :; done; kill -TERM 0; i=0",
  '  while kill -0 $$ 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done',
  '  kill -KILL 0 ) >/dev/null 2>&1 4<&- &',
  'w=$!',
  // Trapped, so this shell outlives the command on TERM (the command still gets TERM).
  "trap 'exit 143' TERM",
  '"$@" <&4 3<&- 4<&-',
  's=$?',
  'kill -KILL $w 2>/dev/null',
  'exit $s',
].join('\n');

/* Writes stdin to a temp file beside the target, checks the size, then renames: a
 * cancelled upload (cat sees EOF early) leaves nothing behind. mktemp creates the temp
 * file itself (O_EXCL, unpredictable name), so `cat >` never follows a planted symlink,
 * and rename replaces a symlink at the target rather than writing through it. */
const UPLOAD_SCRIPT = [
  'p=$1; n=$2; m=$3; mk=$4',
  'if [ "$mk" = 1 ]; then mkdir -p -- "$(dirname -- "$p")" || exit 1; fi',
  'umask 077',
  't=$(mktemp "$p.klp-upload.XXXXXX") || exit 1',
  'if cat >"$t" && [ $(wc -c <"$t") -eq "$n" ]; then',
  '  if { [ -z "$m" ] || chmod "$m" "$t"; } && mv -f -- "$t" "$p"; then exit 0; fi',
  'fi',
  'rm -f -- "$t"',
  'echo "klp: upload to $p did not complete" >&2',
  'exit 1',
].join('\n');

function remotePrefix(sudo: boolean): string[] {
  // LC_ALL=C: messages we parse (sudo, kpatch-build, tools) stay in English.
  return ['exec', 'env', 'LC_ALL=C', ...(sudo ? ['sudo', '-n', '--'] : [])];
}

/** The remote command string for argv (exported for tests and logs). */
export function remoteRunCommand(argv: readonly string[], opts: { sudo: boolean; inputBytes: number }): string {
  if (!argv.length) throw new SshError('invalid-argument', 'Empty remote command.');
  return shJoin([...remotePrefix(opts.sudo), 'sh', '-c', RUN_WRAPPER, 'klp-run', String(opts.inputBytes), ...argv]);
}

// ---------------------------------------------------------------------------
// Classifying ssh's own failures (exit 255) and sudo's

function tail(text: string, lines = 12): string {
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
  const base: SshErrorDetail = { destination: dest, exitCode: code, stderrTail: tail(stderr), stderr, sshLog: ctx.sshLog === undefined ? undefined : tail(ctx.sshLog) };
  if (ctx.sudo && code === 1) {
    const m = /^sudo: (a password is required|a terminal is required[^\n]*|sorry, you must have a tty[^\n]*|no tty present[^\n]*)/m.exec(stderr);
    if (m) {
      return new SshError(
        'sudo-password',
        `sudo on ${dest} wants a password ("${m[1]}"). The extension never sends passwords: allow passwordless sudo for this user (a NOPASSWD rule in /etc/sudoers.d/) or set the target's privilege to "root" and log in as root.`,
        base,
      );
    }
  }
  if (ctx.sudo && code === 127 && /sudo'?: (No such file or directory|not found|command not found)/.test(stderr)) {
    return new SshError('sudo-missing', `sudo is not installed on ${dest}. Install it (with a NOPASSWD rule for this user) or set the target's privilege to "root" and log in as root.`, base);
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
    const verify = keyType ? `ssh-keygen -lf /etc/ssh/ssh_host_${keyType.toLowerCase()}_key.pub` : 'ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub';
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
    return new SshError('dns', `Cannot resolve the host name ${m[1]} (${m[2].trim()}). Check the destination, or the HostName of that alias in ~/.ssh/config.`, base);
  }
  if ((m = /connect to host (\S+) port (\d+): Connection refused/.exec(stderr))) {
    return new SshError('connection-refused', `${m[1]} refused the connection on port ${m[2]}: is the VM up and sshd running, and is the port right?`, base);
  }
  if (/Connection timed out during banner exchange|connect to host \S+ port \d+: (Connection|Operation) timed out/.test(stderr)) {
    return new SshError('connect-timeout', `Connecting to ${dest} timed out. Is the VM running and reachable (a booting VM can take a minute)?`, base);
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
  if (/Timeout, server .* not responding|Connection (closed|reset) by|Broken pipe|kex_exchange_identification|client_loop: send disconnect|Connection to .* closed by remote host/.test(stderr)) {
    return new SshError('connection-lost', `The connection to ${dest} was lost: ${tail(stderr, 2)}`, base);
  }
  if (/^(ssh: |Bad owner or permissions|.*: Bad configuration option|.*line \d+: |Load key|no such identity|mux_client_|Control socket)/m.test(stderr) || !stderr.trim()) {
    return new SshError('ssh-failed', `ssh to ${dest} failed: ${tail(stderr, 3) || 'exit status 255'}`, base);
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Per-target mutex

interface Holder {
  label: string;
  waiters: Array<{ label: string; resolve: () => void }>;
}
const holders = new Map<string, Holder>();

async function acquire(key: string, label: string, wait: boolean, signal?: AbortSignal, dest?: string): Promise<() => void> {
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
    throw new SshError('busy', `"${held.label}" is still running on ${dest ?? key}. Wait for it to finish or cancel it.`, { destination: dest, runningAction: held.label });
  }
  if (signal?.aborted) throw new SshError('cancelled', `Cancelled while waiting for "${held.label}".`, { destination: dest });
  await new Promise<void>((resolve, reject) => {
    const entry = { label, resolve: (): void => { signal?.removeEventListener('abort', onAbort); resolve(); } };
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

// ---------------------------------------------------------------------------
// The target

const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

class Collector {
  private readonly decoder = new StringDecoder('utf8');
  private text = '';
  constructor(private readonly max: number, private readonly on?: (chunk: string) => void) {}
  push(buf: Buffer): void {
    this.add(this.decoder.write(buf));
  }
  end(): string {
    this.add(this.decoder.end());
    return this.text;
  }
  private add(s: string): void {
    if (!s) return;
    this.text += s;
    if (this.text.length > this.max) this.text = this.text.slice(this.text.length - this.max);
    this.on?.(s);
  }
}

interface SpawnSpec {
  args: string[];
  remote?: string;
  stdin: { kind: 'keepalive'; data?: Buffer } | { kind: 'file'; path: string } | { kind: 'buffer'; data: Buffer } | { kind: 'none' };
  timeoutMs?: number;
  signal?: AbortSignal;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  maxBuffer?: number;
  sudo: boolean;
  /** Classify failures (off for the fingerprint probe, which is expected to fail). */
  classify: boolean;
}

export class SshTarget {
  readonly config: Readonly<SshTargetConfig>;
  /** Identity for the per-target lock: same destination, port and config file share one. */
  readonly key: string;
  private readonly dest: ParsedDestination;

  constructor(config: SshTargetConfig) {
    this.dest = parseDestination(config.destination);
    this.config = { ...config };
    buildSshArgs(this.config); // validate options now, not at the first command
    if (this.multiplexed) ensurePrivateDir(targetControlDir(this.config));
    this.key = JSON.stringify([this.dest.target, config.port ?? this.dest.port ?? null, config.configFile ?? null]);
  }

  get destination(): string {
    return this.config.destination;
  }

  get sudoMode(): boolean {
    return this.config.sudo === 'sudo';
  }

  /**
   * Run argv on the target. Resolves with the remote exit code (non-zero is not an error
   * here; see runChecked). Rejects with SshError for ssh/sudo failures, timeout and cancel;
   * both kill the local ssh and, through the remote wrapper, the remote process group.
   */
  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const input = opts.input === undefined ? undefined : Buffer.isBuffer(opts.input) ? opts.input : Buffer.from(opts.input, 'utf8');
    const sudo = this.sudoMode && opts.privileged !== false;
    const remote = remoteRunCommand(argv, { sudo, inputBytes: input?.length ?? 0 });
    return this.spawnSsh({
      args: buildSshArgs(this.config),
      remote,
      stdin: { kind: 'keepalive', data: input },
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      onStdout: opts.onStdout,
      onStderr: opts.onStderr,
      maxBuffer: opts.maxBuffer,
      sudo,
      classify: true,
    });
  }

  /** run(), and a non-zero exit becomes SshError('remote-failed') with the exit code and stderr tail. */
  async runChecked(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(argv, opts);
    if (r.code !== 0) {
      const t = tail(r.stderr, 8);
      const shown = argv.join(' ').replace(/\s+/g, ' ');
      const cmd = shown.length > 120 ? `${shown.slice(0, 117)}...` : shown;
      throw new SshError('remote-failed', `\`${cmd}\` failed on ${this.destination} with exit code ${r.code}${t ? `:\n${t}` : '.'}`, {
        destination: this.destination,
        exitCode: r.code,
        stderrTail: t,
        stdout: r.stdout,
        stderr: r.stderr,
      });
    }
    return r;
  }

  /** Copy a local file or a buffer to remotePath (atomically: temp file, size check, rename). */
  async upload(source: string | Buffer, remotePath: string, opts: UploadOptions = {}): Promise<{ bytes: number }> {
    assertRemotePath(remotePath);
    let bytes: number;
    let stdin: SpawnSpec['stdin'];
    if (Buffer.isBuffer(source)) {
      bytes = source.length;
      stdin = { kind: 'buffer', data: source };
    } else {
      const st = await fs.promises.stat(source).catch((e: NodeJS.ErrnoException) => {
        throw new SshError('invalid-argument', `Cannot read ${source}: ${e.code ?? e.message}`);
      });
      if (!st.isFile()) throw new SshError('invalid-argument', `${source} is not a file.`);
      bytes = st.size;
      stdin = { kind: 'file', path: source };
    }
    if (opts.mode !== undefined && (!Number.isInteger(opts.mode) || opts.mode < 0 || opts.mode > 0o7777)) {
      throw new SshError('invalid-argument', `Bad file mode ${opts.mode}.`);
    }
    const sudo = this.sudoMode && opts.privileged !== false;
    const remote = shJoin([
      ...remotePrefix(sudo), 'sh', '-c', UPLOAD_SCRIPT, 'klp-upload',
      remotePath, String(bytes), opts.mode === undefined ? '' : opts.mode.toString(8), opts.mkdirs ? '1' : '0',
    ]);
    const r = await this.spawnSsh({ args: buildSshArgs(this.config), remote, stdin, timeoutMs: opts.timeoutMs, signal: opts.signal, sudo, classify: true });
    if (r.code !== 0) {
      throw new SshError('remote-failed', `Upload to ${this.destination}:${remotePath} failed (exit ${r.code}): ${tail(r.stderr, 4) || 'no message'}`, {
        destination: this.destination,
        exitCode: r.code,
        stderrTail: tail(r.stderr),
        stderr: r.stderr,
      });
    }
    return { bytes };
  }

  /** Connect and read `uname -r` (through sudo in sudo mode, so that is checked too). */
  async check(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<CheckResult> {
    const t0 = Date.now();
    const r = await this.runChecked(['sh', '-c', 'uname -r; id -u'], opts);
    const [release, uid] = r.stdout.trim().split('\n');
    return { kernelRelease: (release ?? '').trim(), uid: Number(uid), latencyMs: Date.now() - t0 };
  }

  /** `ssh -G`: the user, host name and port the config resolves the destination to. */
  async resolve(): Promise<{ user?: string; hostname?: string; port?: number }> {
    const r = await this.spawnSsh({ args: ['-G', ...buildSshArgs(this.config)], stdin: { kind: 'none' }, sudo: false, classify: false, timeoutMs: 10_000 });
    const get = (k: string): string | undefined => new RegExp(`^${k} (.*)$`, 'm').exec(r.stdout)?.[1];
    const port = get('port');
    return { user: get('user'), hostname: get('hostname'), port: port ? Number(port) : undefined };
  }

  /**
   * Serialise actions on this target: fn runs only when no other action holds the target.
   * By default a second action is refused at once (SshError 'busy', naming the running
   * one), so a click never queues silently behind a long build; `wait: true` queues it
   * instead. Plain run() calls (state refresh) do not take the lock.
   */
  async exclusive<T>(label: string, fn: () => Promise<T>, opts: { wait?: boolean; signal?: AbortSignal } = {}): Promise<T> {
    const release = await acquire(this.key, label, opts.wait ?? false, opts.signal, this.destination);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** The action holding this target, if any. */
  get runningAction(): string | undefined {
    return holders.get(this.key)?.label;
  }

  /** Stop the multiplexing master, if one runs (on deactivate). Never throws. */
  async closeMaster(): Promise<void> {
    if (!this.config.controlDir || (this.config.platform ?? process.platform) === 'win32') return;
    await this.spawnSsh({ args: buildSshArgs(this.config, { controlCommand: 'exit' }), stdin: { kind: 'none' }, sudo: false, classify: false, timeoutMs: 5000 }).catch(() => undefined);
  }

  /** ControlMaster multiplexing is in use for this target. */
  private get multiplexed(): boolean {
    return !!this.config.controlDir && (this.config.platform ?? process.platform) !== 'win32';
  }

  /** `ssh -O check`: is the multiplexing master for this target running? */
  private async masterAlive(): Promise<boolean> {
    const r = await this.spawnSsh({ args: buildSshArgs(this.config, { controlCommand: 'check' }), stdin: { kind: 'none' }, sudo: false, classify: false, timeoutMs: 5000 }).catch(() => null);
    return !!r && r.code === 0;
  }

  /** Ask ssh, verbosely and without the master, which host key the server presents. */
  private async probeFingerprint(): Promise<{ keyType?: string; fingerprint?: string }> {
    try {
      const r = await this.spawnSsh({
        args: buildSshArgs(this.config, { noMultiplex: true, verbose: true }),
        remote: 'true',
        stdin: { kind: 'none' },
        sudo: false,
        classify: false,
        timeoutMs: ((this.config.connectTimeout ?? 10) + 5) * 1000,
      });
      const m = /Server host key: (\S+) ((?:SHA256|MD5):\S+)/.exec(r.sshLog);
      return m ? { keyType: m[1].replace(/^ssh-/, '').toUpperCase(), fingerprint: m[2] } : {};
    } catch {
      return {};
    }
  }

  private spawnSsh(spec: SpawnSpec): Promise<RunResult & { sshLog: string }> {
    const sshPath = this.config.sshPath || 'ssh';
    // ssh's own messages go to a file of their own (-E), so the remote command's stderr is
    // never mistaken for them, and they never end up in what the command printed.
    const logFile = sshLogFile();
    const args = logFile ? ['-E', logFile, ...spec.args] : spec.args;
    const argv = spec.remote === undefined ? args : [...args, spec.remote];
    const readLog = (): string => {
      if (!logFile) return '';
      try {
        return fs.readFileSync(logFile, 'utf8');
      } catch {
        return '';
      } finally {
        fs.rmSync(logFile, { force: true });
      }
    };
    const t0 = Date.now();
    if (spec.signal?.aborted) return Promise.reject(new SshError('cancelled', `Cancelled before connecting to ${this.destination}.`, { destination: this.destination }));
    return new Promise<RunResult & { sshLog: string }>((resolve, reject) => {
      const child = spawn(sshPath, argv, { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true, shell: false });
      const max = spec.maxBuffer ?? DEFAULT_MAX_BUFFER;
      const out = new Collector(max, spec.onStdout);
      const err = new Collector(max, spec.onStderr);
      let ended: 'cancelled' | 'timeout' | undefined;
      let spawnError: NodeJS.ErrnoException | undefined;
      let localError: string | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (why: 'cancelled' | 'timeout'): void => {
        if (ended) return;
        ended = why;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
        killTimer.unref();
      };
      const onAbort = (): void => stop('cancelled');
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      const timer = spec.timeoutMs ? setTimeout(() => stop('timeout'), spec.timeoutMs) : undefined;

      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.stdin.on('error', () => undefined); // EPIPE when ssh exits first: its exit status tells the story
      child.on('error', (e: NodeJS.ErrnoException) => {
        spawnError = e;
      });
      switch (spec.stdin.kind) {
        case 'keepalive':
          // Never end(): EOF on the remote side is the "connection gone" signal.
          if (spec.stdin.data?.length) child.stdin.write(spec.stdin.data);
          break;
        case 'buffer':
          child.stdin.end(spec.stdin.data);
          break;
        case 'file': {
          const rs = fs.createReadStream(spec.stdin.path);
          rs.on('error', (e) => {
            localError = e.message;
            stop('cancelled');
          });
          rs.pipe(child.stdin);
          break;
        }
        case 'none':
          child.stdin.end();
          break;
      }

      // A multiplexing client hands its stdio to the master, which keeps the pipes open as
      // long as the remote channel lives: after our ssh exits, give output a moment to
      // drain, then stop waiting for EOF so a stuck remote can never hang us.
      let drainTimer: NodeJS.Timeout | undefined;
      child.on('exit', () => {
        // setImmediate: after a stall (a starved CPU) the timer fires before the poll phase
        // has read what already sits in the pipes; let one poll phase run first.
        drainTimer = setTimeout(() => setImmediate(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }), ended ? 300 : 2000);
        drainTimer.unref();
      });
      child.on('close', (code, sig) => {
        if (timer) clearTimeout(timer);
        if (killTimer) clearTimeout(killTimer);
        if (drainTimer) clearTimeout(drainTimer);
        child.stdin.destroy();
        spec.signal?.removeEventListener('abort', onAbort);
        const stdout = out.end();
        const stderr = err.end();
        // Without -E (no temp dir), ssh's messages are on stderr as they always were.
        const sshLog = logFile ? readLog() : stderr;
        const durationMs = Date.now() - t0;
        const detail: SshErrorDetail = { destination: this.destination, stdout, stderr, stderrTail: tail(stderr), sshLog: tail(sshLog) };
        if (spawnError) {
          if (spawnError.code === 'ENOENT') {
            reject(new SshError('ssh-missing', `The OpenSSH client "${sshPath}" was not found. Install OpenSSH (openssh-client) or set livepatch.ssh.path.`, detail));
          } else reject(new SshError('ssh-failed', `Could not run ${sshPath}: ${spawnError.message}`, detail));
          return;
        }
        if (localError) {
          reject(new SshError('invalid-argument', `Reading the local file failed: ${localError}`, detail));
          return;
        }
        if (ended === 'cancelled') {
          reject(new SshError('cancelled', `Cancelled; the command on ${this.destination} was stopped.`, detail));
          return;
        }
        if (ended === 'timeout') {
          reject(new SshError('timeout', `No result from ${this.destination} within ${Math.round((spec.timeoutMs ?? 0) / 100) / 10} s; the command was stopped.`, detail));
          return;
        }
        const exit = code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : -1);
        if (spec.classify) {
          const e = classifyFailure(stderr, exit, { destination: this.destination, sudo: spec.sudo, terminalCommand: terminalSshCommand(this.config), sshLog });
          if (e) {
            if (e.kind === 'host-key-unknown' || (e.kind === 'host-key-changed' && !e.detail.fingerprint)) {
              void this.probeFingerprint().then((fp) => {
                if (fp.fingerprint) {
                  Object.assign(e.detail, fp);
                  e.message = e.message.replace(/^(\S+ is not in known_hosts)/, `$1 (it presents ${fp.keyType} ${fp.fingerprint})`);
                  if (e.kind === 'host-key-changed') e.message += ` It now presents ${fp.keyType} ${fp.fingerprint}.`;
                }
                reject(e);
              });
            } else reject(e);
            return;
          }
          if (exit === 255 && !sshLog.trim() && this.multiplexed) {
            // A multiplexing client whose master died (the link dropped, the VM went away)
            // exits 255 without a word. Ask the master: if it is gone, say what happened;
            // if it is up, the 255 was the remote command's own.
            void this.masterAlive().then((alive) => {
              if (alive) resolve({ code: exit, stdout, stderr, durationMs, sshLog });
              else reject(new SshError('connection-lost', `The connection to ${this.destination} was lost: the shared ssh connection closed before the command finished. Is the VM still up?`, { ...detail, exitCode: exit }));
            });
            return;
          }
        }
        resolve({ code: exit, stdout, stderr, durationMs, sshLog });
      });
    });
  }
}

// ---------------------------------------------------------------------------
// ControlPath directory

// sun_path is 108 bytes on Linux, 104 on macOS; we add "/<12 hex>" per target, ssh adds
// "/<40 hex>" and, while creating the socket, a ".<16 random>" suffix.
const CONTROL_SUBDIR_CHARS = 12;
const SOCKET_PATH_BUDGET = 100 - 1 - CONTROL_SUBDIR_CHARS - 1 - 40 - 17;

/** Create dir (0700) or accept it if it is already a directory of ours; tighten its mode. */
function ensurePrivateDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) return false;
    if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
    return true;
  } catch {
    return false;
  }
}

let logDir: string | null | undefined;
let logSeq = 0;

/** A fresh path for one ssh call's -E log, in a private directory removed at exit (null: none). */
function sshLogFile(): string | null {
  if (logDir === undefined) {
    try {
      logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-sshlog-'));
      fs.chmodSync(logDir, 0o700);
      const dir = logDir;
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    } catch {
      logDir = null;
    }
  }
  return logDir === null ? null : path.join(logDir, `${process.pid}-${++logSeq}.log`);
}

/**
 * A private (0700, ours) directory for ControlPath sockets, or undefined on Windows.
 * `preferred` (e.g. the extension's global storage) is used when its path is short
 * enough for a Unix socket; otherwise a fresh private directory under the temp dir.
 */
export function prepareControlDir(preferred?: string, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined;
  if (preferred && Buffer.byteLength(preferred) <= SOCKET_PATH_BUDGET && ensurePrivateDir(preferred)) return preferred;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-ssh-'));
  fs.chmodSync(dir, 0o700);
  return dir;
}
