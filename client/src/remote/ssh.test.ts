import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
// describe from test/support: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../test/support/nodeTest';
import {
  classifyFailure,
  configFromSetting,
  assertModuleName,
  assertRemotePath,
  buildSshArgs,
  parseDestination,
  prepareControlDir,
  remoteRunCommand,
  shJoin,
  shQuote,
  SshError,
  SshTarget,
  targetControlDir,
  type SshErrorKind,
} from './ssh';
import { freePort, startSshd, sshdUnavailable, TEST_USER, type TestSshd } from './testing/sshd';
import { tempDir } from '../../../test/support/tempDir';

const NASTY = `it's a "test" $(touch /tmp/klp-pwned) ; rm -rf /nonexistent-klp; \`id\` \\ $HOME *\n\ttab & | > x < y # end`;

async function rejectsWith(p: Promise<unknown>, kind: SshErrorKind): Promise<SshError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SshError, `expected SshError, got ${String(e)}`);
    assert.equal(e.kind, kind, `kind (message: ${e.message})`);
    return e;
  }
  assert.fail(`expected a rejection of kind ${kind}`);
}

/**
 * Local processes whose command line matches the regular expression marker, as `pgrep -f`
 * would (the remote side is this machine). Read from /proc, so a machine without pgrep
 * cannot make "the process is gone" true by finding nothing.
 */
async function processesMatching(marker: string): Promise<string[]> {
  const re = new RegExp(marker);
  const out: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let argv: string;
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    } catch {
      continue; // exited meanwhile
    }
    if (argv && re.test(argv)) out.push(name);
  }
  return out;
}

test('processesMatching sees a running process and stops seeing it once it is gone', async () => {
  const secs = uniqueSleep();
  const child = spawn('sleep', [secs], { stdio: 'ignore' });
  try {
    await waitPresent(`^sleep ${secs}`, 5000);
    assert.deepEqual(await processesMatching(`^sleep ${secs}$`), [String(child.pid)]);
  } finally {
    child.kill('SIGKILL');
  }
  assert.ok((await waitGone(secs, 5000)) >= 0, 'the killed sleep is still listed');
});

async function waitGone(marker: string, ms: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await processesMatching(marker)).length === 0) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
  return -1;
}

/** Wait until the remote command itself runs (anchor the pattern: the local ssh's argv contains it too). */
async function waitPresent(marker: string, ms: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await processesMatching(marker)).some(Boolean)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`remote process ${marker} never started`);
}

const uniqueSleep = (): string => `${9000 + Math.floor(Math.random() * 900)}.${randomBytes(3).readUIntBE(0, 3)}`;

// ---------------------------------------------------------------------------
// Pure parts

test('shQuote: every word survives a real POSIX shell verbatim', () => {
  for (const w of ['', 'plain', 'a b', "it's", NASTY, '-n', '~root', '=x', '%s', 'ünïcødé', "''", '\\']) {
    const out = execFileSync('sh', ['-c', `printf '%s' ${shQuote(w)}`], { encoding: 'utf8' });
    assert.equal(out, w);
  }
  assert.equal(shQuote('/lib/modules/6.1.0/build'), '/lib/modules/6.1.0/build');
  assert.equal(shJoin(['echo', 'a b']), "echo 'a b'");
  assert.throws(() => shQuote('a\0b'), SshError);
});

test('names and paths that reach the remote shell are validated', () => {
  assert.equal(assertModuleName('livepatch-fix_1'), 'livepatch-fix_1');
  for (const bad of ['foo;rm', 'a b', '', '../x', 'x$y', 'a\nb', 'x'.repeat(56)]) assert.throws(() => assertModuleName(bad), /module name/);
  assert.equal(assertRemotePath('/root/work dir/a.patch'), '/root/work dir/a.patch');
  for (const bad of ['', 'a\nb', 'a\0b', '-rf']) assert.throws(() => assertRemotePath(bad), /remote path/);
  assert.throws(() => remoteRunCommand(['echo', 'a\0b'], { sudo: false, inputBytes: 0 }), /NUL/);
});

