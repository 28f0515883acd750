// Test support: a real OpenSSH server on 127.0.0.1 with a random port, fresh host and user
// keys, an authorized_keys and a known_hosts, running in the foreground (sshd -D -e) as
// root and stopped by the test. Debian packages: openssh-server, openssh-client, sudo.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { SshTargetConfig } from '../client/src/remote/ssh';

const run = promisify(execFile);

export const SSHD_PATH = '/usr/sbin/sshd';
/** A non-root login whose shell is /bin/sh (dash on Debian) and that has no sudo rights. */
export const TEST_USER = 'klp-ssh-test';

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  /** One line of the .pub file. */
  publicLine: string;
}

export interface TestSshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dir: string;
  readonly hostKey: KeyPair;
  /** Key in authorized_keys (for root and TEST_USER). */
  readonly userKey: KeyPair;
  /** known_hosts that lists this server's real host key. */
  readonly knownHosts: string;
  /** `user@127.0.0.1:port`. */
  destination(user?: string): string;
  /** A target config for this server: isolated from ~/.ssh/config, keys and known_hosts from the temp dir. */
  target(overrides?: Partial<SshTargetConfig> & { user?: string }): SshTargetConfig;
  /** Write a known_hosts file that maps this server's host:port to `publicLine` (another key: "host key changed"). */
  writeKnownHosts(name: string, publicLine: string | null): string;
  /**
   * Write an ssh_config file that defines `alias` for this server (the test user, its key,
   * this known_hosts), as a user's ~/.ssh/config would: for code that takes an alias.
   */
  writeSshConfig(file: string, alias: string): string;
  /** Generate a new key pair in the temp dir. */
  newKey(name: string): Promise<KeyPair>;
  log(): string;
  /**
   * The server goes away abruptly, as when the VM dies: SIGKILL sshd and every
   * per-connection sshd process (their clients see the TCP connection drop). The
   * config, keys and port stay, so restart() brings the same server back.
   */
  crash(): Promise<void>;
  /** Start sshd again on the same port with the same host key (after crash()). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Why sshd tests cannot run here, or undefined when they can. */
export function sshdUnavailable(): string | undefined {
  // CI sets KLP_REQUIRE_SSHD=1: there a missing sshd must fail the tests, not skip them.
  if (process.env.KLP_REQUIRE_SSHD) return undefined;
  if (!fs.existsSync(SSHD_PATH)) return `no sshd at ${SSHD_PATH}: apt-get install openssh-server openssh-client sudo`;
  if (process.getuid?.() !== 0) return 'not root: the sshd tests start sshd and a test user, so run them as root (CI does)';
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function generateKey(file: string, comment = 'klp-test'): Promise<KeyPair> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  const publicLine = fs.readFileSync(`${file}.pub`, 'utf8').trim();
  return { privateKey: file, publicKey: `${file}.pub`, publicLine };
}

