// SshTarget: one test VM over the system OpenSSH client, spawned with argv arrays (users keep
// their ~/.ssh/config: aliases, ProxyJump, agents, certificates, known_hosts). Runs commands
// and uploads inside the wrapper scripts, classifies failures, serialises actions.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { buildSshArgs, parseDestination, terminalSshCommand, type ParsedDestination, type SshTargetConfig } from './argv';
import { ensurePrivateDir, targetControlDir } from './controlDir';
import { SshError, type SshErrorDetail } from './errors';
import { classifyFailure, tail } from './failures';
import { acquire, holderOf } from './mutex';
import { assertRemotePath } from './quote';
import { Collector, DEFAULT_MAX_BUFFER, sshLogFile, type SpawnSpec } from './spawn';
import { remoteRunCommand, remoteUploadCommand } from './wrappers';

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
    const remote = remoteUploadCommand(remotePath, { sudo, bytes, mode: opts.mode, mkdirs: opts.mkdirs });
    const r = await this.spawnSsh({
      args: buildSshArgs(this.config),
      remote,
      stdin,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      sudo,
      classify: true,
    });
    if (r.code !== 0) {
      throw new SshError(
        'remote-failed',
        `Upload to ${this.destination}:${remotePath} failed (exit ${r.code}): ${tail(r.stderr, 4) || 'no message'}`,
        {
          destination: this.destination,
          exitCode: r.code,
          stderrTail: tail(r.stderr),
          stderr: r.stderr,
        },
      );
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
    const r = await this.spawnSsh({
      args: ['-G', ...buildSshArgs(this.config)],
      stdin: { kind: 'none' },
      sudo: false,
      classify: false,
      timeoutMs: 10_000,
    });
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
    return holderOf(this.key);
  }

  /** Stop the multiplexing master, if one runs (on deactivate). Never throws. */
  async closeMaster(): Promise<void> {
    if (!this.config.controlDir || (this.config.platform ?? process.platform) === 'win32') return;
    await this.spawnSsh({
      args: buildSshArgs(this.config, { controlCommand: 'exit' }),
      stdin: { kind: 'none' },
      sudo: false,
      classify: false,
      timeoutMs: 5000,
    }).catch(() => undefined);
  }

  /** ControlMaster multiplexing is in use for this target. */
  private get multiplexed(): boolean {
    return !!this.config.controlDir && (this.config.platform ?? process.platform) !== 'win32';
  }

  /** `ssh -O check`: is the multiplexing master for this target running? */
  private async masterAlive(): Promise<boolean> {
    const r = await this.spawnSsh({
      args: buildSshArgs(this.config, { controlCommand: 'check' }),
      stdin: { kind: 'none' },
      sudo: false,
      classify: false,
      timeoutMs: 5000,
    }).catch(() => null);
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
    if (spec.signal?.aborted)
      return Promise.reject(
        new SshError('cancelled', `Cancelled before connecting to ${this.destination}.`, { destination: this.destination }),
      );
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
        drainTimer = setTimeout(
          () =>
            setImmediate(() => {
              child.stdout.destroy();
              child.stderr.destroy();
            }),
          ended ? 300 : 2000,
        );
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
            reject(
              new SshError(
                'ssh-missing',
                `The OpenSSH client "${sshPath}" was not found. Install OpenSSH (openssh-client) or set livepatch.ssh.path.`,
                detail,
              ),
            );
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
          reject(
            new SshError(
              'timeout',
              `No result from ${this.destination} within ${Math.round((spec.timeoutMs ?? 0) / 100) / 10} s; the command was stopped.`,
              detail,
            ),
          );
          return;
        }
        const exit = code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : -1);
        if (spec.classify) {
          const e = classifyFailure(stderr, exit, {
            destination: this.destination,
            sudo: spec.sudo,
            terminalCommand: terminalSshCommand(this.config),
            sshLog,
          });
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
              else
                reject(
                  new SshError(
                    'connection-lost',
                    `The connection to ${this.destination} was lost: the shared ssh connection closed before the command finished. Is the VM still up?`,
                    { ...detail, exitCode: exit },
                  ),
                );
            });
            return;
          }
        }
        resolve({ code: exit, stdout, stderr, durationMs, sshLog });
      });
    });
  }
}
