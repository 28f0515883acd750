import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
// describe from testing/nodeTest: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../../testing/nodeTest';
import { prepareControlDir, SshError, SshTarget, targetControlDir, type SshErrorKind } from '.';
import { freePort, startSshd, sshdUnavailable, TEST_USER, type TestSshd } from '../../../../testing/sshd';
import { tempDir } from '../../../../testing/tempDir';

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

test('a missing ssh binary is a clear error', async () => {
  const t = new SshTarget({ destination: 'vm', sshPath: '/nonexistent/klp/ssh' });
  const e = await rejectsWith(t.run(['true']), 'ssh-missing');
  assert.match(e.message, /livepatch\.ssh\.path/);
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

    test("a remote command that prints an ssh-like error and exits 255 keeps its own result; ssh's messages stay out of stderr", async () => {
      const r = await target.run(['sh', '-c', 'echo "Permission denied (publickey)." >&2; exit 255']);
      assert.deepEqual([r.code, r.stderr], [255, 'Permission denied (publickey).\n']);
      const plain = new SshTarget(sshd.target());
      const r2 = await plain.run(['sh', '-c', 'echo "ssh: connect to host vm port 22: Connection refused" >&2; exit 255']);
      assert.equal(r2.code, 255);
      // And a real ssh failure: the message is in the log part, the remote stderr is empty.
      const closed = await freePort();
      const e = await rejectsWith(
        new SshTarget(sshd.target({ destination: `${TEST_USER}@127.0.0.1:${closed}` })).run(['true']),
        'connection-refused',
      );
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
        assert.equal(
          createHash('sha256')
            .update(fs.readFileSync(`${dir}/blob.bin`))
            .digest('hex'),
          createHash('sha256').update(blob).digest('hex'),
        );
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
        while (!fs.readdirSync(dir).some((f) => f.includes('.klp-upload.')) && Date.now() - t0 < 20_000)
          await new Promise((r) => setTimeout(r, 20));
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
      await rejectsWith(
        new SshTarget(sshd.target({ knownHostsFile: kh, strictHostKeyChecking: 'accept-new' })).run(['true']),
        'host-key-changed',
      );
    });

    test('unknown host key: refused by default with the fingerprint; accept-new only when opted in', async () => {
      const kh = sshd.writeKnownHosts('known_hosts_empty', null);
      const e = await rejectsWith(new SshTarget(sshd.target({ knownHostsFile: kh })).run(['true']), 'host-key-unknown');
      const real = execFileSync('ssh-keygen', ['-lf', sshd.hostKey.publicKey], { encoding: 'utf8' }).split(' ')[1];
      assert.equal(e.detail.fingerprint, real);
      assert.ok(e.message.includes(real) && e.message.includes(e.detail.terminalCommand!), e.message);
      assert.equal(
        e.detail.terminalCommand,
        `ssh -F /dev/null -p ${sshd.port} -i ${sshd.userKey.privateKey} -o UserKnownHostsFile=${kh} ${TEST_USER}@127.0.0.1`,
      );
      assert.equal(fs.readFileSync(kh, 'utf8'), '', 'nothing was added to known_hosts');
      const tofu = new SshTarget(sshd.target({ knownHostsFile: kh, strictHostKeyChecking: 'accept-new' }));
      assert.equal((await tofu.run(['echo', 'ok'])).stdout, 'ok\n');
      assert.match(fs.readFileSync(kh, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
    });

    test('connection refused, DNS failure, connect timeout', async () => {
      const closed = await freePort();
      const refused = await rejectsWith(
        new SshTarget(sshd.target({ destination: `${TEST_USER}@127.0.0.1:${closed}` })).run(['true']),
        'connection-refused',
      );
      assert.match(refused.message, new RegExp(`port ${closed}`));
      const dns = await rejectsWith(
        new SshTarget({ destination: 'nonexistent.invalid', configFile: '/dev/null', connectTimeout: 5 }).run(['true']),
        'dns',
      );
      assert.match(dns.message, /nonexistent\.invalid/);
      // A listener that accepts and never speaks: ssh gives up after ConnectTimeout.
      const sockets: net.Socket[] = [];
      const mute = net.createServer((s) => sockets.push(s));
      await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
      try {
        const port = (mute.address() as net.AddressInfo).port;
        const t0 = Date.now();
        await rejectsWith(
          new SshTarget(sshd.target({ destination: `${TEST_USER}@127.0.0.1:${port}`, connectTimeout: 1 })).run(['true']),
          'connect-timeout',
        );
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

  test("a target with a stricter known_hosts never rides on another target's master to the same host, port and user", async () => {
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