async function retry<T>(fn: () => Promise<T>): Promise<T> {
  // Test files run in parallel processes; useradd/usermod fail while another holds /etc/passwd's lock.
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

/** Create TEST_USER once (shell /bin/sh, unlocked for key logins, no password, no sudoers entry). */
export async function ensureTestUser(): Promise<void> {
  const exists = async (): Promise<boolean> =>
    run('id', ['-u', TEST_USER]).then(
      () => true,
      () => false,
    );
  if (!(await exists())) {
    await retry(async () => {
      if (!(await exists())) await run('useradd', ['-m', '-s', '/bin/sh', TEST_USER]);
    });
  }
  // '!' (locked) makes sshd refuse even key logins when UsePAM is off; '*' means "no password".
  const shadow = (await run('getent', ['shadow', TEST_USER])).stdout.split(':')[1] ?? '';
  if (shadow !== '*') await retry(() => run('usermod', ['-p', '*', TEST_USER]));
}

/**
 * Make `dir` the test login's own, writable by no one else (0755): the deploy code refuses
 * to build in a work directory that another user owns or that others can write.
 */
export async function giveToTestUser(dir: string): Promise<void> {
  // The user may not exist yet: on a fresh machine the first sshd test file creates it, and
  // test files run in parallel, in no set order.
  await ensureTestUser();
  const uid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', TEST_USER], { encoding: 'utf8' }).trim());
  fs.chownSync(dir, uid, gid);
  fs.chmodSync(dir, 0o755);
}

/** One NAME=value word of an sshd_config SetEnv line (double-quoted when it has spaces). */
function setEnvWord(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || /["\\\n]/.test(value)) throw new Error(`cannot pass ${name} through sshd's SetEnv`);
  return /\s/.test(value) ? `"${name}=${value}"` : `${name}=${value}`;
}

/** Pids whose parent is `ppid`, from /proc. */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the ")" that ends comm: state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** pid's descendants whose comm is `comm` (sshd's per-connection [priv] and user@notty processes). */
function descendantsNamed(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) {
    let name = '';
    try {
      name = fs.readFileSync(`/proc/${c}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (name !== comm) continue;
    out.push(c, ...descendantsNamed(c, comm));
  }
  return out;
}

function safeKill(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export interface SshdOptions {
  /**
   * Extra environment for every session (sshd's SetEnv, applied after sshd's own PATH, so a
   * PATH here wins). E.g. a directory of stand-in commands first on PATH.
   */
  env?: Record<string, string>;
  /** Listen on this port (default: a free one). */
  port?: number;
  /** ClientAliveInterval/ClientAliveCountMax: drop a client that stops answering (default: never). */
  clientAlive?: { interval: number; countMax: number };
}

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  const why = sshdUnavailable();
  if (why) throw new Error(`cannot start a test sshd: ${why}`);
  await ensureTestUser();
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-sshd-'));
  // The test user's sshd child reads authorized_keys from here.
  fs.chmodSync(dir, 0o755);
  const hostKey = await generateKey(path.join(dir, 'host_ed25519'), 'klp-test-host');
  const userKey = await generateKey(path.join(dir, 'user_ed25519'), 'klp-test-user');
  const authorized = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorized, userKey.publicLine + '\n', { mode: 0o644 });
  const port = options.port ?? (await freePort());
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey.privateKey}`,
      'PidFile none',
      `AuthorizedKeysFile ${authorized}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The temp dir lives under world-writable /tmp.
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxSessions 64',
      'MaxStartups 64',
      // Debian's bash sources ~/.bashrc for ssh commands when SHLVL < 2; keep this
      // machine's own dotfiles out of the test timings.
      // (sshd honours only the first SetEnv line: every variable goes on this one.)
      `SetEnv SHLVL=2${Object.entries(options.env ?? {})
        .map(([k, v]) => ` ${setEnvWord(k, v)}`)
        .join('')}`,
      'LogLevel VERBOSE',
      ...(options.clientAlive
        ? [`ClientAliveInterval ${options.clientAlive.interval}`, `ClientAliveCountMax ${options.clientAlive.countMax}`]
        : []),
      '',
    ].join('\n'),
  );
  const knownHostsLine = (pub: string): string => `[127.0.0.1]:${port} ${pub.split(/\s+/).slice(0, 2).join(' ')}\n`;
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, knownHostsLine(hostKey.publicLine));

  let logText = '';
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    const c = spawn(SSHD_PATH, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let own = '';
    c.stderr!.on('data', (b: Buffer) => {
      own += b.toString();
      logText += b.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start within 15 s:\n${own}`)), 15_000);
      const check = (): void => {
        if (own.includes('Server listening on')) {
          clearTimeout(timer);
          resolve();
        }
      };
      c.stderr!.on('data', check);
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited with ${code}:\n${own}`));
      });
    });
  };
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    // Per-connection sshd processes (e.g. a multiplexing master's session) are this
    // sshd's children and outlive it: end them by pid first.
    // SIGKILL (a crash) must reach the unprivileged per-session process too, which holds
    // the TCP connection; the commands they started are left to notice on their own.
    const pids = child.pid === undefined ? [] : signal === 'SIGKILL' ? descendantsNamed(child.pid, 'sshd') : childPids(child.pid);
    for (const pid of pids) safeKill(pid, signal);
    if (alive()) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await gone;
    }
  };
  await launch();

  const self: TestSshd = {
    host: '127.0.0.1',
    port,
    dir,
    hostKey,
    userKey,
    knownHosts,
    destination: (user = TEST_USER) => `${user}@127.0.0.1:${port}`,
    target: (overrides = {}) => {
      const { user, ...rest } = overrides;
      return {
        destination: self.destination(user),
        configFile: '/dev/null',
        identityFile: userKey.privateKey,
        knownHostsFile: knownHosts,
        connectTimeout: 10,
        ...rest,
      };
    },
    writeKnownHosts: (name, publicLine) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, publicLine ? knownHostsLine(publicLine) : '');
      return file;
    },
    writeSshConfig: (file, alias) => {
      fs.writeFileSync(
        file,
        [
          `Host ${alias}`,
          '  HostName 127.0.0.1',
          `  Port ${port}`,
          `  User ${TEST_USER}`,
          `  IdentityFile ${userKey.privateKey}`,
          '  IdentitiesOnly yes',
          `  UserKnownHostsFile ${knownHosts}`,
          '  StrictHostKeyChecking yes',
          '',
        ].join('\n'),
      );
      return file;
    },
    newKey: (name) => generateKey(path.join(dir, name)),
    log: () => logText,
    crash: () => end('SIGKILL'),
    restart: async () => {
      if (alive()) throw new Error('sshd is still running');
      await launch();
    },
    stop: async () => {
      await end('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