test('destinations: aliases, user@host:port, IPv6, ssh:// and option injection', () => {
  assert.deepEqual(parseDestination('testvm'), { target: 'testvm', user: undefined, host: 'testvm', port: undefined });
  assert.deepEqual(parseDestination('root@10.0.2.15:2222'), { target: 'root@10.0.2.15', user: 'root', host: '10.0.2.15', port: 2222 });
  assert.deepEqual(parseDestination('ssh://me@vm:22'), { target: 'me@vm', user: 'me', host: 'vm', port: 22 });
  assert.deepEqual(parseDestination('root@[::1]:2200'), { target: 'root@::1', user: 'root', host: '::1', port: 2200 });
  assert.equal(parseDestination('fe80::1').port, undefined);
  for (const bad of ['-oProxyCommand=sh', 'a b', '', 'host:99999', '@host']) assert.throws(() => parseDestination(bad), SshError);
});

test('argv: safe defaults, host keys always verified, multiplexing only off Windows', () => {
  const a = buildSshArgs({ destination: 'root@vm:2222', controlDir: '/tmp/cm dir', identityFile: '/k/id' });
  const opts = a.filter((_, i) => a[i - 1] === '-o');
  const sub = path.basename(targetControlDir({ destination: 'root@vm:2222', controlDir: '/tmp/cm dir', identityFile: '/k/id' }));
  for (const o of ['BatchMode=yes', 'ConnectTimeout=10', 'ServerAliveInterval=15', 'ServerAliveCountMax=3', 'StrictHostKeyChecking=yes', 'ControlMaster=auto', `ControlPath="/tmp/cm dir/${sub}/%C"`, 'IdentitiesOnly=yes']) {
    assert.ok(opts.includes(o), `${o} in ${opts.join(' ')}`);
  }
  assert.deepEqual(a.slice(-2), ['--', 'root@vm']);
  assert.equal(a[a.indexOf('-p') + 1], '2222');
  const win = buildSshArgs({ destination: 'vm', controlDir: '/x', platform: 'win32' });
  assert.ok(win.includes('ControlMaster=no') && win.includes('ControlPath=none'));
  assert.ok(buildSshArgs({ destination: 'vm', strictHostKeyChecking: 'accept-new' }).includes('StrictHostKeyChecking=accept-new'));
  assert.throws(() => buildSshArgs({ destination: 'vm', extraOptions: ['StrictHostKeyChecking=no'] }), /host keys are always verified/);
  assert.throws(() => buildSshArgs({ destination: 'vm', extraOptions: ['UserKnownHostsFile /dev/null'] }), /host keys are always verified/);
  assert.throws(() => buildSshArgs({ destination: 'vm', strictHostKeyChecking: 'no' as 'yes' }), SshError);
  assert.ok(buildSshArgs({ destination: 'vm', knownHostsFile: '/a%b' }).includes('UserKnownHostsFile=/a%%b'));
});

test('targets that differ only in ssh config file, known_hosts or host-key policy get a socket directory each', () => {
  const base = { destination: 'root@vm:2222', controlDir: '/run/cm' };
  const dirs = [
    base,
    { ...base, configFile: '/home/u/.ssh/lab_config' },
    { ...base, strictHostKeyChecking: 'accept-new' as const },
    { ...base, knownHostsFile: '/tmp/kh' },
    { ...base, identityFile: '/k/other' },
  ].map((c) => targetControlDir(c));
  assert.equal(new Set(dirs).size, dirs.length, dirs.join(' '));
  for (const d of dirs) assert.match(d, /^\/run\/cm\/[0-9a-f]{12}$/);
  // The same target always finds its own master again.
  assert.equal(targetControlDir({ ...base }), dirs[0]);
  const args = buildSshArgs({ ...base, configFile: '/home/u/.ssh/lab_config' });
  assert.equal(args[args.indexOf('ControlPath=' + dirs[1] + '/%C')], `ControlPath=${dirs[1]}/%C`);
});

test('exit 255 is judged on ssh\'s own messages (ssh -E), never on what the remote command printed', () => {
  const ctx = { destination: 'vm', sudo: false };
  // The remote command printed something that looks like an ssh failure and exited 255.
  assert.equal(classifyFailure('Permission denied (publickey).\n', 255, { ...ctx, sshLog: '' }), undefined);
  assert.equal(classifyFailure('ssh: connect to host x port 22: Connection refused\n', 255, { ...ctx, sshLog: '' }), undefined);
  // ssh's log says what happened, whatever the remote printed.
  const e = classifyFailure('make: *** Error 2\n', 255, { ...ctx, sshLog: 'Timeout, server vm not responding.\r\n' });
  assert.equal(e?.kind, 'connection-lost');
  assert.ok(!e!.message.includes('make:'), e!.message);
});

