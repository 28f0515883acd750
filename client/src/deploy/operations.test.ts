// The deploy operations through a real sshd on loopback, against a sysfs-shaped
// fixture (the real kernel is exercised by the test-VM suite).

// describe from testing/nodeTest: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SshTarget, SshError } from '../remote/ssh';
import { giveToTestUser, startSshd, sshdUnavailable, TEST_USER, type TestSshd } from '../../../testing/sshd';
import {
  BuildFailed,
  buildKbuildModule,
  buildWithTool,
  checkWorkDir,
  disablePatch,
  forceTransition,
  keptByForce,
  readState,
  uploadFiles,
  type TargetSettings,
} from './operations';
import { parseStateSnapshot } from '../remote/state';
import { tempDir } from '../../../testing/tempDir';

function fixture(): { root: string; settings: TargetSettings } {
  const root = tempDir('klp-ops-');
  const lp = path.join(root, 'sys/kernel/livepatch/livepatch_demo');
  fs.mkdirSync(path.join(lp, 'vmlinux/cmdline_proc_show,1'), { recursive: true });
  fs.writeFileSync(path.join(lp, 'enabled'), '1\n');
  fs.writeFileSync(path.join(lp, 'transition'), '0\n');
  fs.writeFileSync(path.join(lp, 'force'), '');
  fs.writeFileSync(path.join(lp, 'vmlinux/patched'), '1\n');
  fs.mkdirSync(path.join(root, 'proc/sys/kernel'), { recursive: true });
  fs.writeFileSync(path.join(root, 'proc/sys/kernel/tainted'), '32768\n');
  fs.mkdirSync(path.join(root, 'work'));
  // The test login is not root: let it write the fixture.
  for (const f of [root, ...walk(root)]) fs.chmodSync(f, fs.statSync(f).isDirectory() ? 0o777 : 0o666);
  return {
    root,
    settings: {
      name: 't',
      destination: '',
      workDir: path.join(root, 'work'),
      backend: 'kbuild',
      sysfsRoot: path.join(root, 'sys'),
      procRoot: path.join(root, 'proc'),
    },
  };
}

function walk(d: string): string[] {
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(d, e.name);
    return e.isDirectory() ? [p, ...walk(p)] : [p];
  });
}

/** A state snapshot with these patches (name, enabled, transition, replace attribute or none). */
function snapshot(patches: Array<[string, 0 | 1, 0 | 1, (0 | 1)?]>): string {
  const lines = ['klp-state\t1', 'livepatch\t1'];
  for (const [name, en, tr, rep] of patches) {
    lines.push(`patch\t${name}`, `patch-attr\t${name}\tenabled\t${en}`, `patch-attr\t${name}\ttransition\t${tr}`);
    if (rep !== undefined) lines.push(`patch-attr\t${name}\treplace\t${rep}`);
  }
  const t = patches.find((x) => x[2] === 1);
  if (t) lines.push(`transition\t${t[0]}\t${t[1]}`);
  return [...lines, 'end', ''].join('\n');
}

// kernel/livepatch/transition.c klp_force_transition() on 6.1: only the patches being removed are marked forced.
describe('keptByForce: the modules the kernel keeps after Force Transition', () => {
  test("forcing a disable keeps that patch's module", () => {
    assert.deepEqual(
      keptByForce(
        parseStateSnapshot(
          snapshot([
            ['a', 1, 0],
            ['b', 0, 1],
          ]),
        ),
        'b',
      ),
      ['b'],
    );
  });
  test('forcing the enable of a patch that replaces nothing keeps nothing', () => {
    assert.deepEqual(
      keptByForce(
        parseStateSnapshot(
          snapshot([
            ['a', 1, 0, 0],
            ['b', 1, 1, 0],
          ]),
        ),
        'b',
      ),
      [],
    );
    assert.deepEqual(keptByForce(parseStateSnapshot(snapshot([['b', 1, 1]])), 'b'), [], 'alone, nothing to replace');
  });
  test('forcing the enable of a replace patch keeps the modules of the patches it replaces', () => {
    assert.deepEqual(
      keptByForce(
        parseStateSnapshot(
          snapshot([
            ['a', 1, 0, 0],
            ['b', 1, 1, 1],
          ]),
        ),
        'b',
      ),
      ['a'],
    );
  });
  test('without a replace attribute (before 6.11) a patch is taken for a replace patch', () => {
    assert.deepEqual(
      keptByForce(
        parseStateSnapshot(
          snapshot([
            ['a', 1, 0],
            ['b', 1, 1],
          ]),
        ),
        'b',
      ),
      ['a'],
    );
  });
});

