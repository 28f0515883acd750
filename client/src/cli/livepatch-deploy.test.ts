// livepatch-deploy end to end against the loopback sshd and the stand-in kernel: the shipped
// bundle (dist/livepatch-deploy.js, built by npm test) checks, generates, "builds" (the
// stand-in make reads the generated klp tables), loads, verifies and unloads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// describe from testing/nodeTest: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../testing/nodeTest';
import { tempDir } from '../../../testing/tempDir';
import { decodeTaint, type LivepatchState } from '../remote/state';
import { chmodTree, installFakeKernelTools } from '../../../testing/fakeKernel';
import { giveToTestUser, startSshd, sshdUnavailable, TEST_USER, type TestSshd } from '../../../testing/sshd';
import { verifyLoaded } from './livepatch-deploy';

const ROOT = path.join(__dirname, '..', '..', '..');

function readCmdline(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function readComm(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
const CLI = path.join(ROOT, 'dist', 'livepatch-deploy.js');
const TREE = path.join(ROOT, 'test', 'vscode', 'fixture', 'tree');
const CLEAN = path.join(__dirname, 'fixtures', 'ring-push-enobufs.patch');
const UNSAFE = path.join(ROOT, 'test', 'vscode', 'fixture', 'ring-drops.patch');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('livepatch-deploy against a real sshd and the stand-in kernel', { skip: sshdUnavailable(), timeout: 120_000 }, () => {
  let sshd: TestSshd;
  let fx: string;
  let target: string[];
  const sys = (): string => path.join(fx, 'sys');

  before(async () => {
    fx = tempDir('klp-deploy-test-');
    fs.mkdirSync(path.join(fx, 'sys/kernel/livepatch'), { recursive: true });
    fs.mkdirSync(path.join(fx, 'sys/module'), { recursive: true });
    fs.mkdirSync(path.join(fx, 'proc/sys/kernel'), { recursive: true });
    fs.writeFileSync(path.join(fx, 'proc/sys/kernel/osrelease'), '6.1.0-deploy-amd64\n');
    fs.writeFileSync(path.join(fx, 'proc/sys/kernel/tainted'), '0\n');
    fs.mkdirSync(path.join(fx, 'work'));
    installFakeKernelTools(path.join(fx, 'bin'), sys(), path.join(fx, 'proc'), { insmodLog: path.join(fx, 'work', 'insmod.log') });
    fs.chmodSync(fx, 0o755);
    for (const d of ['sys', 'proc', 'work']) chmodTree(path.join(fx, d));
    await giveToTestUser(path.join(fx, 'work'));
    sshd = await startSshd({ env: { PATH: `${path.join(fx, 'bin')}:/usr/local/bin:/usr/bin:/bin` } });
    const config = sshd.writeSshConfig(path.join(fx, 'ssh_config'), 'lab-vm');
    target = [
      '--target',
      'lab-vm',
      '--ssh-config',
      config,
      '--work-dir',
      path.join(fx, 'work'),
      '--sysfs-root',
      sys(),
      '--proc-root',
      path.join(fx, 'proc'),
      '--tree',
      TREE,
    ];
  });
  after(async () => {
    await sshd?.stop();
  });

  test('a clean patch is built, loaded, verified against the generated functions, then unloaded', async () => {
    const r = await run([...target, CLEAN]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /livepatch_ring_push_enobufs: built on lab-vm \(.+\), sha256 [0-9a-f]{16}…/);
    assert.match(r.stdout, /livepatch_ring_push_enobufs: loaded and verified: vmlinux patched: klpdemo_ring_push,1; taint OEK/);
    assert.match(r.stdout, /livepatch_ring_push_enobufs: disabled and unloaded/);
    assert.match(r.stderr, /Reading the target kernel symbols/);
    assert.deepEqual(fs.readdirSync(path.join(sys(), 'kernel/livepatch')), [], 'nothing left loaded');
    assert.match(fs.readFileSync(path.join(fx, 'work', 'insmod.log'), 'utf8'), /^livepatch_ring_push_enobufs /m);
    // The sources the target built are the generator's: the patched file itself, and the tables.
    const built = path.join(fx, 'work', 'livepatch_ring_push_enobufs');
    assert.match(fs.readFileSync(path.join(built, 'klp_patch_tables.c'), 'utf8'), /\.old_name = "klpdemo_ring_push"/);
    assert.ok(
      fs.readdirSync(built).some((f) => /^patched_0_ring\.c$/.test(f)),
      fs.readdirSync(built).join(' '),
    );
    // The stand-in keeps the loopback machine's own `uname -r`.
    const building = `Building livepatch_ring_push_enobufs.ko on lab-vm against ${os.release()}\n`;
    assert.ok(r.stderr.includes(building), r.stderr);
  });

  test('--keep leaves the verified patch loaded and enabled', async () => {
    const r = await run([...target, '--keep', '--name', 'livepatch_kept', CLEAN]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /unloaded/);
    assert.equal(fs.readFileSync(path.join(sys(), 'kernel/livepatch/livepatch_kept/enabled'), 'utf8').trim(), '1');
    fs.writeFileSync(path.join(sys(), 'kernel/livepatch/livepatch_kept/enabled'), '0\n');
    fs.rmSync(path.join(sys(), 'kernel/livepatch/livepatch_kept'), { recursive: true });
    fs.rmSync(path.join(sys(), 'module/livepatch_kept'), { recursive: true });
  });

  test('Ctrl-C while insmod runs: exit 130, and it says the patch is loaded (finit_module cannot be interrupted)', async () => {
    fs.writeFileSync(path.join(sys(), '.insmod-uninterruptible'), '2\n');
    try {
      // Its own process group, so the SIGINT reaches the ssh children too, as a terminal's Ctrl-C does.
      const child = spawn(process.execPath, [CLI, ...target, CLEAN], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b));
      const code = new Promise<number | null>((resolve) => child.on('close', resolve));
      const t0 = Date.now();
      while (
        !fs
          .readdirSync('/proc')
          .some((p) => /^\d+$/.test(p) && readComm(p) === 'insmod' && readCmdline(p).includes('livepatch_ring_push_enobufs.ko')) &&
        Date.now() - t0 < 60_000
      )
        await new Promise((r) => setTimeout(r, 50));
      process.kill(-child.pid!, 'SIGINT');
      assert.equal(await code, 130, stderr);
      assert.match(stderr, /interrupted\. livepatch_ring_push_enobufs IS loaded on lab-vm \(enabled\): unload it if it should not stay\./);
    } finally {
      fs.rmSync(path.join(sys(), '.insmod-uninterruptible'), { force: true });
      // Remove what the interrupted run left loaded in the stand-in sysfs.
      for (const d of ['kernel/livepatch', 'module'])
        for (const e of fs.readdirSync(path.join(sys(), d))) fs.rmSync(path.join(sys(), d, e), { recursive: true, force: true });
    }
  });

  test('error-level findings: the findings are printed, exit 1, and nothing runs on the target', async () => {
    const before = fs.readdirSync(path.join(fx, 'work')).length;
    const r = await run([...target, UNSAFE]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /error: .*\[struct-layout\]/);
    assert.match(r.stderr, /error-level finding\(s\): not deploying \(--force deploys anyway\)/);
    assert.equal(fs.readdirSync(path.join(fx, 'work')).length, before, 'nothing uploaded');
    // --force: the generator takes the user's word too, and the patched unit is built and loaded.
    const forced = await run([...target, '--force', '--name', 'livepatch_forced', UNSAFE]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /livepatch_forced: loaded and verified/);
  });

  test('a changed file that was not analysed: exit 1, nothing runs on the target, unless --force (which still cannot generate from it)', async () => {
    const before = fs.readdirSync(path.join(fx, 'work')).length;
    // The patched file is bigger than this limit, so no rule checks it.
    const r = await run([...target, '--max-file-size', '200', CLEAN]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /error: .* was not analysed: .* \(--max-file-size\)\. No rule checked its change.*\[not-analysed\]/);
    assert.match(r.stderr, /: .+ was not analysed: not deploying \(--force deploys anyway\)/);
    assert.equal(fs.readdirSync(path.join(fx, 'work')).length, before, 'nothing uploaded');
    const forced = await run([...target, '--max-file-size', '200', '--force', CLEAN]);
    assert.equal(forced.code, 1, forced.stderr);
    assert.match(
      forced.stderr,
      /\[not-analysed\] .*was not analysed.*\n.*the patched file was not analysed, so it cannot be compiled as the module/,
    );
    assert.deepEqual(fs.readdirSync(path.join(sys(), 'kernel/livepatch')), [], 'nothing loaded');
  });

  test('replace is a choice: by default a patch stacks on the loaded ones; --replace says what it replaces, and does', async () => {
    try {
      const first = await run([...target, '--keep', '--name', 'livepatch_first', CLEAN]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(fs.readFileSync(path.join(fx, 'work', 'livepatch_first', 'klp_patch_tables.c'), 'utf8'), /^\t\.replace = false,$/m);
      const stacked = await run([...target, '--name', 'livepatch_stacked', CLEAN]);
      assert.equal(stacked.code, 0, stacked.stderr);
      assert.match(stacked.stderr, /livepatch_stacked stacks on the livepatches loaded on lab-vm: livepatch_first/);
      assert.deepEqual(
        fs.readdirSync(path.join(sys(), 'kernel/livepatch')),
        ['livepatch_first'],
        'still loaded after the stacked one came and went',
      );
      const rep = await run([...target, '--replace', '--keep', '--name', 'livepatch_cumulative', CLEAN]);
      assert.equal(rep.code, 0, rep.stderr);
      assert.match(
        rep.stdout,
        /^livepatch-deploy: livepatch_cumulative replaces the livepatches loaded on lab-vm: livepatch_first \(they are disabled when its transition ends\)$/m,
      );
      assert.match(fs.readFileSync(path.join(fx, 'work', 'livepatch_cumulative', 'klp_patch_tables.c'), 'utf8'), /^\t\.replace = true,$/m);
      assert.deepEqual(fs.readdirSync(path.join(sys(), 'kernel/livepatch')), ['livepatch_cumulative'], 'the replaced patch is gone');
    } finally {
      for (const d of ['kernel/livepatch', 'module'])
        for (const e of fs.readdirSync(path.join(sys(), d))) fs.rmSync(path.join(sys(), d, e), { recursive: true, force: true });
    }
  });

  test('an unreachable target: exit 2 with the ssh reason', async () => {
    const r = await run(['--target', `${TEST_USER}@127.0.0.1:1`, '--tree', TREE, CLEAN]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refused the connection on port 1/);
  });

  test('usage errors: exit 2 with the usage', async () => {
    const r = await run(['--tree', TREE, CLEAN]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--target is required\nusage: livepatch-deploy/);
    const name = await run([...target, '--name', 'bad-name', CLEAN]);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /--name "bad-name": it contains "-"; use letters, digits and '_' only/);
  });
});

test('verifyLoaded: what the kernel reports must match what was generated', () => {
  const state = (over: Partial<LivepatchState['patches'][number]> = {}, taint = 32768): LivepatchState => ({
    kernelRelease: '6.1.0',
    bootId: '',
    livepatchSupported: true,
    taint: decodeTaint(taint),
    transition: undefined,
    stalledTasks: [],
    livepatchModules: [],
    warnings: [],
    patches: [
      {
        name: 'livepatch_x',
        enabled: true,
        transition: false,
        canForce: true,
        attributes: {},
        writeOnly: [],
        objects: [{ name: 'vmlinux', patched: true, functions: [{ name: 'f', sympos: 1 }], attributes: {} }],
        ...over,
      },
    ],
  });
  const mod = { name: 'livepatch_x', functions: [{ object: 'vmlinux', oldName: 'f' }] } as Parameters<typeof verifyLoaded>[1];
  assert.deepEqual(verifyLoaded(state(), mod), []);
  assert.deepEqual(verifyLoaded(state({ enabled: false, transition: true }), mod), [
    'livepatch_x is not enabled',
    'livepatch_x is still in transition',
  ]);
  assert.deepEqual(
    verifyLoaded(state({ objects: [{ name: 'vmlinux', patched: true, functions: [{ name: 'g', sympos: 1 }], attributes: {} }] }), mod),
    ['vmlinux:f is not patched'],
  );
  assert.deepEqual(verifyLoaded(state({}, 0), mod), ['the kernel is not tainted K']);
  assert.deepEqual(verifyLoaded({ ...state(), patches: [] }, mod), ['livepatch_x is not in /sys/kernel/livepatch']);
});