test('a livepatch.targets entry maps to a transport config; accept-new only when opted in', () => {
  assert.deepEqual(configFromSetting({ destination: 'testvm' }, { sshPath: '/usr/bin/ssh', controlDir: '/tmp/cm' }), {
    destination: 'testvm',
    sshPath: '/usr/bin/ssh',
    configFile: undefined,
    sudo: 'root',
    strictHostKeyChecking: 'yes',
    controlDir: '/tmp/cm',
    platform: undefined,
  });
  const c = configFromSetting({ destination: 'u@vm:2222', sshConfigFile: '/x/ssh_config', privilege: 'sudo', acceptNewHostKey: true });
  assert.deepEqual([c.configFile, c.sudo, c.strictHostKeyChecking], ['/x/ssh_config', 'sudo', 'accept-new']);
  assert.ok(buildSshArgs(c).includes('/x/ssh_config'));
  // JSON settings get no shell: `~/` is expanded here, a `~user` or a `~` elsewhere is left alone.
  assert.equal(configFromSetting({ destination: 'vm', sshConfigFile: '~/.ssh/lab_config' }).configFile, path.join(os.homedir(), '.ssh/lab_config'));
  assert.equal(configFromSetting({ destination: 'vm', sshConfigFile: '~bob/cfg' }).configFile, '~bob/cfg');
});