describe('deploy operations through a real sshd', { skip: sshdUnavailable(), timeout: 120_000 }, () => {
  let sshd: TestSshd;
  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });

  test('the state of a loaded patch is read in one round trip', async () => {
    const { settings } = fixture();
    const s = await readState(new SshTarget(sshd.target()), settings);
    assert.equal(s.patches[0].name, 'livepatch_demo');
    assert.equal(s.patches[0].enabled, true);
    assert.deepEqual(s.patches[0].objects[0].functions, [{ name: 'cmdline_proc_show', sympos: 1 }]);
    assert.equal(s.taint.livepatch, true);
  });

  test('disable writes 0 to enabled and waits until the patch is no longer enabled', async () => {
    const { root, settings } = fixture();
    const s = await disablePatch(new SshTarget(sshd.target()), settings, 'livepatch_demo', {}, 10_000);
    assert.equal(fs.readFileSync(path.join(root, 'sys/kernel/livepatch/livepatch_demo/enabled'), 'utf8'), '0\n');
    assert.equal(s.patches[0].enabled, false);
  });

  test('force writes 1 to force', async () => {
    const { root, settings } = fixture();
    await forceTransition(new SshTarget(sshd.target()), settings, 'livepatch_demo');
    assert.equal(fs.readFileSync(path.join(root, 'sys/kernel/livepatch/livepatch_demo/force'), 'utf8'), '1\n');
  });

  test('names that would reach the remote shell are validated before anything runs', async () => {
    const { root, settings } = fixture();
    await assert.rejects(
      disablePatch(new SshTarget(sshd.target()), settings, 'x;touch pwned'),
      (e: SshError) => e.kind === 'invalid-argument',
    );
    assert.ok(!fs.existsSync(path.join(root, 'pwned')));
  });

  test('a work directory that another user owns, or that its group or others can write, is refused before a build', async () => {
    const { root, settings } = fixture();
    const ssh = new SshTarget(sshd.target());
    const work = settings.workDir;
    const uid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }));
    // Owned by root (not the login the build runs as), 0777.
    await assert.rejects(
      buildKbuildModule(ssh, settings, 'livepatch_demo', { 'a.c': 'int a;\n' }),
      /belongs to uid 0, and the build runs as uid \d+/,
    );
    await giveToTestUser(work);
    fs.chmodSync(work, 0o775);
    await assert.rejects(buildKbuildModule(ssh, settings, 'livepatch_demo', { 'a.c': 'int a;\n' }), /its group can write it \(mode 0775\)/);
    fs.chmodSync(work, 0o757);
    await assert.rejects(
      buildWithTool(ssh, { ...settings, backend: 'kpatch-build' }, 'livepatch_demo', '--- a/x\n+++ b/x\n'),
      /anyone can write it \(mode 0757\)/,
    );
    assert.deepEqual(fs.readdirSync(work), [], 'nothing was uploaded');
    // A symlink (whose target others could swap) is refused too.
    const link = path.join(root, 'link');
    fs.symlinkSync(work, link);
    await assert.rejects(checkWorkDir(ssh, { ...settings, workDir: link }), /Refusing to build in \S+\/link on t/);
    fs.chmodSync(work, 0o755);
    await checkWorkDir(ssh, settings);
    // A missing one is created, private.
    const fresh = path.join(work, 'fresh');
    await checkWorkDir(ssh, { ...settings, workDir: fresh });
    assert.equal(fs.statSync(fresh).mode & 0o777, 0o700);
    assert.equal(fs.statSync(fresh).uid, uid);
  });

  test("uploads land in the work directory; a failed kbuild build reports make's output", async () => {
    const { root, settings } = fixture();
    await giveToTestUser(settings.workDir);
    const ssh = new SshTarget(sshd.target());
    const dir = await uploadFiles(ssh, settings, 'livepatch_demo', { 'a.c': 'int a;\n', Kbuild: 'obj-m += a.o\n' });
    assert.equal(fs.readFileSync(path.join(dir, 'a.c'), 'utf8'), 'int a;\n');
    assert.equal(dir, path.join(root, 'work', 'livepatch_demo'));
    // A release no machine has a build tree for (this one's own may have one): make must fail, in its own words.
    const release = '0.0.0-klp-no-such-release';
    assert.ok(!fs.existsSync(`/lib/modules/${release}/build`));
    await assert.rejects(
      buildKbuildModule(
        ssh,
        settings,
        'livepatch_demo',
        { 'livepatch_demo.c': 'int x;\n', Kbuild: 'obj-m += livepatch_demo.o\n' },
        {},
        release,
      ),
      (e: BuildFailed) => {
        assert.ok(e instanceof BuildFailed, String(e));
        assert.match(e.message, /building livepatch_demo\.ko failed \(make exit 2\)/);
        assert.match(e.output, new RegExp(`/lib/modules/${release}/build: No such file or directory`));
        return true;
      },
    );
  });
});
