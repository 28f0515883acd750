// Test support: a real OpenSSH server on 127.0.0.1 with a random port, fresh host and user
// keys, an authorized_keys and a known_hosts, running in the foreground (sshd -D -e) as
// root and stopped by the test. Debian packages: openssh-server, openssh-client, sudo.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { SshTargetConfig } from '../ssh';

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
  /** Generate a new key pair in the temp dir. */
  newKey(name: string): Promise<KeyPair>;
  log(): string;
  stop(): Promise<void>;
}

/** Why sshd tests cannot run here, or undefined when they can. */
export function sshdUnavailable(): string | undefined {
  // CI sets KLP_REQUIRE_SSHD=1: there a missing sshd must fail the tests, not skip them.
  if (process.env.KLP_REQUIRE_SSHD) return undefined;
  if (!fs.existsSync(SSHD_PATH)) return `${SSHD_PATH} is missing: apt-get install -y openssh-server openssh-client sudo`;
  if (process.getuid?.() !== 0) return 'the sshd tests start sshd and a test user, which needs root';
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
  const exists = async (): Promise<boolean> => run('id', ['-u', TEST_USER]).then(() => true, () => false);
  if (!(await exists())) {
    await retry(async () => {
      if (!(await exists())) await run('useradd', ['-m', '-s', '/bin/sh', TEST_USER]);
    });
  }
  // '!' (locked) makes sshd refuse even key logins when UsePAM is off; '*' means "no password".
  const shadow = (await run('getent', ['shadow', TEST_USER])).stdout.split(':')[1] ?? '';
  if (shadow !== '*') await retry(() => run('usermod', ['-p', '*', TEST_USER]));
}

function childPids(ppid: number): number[] {
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

function safeKill(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

export async function startSshd(): Promise<TestSshd> {
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
  const port = await freePort();
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
      'SetEnv SHLVL=2',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const knownHostsLine = (pub: string): string => `[127.0.0.1]:${port} ${pub.split(/\s+/).slice(0, 2).join(' ')}\n`;
  const knownHosts = path.join(dir, 'known_hosts');
  fs.writeFileSync(knownHosts, knownHostsLine(hostKey.publicLine));

  let logText = '';
  const child: ChildProcess = spawn(SSHD_PATH, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (b: Buffer) => {
    logText += b.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start within 15 s:\n${logText}`)), 15_000);
    const check = (): void => {
      if (logText.includes('Server listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited with ${code}:\n${logText}`));
    });
  });

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
    newKey: (name) => generateKey(path.join(dir, name)),
    log: () => logText,
    stop: async () => {
      // Per-connection sshd processes (e.g. a multiplexing master's session) are this
      // sshd's children and outlive it: end them by pid first.
      if (child.pid !== undefined) for (const pid of childPids(child.pid)) safeKill(pid);
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