test('prepareControlDir: private 0700 dir, short enough for a socket path, none on Windows', () => {
  const base = tempDir('klp-cd-');
  try {
    const short = prepareControlDir(path.join(base, 'cm'));
    assert.equal(short, path.join(base, 'cm'));
    assert.equal(fs.statSync(short!).mode & 0o777, 0o700);
    const long = path.join(base, 'x'.repeat(80));
    const fallback = prepareControlDir(long)!;
    assert.notEqual(fallback, long);
    assert.ok(fallback.length < 50);
    assert.equal(fs.statSync(fallback).mode & 0o777, 0o700);
    fs.rmSync(fallback, { recursive: true, force: true });
    assert.equal(prepareControlDir(path.join(base, 'w'), 'win32'), undefined);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('sudo failures are recognised from their messages; other exits stay the command\'s own', () => {
  const ctx = { destination: 'vm', sudo: true };
  assert.equal(classifyFailure('sudo: a password is required\n', 1, ctx)?.kind, 'sudo-password');
  assert.equal(classifyFailure("env: 'sudo': No such file or directory\n", 127, ctx)?.kind, 'sudo-missing');
  assert.equal(classifyFailure('sudo: a password is required\n', 1, { ...ctx, sudo: false }), undefined);
  assert.equal(classifyFailure('make: *** [all] Error 2\n', 2, ctx), undefined);
  assert.equal(classifyFailure('ssh: connect to host vm port 22: No route to host\r\n', 255, ctx)?.kind, 'unreachable');
  assert.equal(classifyFailure('Timeout, server vm not responding.\r\n', 255, ctx)?.kind, 'connection-lost');
});

test('a missing ssh binary is a clear error', async () => {
  const t = new SshTarget({ destination: 'vm', sshPath: '/nonexistent/klp/ssh' });
  const e = await rejectsWith(t.run(['true']), 'ssh-missing');
  assert.match(e.message, /livepatch\.ssh\.path/);
});

test('per-target lock: a second action is refused by default, queued with wait, and released on failure', async () => {
  const a = new SshTarget({ destination: 'lock-test-host' });
  const b = new SshTarget({ destination: 'lock-test-host' }); // same target, another instance
  let release!: () => void;
  const first = a.exclusive('Build Patch Module', () => new Promise<string>((r) => (release = () => r('built'))));
  await new Promise((r) => setImmediate(r));
  assert.equal(b.runningAction, 'Build Patch Module');
  const busy = await rejectsWith(b.exclusive('Load', async () => 'x'), 'busy');
  assert.match(busy.message, /Build Patch Module/);
  const order: string[] = [];
  const queued = b.exclusive('Load', async () => { order.push('load'); return 'loaded'; }, { wait: true });
  const ac = new AbortController();
  const cancelled = b.exclusive('Unload', async () => 'never', { wait: true, signal: ac.signal });
  ac.abort();
  await rejectsWith(cancelled, 'cancelled');
  order.push('release');
  release();
  assert.equal(await first, 'built');
  assert.equal(await queued, 'loaded');
  assert.deepEqual(order, ['release', 'load']);
  await assert.rejects(a.exclusive('Fail', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(a.runningAction, undefined);
  assert.equal(await new SshTarget({ destination: 'other-host' }).exclusive('x', async () => 1), 1);
});

// ---------------------------------------------------------------------------
// Against a real sshd on 127.0.0.1

// Timeouts: a regression that leaves a remote process behind must fail, not hang CI.
describe('SshTarget against a real sshd', { skip: sshdUnavailable(), timeout: 120_000 }, () => {
  let sshd: TestSshd;
  let controlDir: string;
  let target: SshTarget;

  before(async () => {
    sshd = await startSshd();
    controlDir = prepareControlDir(tempDir('klp-cm-'))!;
    target = new SshTarget(sshd.target({ controlDir }));
    // Start the master before tests share it concurrently (two first connections racing
    // for the ControlPath would make one fall back and warn on stderr).
    await target.run(['true']);
  });
  after(async () => {
    await target?.closeMaster();
    await sshd?.stop();
    if (controlDir) fs.rmSync(controlDir, { recursive: true, force: true });
  });

  describe('independent checks, run concurrently', { concurrency: true, timeout: 90_000 }, () => {
    test('check: connects and reads uname -r', async () => {
      const r = await target.check();
      assert.equal(r.kernelRelease, os.release());
      assert.equal(r.uid, Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' })));
    });

    test('run: exit code, stdout and stderr apart; runChecked turns failure into remote-failed', async () => {
      const r = await target.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
      const e = await rejectsWith(target.runChecked(['sh', '-c', 'echo first >&2; echo "the real reason" >&2; exit 4']), 'remote-failed');
      assert.equal(e.detail.exitCode, 4);
      assert.match(e.message, /exit code 4/);
      assert.match(e.detail.stderrTail ?? '', /the real reason/);
      assert.equal((await target.run(['true'])).code, 0);
    });

    test('a remote command that prints an ssh-like error and exits 255 keeps its own result; ssh\'s messages stay out of stderr', async () => {
      const r = await target.run(['sh', '-c', 'echo "Permission denied (publickey)." >&2; exit 255']);
      assert.deepEqual([r.code, r.stderr], [255, 'Permission denied (publickey).\n']);
      const plain = new SshTarget(sshd.target());
      const r2 = await plain.run(['sh', '-c', 'echo "ssh: connect to host vm port 22: Connection refused" >&2; exit 255']);
      assert.equal(r2.code, 255);
      // And a real ssh failure: the message is in the log part, the remote stderr is empty.
      const closed = await freePort();
      const e = await rejectsWith(new SshTarget(sshd.target({ destination: `${TEST_USER}@127.0.0.1:${closed}` })).run(['true']), 'connection-refused');
      assert.equal(e.detail.stderr, '');
      assert.match(e.detail.sshLog ?? '', /Connection refused/);
    });

    test('streaming: stdout chunks arrive while the command still runs', async () => {
      // The command waits for a file that the test creates only once "one" has arrived:
      // without streaming this would end in the timeout.
      const go = `/tmp/klp-go-${randomBytes(4).toString('hex')}`;
      const chunks: string[] = [];
      try {
        const r = await target.run(['sh', '-c', 'echo one; while [ ! -e "$1" ]; do sleep 0.1; done; echo two', 'sh', go], {
          timeoutMs: 20_000,
          onStdout: (s) => {
            chunks.push(s);
            if (chunks.join('').includes('one\n')) fs.writeFileSync(go, '');
          },
        });
        assert.equal(r.stdout, 'one\ntwo\n');
        assert.equal(chunks[0], 'one\n');
        assert.equal(chunks.join(''), r.stdout);
      } finally {
        fs.rmSync(go, { force: true });
      }
    });

    test('stdin input reaches the command exactly, text and binary', async () => {
      const r = await target.run(['tr', 'a-z', 'A-Z'], { input: 'hello\nworld\n' });
      assert.equal(r.stdout, 'HELLO\nWORLD\n');
      const blob = randomBytes(300_000);
      const h = await target.run(['sha256sum'], { input: blob });
      assert.equal(h.stdout.split(' ')[0], createHash('sha256').update(blob).digest('hex'));
      // No input: stdin is /dev/null, not the keep-alive stream.
      assert.equal((await target.run(['wc', '-c'])).stdout.trim(), '0');
    });

    test('quoting: spaces, quotes, $(), ; and backticks arrive verbatim and nothing runs', async () => {
      fs.rmSync('/tmp/klp-pwned', { force: true });
      const r = await target.run(['printf', '%s', NASTY]);
      assert.equal(r.stdout, NASTY);
      const argv = await target.run(['sh', '-c', 'for a; do printf "[%s]" "$a"; done', 'x', 'a b', '', "c'd", '$(id)']);
      assert.equal(argv.stdout, "[a b][][c'd][$(id)]");
      assert.equal(fs.existsSync('/tmp/klp-pwned'), false);
    });

    test('upload: a file and a buffer, read back, with mode and parent dirs; bad paths refused', async () => {
      const dir = `/tmp/klp-upload-${randomBytes(4).toString('hex')}`;
      fs.mkdirSync(dir, { mode: 0o777 });
      fs.chmodSync(dir, 0o777);
      const local = path.join(os.tmpdir(), `klp-up-${randomBytes(4).toString('hex')}.patch`);
      try {
        const text = '--- a/fs/proc/cmdline.c\n+++ b/fs/proc/cmdline.c\n@@ it\'s "quoted" $(x) @@\n';
        fs.writeFileSync(local, text);
        const remote = `${dir}/sub dir/it's.patch`;
        assert.deepEqual(await target.upload(local, remote, { mkdirs: true, mode: 0o640 }), { bytes: Buffer.byteLength(text) });
        assert.equal((await target.runChecked(['cat', remote])).stdout, text);
        assert.equal(fs.statSync(remote).mode & 0o777, 0o640);
        const blob = randomBytes(2 * 1024 * 1024);
        await target.upload(blob, `${dir}/blob.bin`);
        assert.equal(createHash('sha256').update(fs.readFileSync(`${dir}/blob.bin`)).digest('hex'), createHash('sha256').update(blob).digest('hex'));
        assert.deepEqual(fs.readdirSync(dir).sort(), ['blob.bin', 'sub dir'], 'no temp files left');
        await rejectsWith(target.upload(Buffer.from('x'), '/proc/klp-not-writable/x'), 'remote-failed');
        await assert.rejects(target.upload(Buffer.from('x'), `${dir}/a\nb`), /remote path/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(local, { force: true });
      }
    });

    test('a cancelled upload leaves neither the file nor its temp file behind', async () => {
      const dir = `/tmp/klp-upload-${randomBytes(4).toString('hex')}`;
      fs.mkdirSync(dir, { mode: 0o777 });
      fs.chmodSync(dir, 0o777);
      try {
        const ac = new AbortController();
        const p = target.upload(Buffer.alloc(512 * 1024 * 1024), `${dir}/big.bin`, { signal: ac.signal });
        const t0 = Date.now();
        while (!fs.readdirSync(dir).some((f) => f.includes('.klp-upload.')) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
        assert.ok(fs.readdirSync(dir).length > 0, 'the upload started');
        ac.abort();
        await rejectsWith(p, 'cancelled');
        const t1 = Date.now();
        while (fs.readdirSync(dir).length && Date.now() - t1 < 8000) await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(fs.readdirSync(dir), []);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    test('cancel: the local ssh and the remote process group are gone', async () => {
      const secs = uniqueSleep();
      const ac = new AbortController();
      const p = target.run(['sh', '-c', `sleep ${secs} & sleep ${secs}; wait`], { signal: ac.signal });
      await waitPresent(`^sleep ${secs}`, 10_000);
      const t0 = Date.now();
      ac.abort();
      const e = await rejectsWith(p, 'cancelled');
      assert.match(e.message, /stopped/);
      assert.ok(Date.now() - t0 < 3000, 'cancel returns promptly');
      const gone = await waitGone(secs, 8000);
      assert.ok(gone >= 0, `remote processes still running: ${(await processesMatching(secs)).join(', ')}`);
    });

    test('cancel without multiplexing, and a TERM-ignoring command is killed after the grace period', async () => {
      const direct = new SshTarget(sshd.target());
      const secs = uniqueSleep();
      const ac = new AbortController();
      const p = direct.run(['sh', '-c', `trap '' TERM; sleep ${secs}`], { signal: ac.signal });
      await waitPresent(`^sleep ${secs}`, 10_000);
      ac.abort();
      await rejectsWith(p, 'cancelled');
      const gone = await waitGone(secs, 10_000);
      assert.ok(gone >= 0, `still running: ${(await processesMatching(secs)).join(', ')}`);
      assert.ok(gone >= 2000, `gone after ${gone} ms: the KILL should come only after the TERM grace period`);
    });

    test('cancel while still connecting: the command, if it starts late, does not survive', async () => {
      const secs = uniqueSleep();
      const ac = new AbortController();
      const p = new SshTarget(sshd.target()).run(['sleep', secs], { signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      await rejectsWith(p, 'cancelled');
      // Give a late start its chance to happen, then allow the watcher its cleanup time
      // (seconds when the machine is busy: the master notices the dead client first).
      await new Promise((r) => setTimeout(r, 2000));
      const gone = await waitGone(secs, 10_000);
      assert.ok(gone >= 0, `still running: ${(await processesMatching(secs)).join(', ')}`);
    });

    test('timeout: rejects with timeout and stops the remote command', async () => {
      const secs = uniqueSleep();
      const e = await rejectsWith(target.run(['sleep', secs], { timeoutMs: 1500 }), 'timeout');
      assert.match(e.message, /1\.5 s/);
      assert.ok((await waitGone(secs, 8000)) >= 0, 'remote sleep still running after timeout');
      await rejectsWith(target.run(['true'], { signal: AbortSignal.abort() }), 'cancelled');
    });

    test('host key changed: refused, with the new fingerprint and the ssh-keygen -R hint', async () => {
      const other = await sshd.newKey('other_host_key');
      const kh = sshd.writeKnownHosts('known_hosts_changed', other.publicLine);
      const e = await rejectsWith(new SshTarget(sshd.target({ knownHostsFile: kh })).run(['true']), 'host-key-changed');
      const real = execFileSync('ssh-keygen', ['-lf', sshd.hostKey.publicKey], { encoding: 'utf8' }).split(' ')[1];
      assert.equal(e.detail.fingerprint, real);
      assert.ok(e.message.includes(real), e.message);
      assert.match(e.message, /ssh-keygen -f .* -R /);
      assert.match(e.detail.terminalCommand ?? '', /^ssh-keygen -f/);
      assert.equal(e.detail.knownHostsEntry, `${kh}:1`);
      // accept-new does not accept a changed key either.
      await rejectsWith(new SshTarget(sshd.target({ knownHostsFile: kh, strictHostKeyChecking: 'accept-new' })).run(['true']), 'host-key-changed');
    });

    test('unknown host key: refused by default with the fingerprint; accept-new only when opted in', async () => {
      const kh = sshd.writeKnownHosts('known_hosts_empty', null);
      const e = await rejectsWith(new SshTarget(sshd.target({ knownHostsFile: kh })).run(['true']), 'host-key-unknown');
      const real = execFileSync('ssh-keygen', ['-lf', sshd.hostKey.publicKey], { encoding: 'utf8' }).split(' ')[1];
      assert.equal(e.detail.fingerprint, real);
      assert.ok(e.message.includes(real) && e.message.includes(e.detail.terminalCommand!), e.message);
      assert.equal(e.detail.terminalCommand, `ssh -F /dev/null -p ${sshd.port} -i ${sshd.userKey.privateKey} -o UserKnownHostsFile=${kh} ${TEST_USER}@127.0.0.1`);
      assert.equal(fs.readFileSync(kh, 'utf8'), '', 'nothing was added to known_hosts');
      const tofu = new SshTarget(sshd.target({ knownHostsFile: kh, strictHostKeyChecking: 'accept-new' }));
      assert.equal((await tofu.run(['echo', 'ok'])).stdout, 'ok\n');
      assert.match(fs.readFileSync(kh, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
    });

    test('connection refused, DNS failure, connect timeout', async () => {
      const closed = await freePort();
      const refused = await rejectsWith(new SshTarget(sshd.target({ destination: `${TEST_USER}@127.0.0.1:${closed}` })).run(['true']), 'connection-refused');
      assert.match(refused.message, new RegExp(`port ${closed}`));
      const dns = await rejectsWith(new SshTarget({ destination: 'nonexistent.invalid', configFile: '/dev/null', connectTimeout: 5 }).run(['true']), 'dns');
      assert.match(dns.message, /nonexistent\.invalid/);
      // A listener that accepts and never speaks: ssh gives up after ConnectTimeout.
      const sockets: net.Socket[] = [];
      const mute = net.createServer((s) => sockets.push(s));
      await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
      try {
        const port = (mute.address() as net.AddressInfo).port;
        const t0 = Date.now();
        await rejectsWith(new SshTarget(sshd.target({ destination: `${TEST_USER}@127.0.0.1:${port}`, connectTimeout: 1 })).run(['true']), 'connect-timeout');
        assert.ok(Date.now() - t0 < 8000);
      } finally {
        for (const s of sockets) s.destroy();
        mute.close();
      }
    });

    test('permission denied: a key the server does not know', async () => {
      const stranger = await sshd.newKey('stranger_key');
      const e = await rejectsWith(new SshTarget(sshd.target({ identityFile: stranger.privateKey })).run(['true']), 'permission-denied');
      assert.match(e.message, /publickey/);
    });

    test('sudo -n for a user without sudo rights: a typed error that says what to configure', async () => {
      const t = new SshTarget(sshd.target({ sudo: 'sudo' }));
      const e = await rejectsWith(t.run(['id', '-u']), 'sudo-password');
      assert.match(e.message, /NOPASSWD|root/);
      // privileged: false runs as the login user, without sudo.
      assert.equal((await t.run(['id', '-un'], { privileged: false })).stdout.trim(), TEST_USER);
    });

    test('sudo mode as root: commands run through sudo -n, and cancel still kills them', async () => {
      const t = new SshTarget(sshd.target({ user: 'root', sudo: 'sudo' }));
      const r = await t.runChecked(['sh', '-c', 'echo "$SUDO_USER $(id -u)"']);
      assert.equal(r.stdout.trim(), 'root 0');
      const secs = uniqueSleep();
      const ac = new AbortController();
      const p = t.run(['sleep', secs], { signal: ac.signal });
      await waitPresent(`^sleep ${secs}`, 10_000);
      ac.abort();
      await rejectsWith(p, 'cancelled');
      assert.ok((await waitGone(secs, 8000)) >= 0, `still running under sudo: ${(await processesMatching(secs)).join(', ')}`);
    });

    test('resolve: ssh -G shows what the destination resolves to', async () => {
      const r = await target.resolve();
      assert.deepEqual(r, { user: TEST_USER, hostname: '127.0.0.1', port: sshd.port });
    });

  });

  test('a target with a stricter known_hosts never rides on another target\'s master to the same host, port and user', async () => {
    // Same user@host:port as `target`, whose master is up: only the known_hosts differs.
    const other = await sshd.newKey('impostor_host_key');
    const kh = sshd.writeKnownHosts('known_hosts_other_target', other.publicLine);
    const strict = new SshTarget(sshd.target({ controlDir, knownHostsFile: kh }));
    await rejectsWith(strict.run(['true']), 'host-key-changed');
    assert.equal(fs.readdirSync(controlDir).length, 2, 'a socket directory per target');
  });

  test('an upload never writes through a symlink planted at a temp name it might use', async () => {
    // The old temp name was "<path>.klp-upload.<pid of the remote shell>": plant a symlink
    // to a victim file at that name for each of the next few thousand pids.
    const dir = tempDir('klp-upload-plant-');
    fs.chmodSync(dir, 0o777);
    const victimDir = tempDir('klp-upload-victim-');
    fs.chmodSync(victimDir, 0o755);
    const victim = path.join(victimDir, 'victim');
    fs.writeFileSync(victim, 'untouched\n', { mode: 0o666 });
    fs.chmodSync(victim, 0o666);
    const dest = path.join(dir, 'm.ko');
    const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    let pid = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
    for (let i = 0; i < 3000; i++) {
      pid = pid + 1 >= max ? 300 : pid + 1;
      fs.symlinkSync(victim, `${dest}.klp-upload.${pid}`);
    }
    await target.upload(Buffer.from('the module\n'), dest);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched\n');
    assert.ok(fs.lstatSync(dest).isFile(), 'the upload is a regular file, not a symlink');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'the module\n');
  });

  test('multiplexing: the master makes later commands reuse one connection', async () => {
    await target.run(['true']);
    const sock = fs.readdirSync(targetControlDir(target.config));
    assert.equal(sock.length, 1, 'one control socket');
    assert.match(sock[0], /^[0-9a-f]{40}$/);
    const before = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    for (let i = 0; i < 3; i++) await target.run(['true']);
    assert.equal((sshd.log().match(/Accepted publickey/g) ?? []).length, before, 'no new logins over the master');
  });
});
