import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// describe from testing/nodeTest: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../testing/nodeTest';
import { SshTarget } from './ssh';
import { decodeTaint, parseFunctionDir, parseStateSnapshot, readLivepatchState, StateParseError } from './state';
import { STATE_SCRIPT, stateCommand } from './stateScript';
import { startSshd, sshdUnavailable, type TestSshd } from '../../../testing/sshd';
import { tempDir } from '../../../testing/tempDir';

// ---------------------------------------------------------------------------
// A sysfs/procfs-shaped fixture, with the shapes recorded from Debian 6.1.0-56 (recorded on the test VM; scripts/testvm/README.md).

type Tree = { [name: string]: string | Tree | { content: string; mode: number } };

function write(root: string, tree: Tree): void {
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(root, 0o755);
  for (const [name, v] of Object.entries(tree)) {
    const p = path.join(root, name);
    if (typeof v === 'string') fs.writeFileSync(p, v, { mode: 0o644 });
    else if ('content' in v && typeof v.content === 'string') {
      fs.writeFileSync(p, v.content);
      fs.chmodSync(p, v.mode as number);
    } else write(p, v as Tree);
  }
}

const WRITE_ONLY = { content: '', mode: 0o200 };
const BUSY_STACK =
  '[<0>] msleep+0x2d/0x40\n[<0>] busymod_work_func+0x1e/0x30 [livepatch_callbacks_busymod]\n[<0>] process_one_work+0x1c7/0x380\n[<0>] worker_thread+0x4d/0x380\n[<0>] kthread+0xd7/0x100\n[<0>] ret_from_fork+0x1f/0x30\n';

function makeFixture(root: string): { sys: string; proc: string } {
  const sys = path.join(root, 'sys');
  const proc = path.join(root, 'proc');
  write(sys, {
    kernel: {
      livepatch: {
        livepatch_sample: { enabled: '1\n', transition: '0\n', force: WRITE_ONLY, vmlinux: { patched: '1\n', 'cmdline_proc_show,1': {} } },
        lp_target_patch: { enabled: '1\n', transition: '0\n', force: WRITE_ONLY, lp_target: { patched: '0\n', 'lp_target_show,1': {} } },
        livepatch_callbacks_demo: {
          enabled: '1\n',
          transition: '1\n',
          force: WRITE_ONLY,
          vmlinux: { patched: '1\n' },
          livepatch_callbacks_busymod: { patched: '1\n', 'busymod_work_func,1': {} },
          livepatch_callbacks_mod: { patched: '0\n' },
        },
      },
    },
    module: {
      livepatch_sample: { taint: 'OEK\n' },
      lp_target_patch: { taint: 'OEK\n' },
      livepatch_callbacks_demo: { taint: 'OEK\n' },
      livepatch_disabled: { taint: 'OEK\n' }, // disabled: patch dir gone, module still loaded
      lp_target: { taint: 'OE\n' },
      ext4: { parameters: {} }, // built-in: no taint file
    },
  });
  write(proc, {
    sys: { kernel: { osrelease: '6.1.0-56-amd64\n', tainted: '45056\n', random: { boot_id: '0b5e6d3c-9f41-4c0e-a8a7-51d2f6c3e901\n' } } },
    '1': { patch_state: '1\n', comm: 'systemd\n', stack: '[<0>] ep_poll+0x2b4/0x2f0\n' },
    '42': { patch_state: '0\n', comm: 'kworker/1:2+events\n', stack: BUSY_STACK },
    '43': { patch_state: '0\n', comm: 'odd\tname\n', stack: { content: '[<0>] secret\n', mode: 0o000 } },
    '100': {
      patch_state: '1\n',
      comm: 'threaded\n',
      task: {
        '100': { patch_state: '1\n', comm: 'threaded\n', stack: '' },
        '101': { patch_state: '0\n', comm: 'worker thread\n', stack: '[<0>] futex_wait+0x1/0x2\n' },
      },
    },
    '200': { patch_state: '-1\n', comm: 'late\n', stack: '' },
    self: { patch_state: '0\n' }, // not a pid: ignored
  });
  return { sys, proc };
}

function assertFixtureState(s: ReturnType<typeof parseStateSnapshot>): void {
  assert.equal(s.kernelRelease, '6.1.0-56-amd64');
  assert.equal(s.bootId, '0b5e6d3c-9f41-4c0e-a8a7-51d2f6c3e901');
  assert.equal(s.livepatchSupported, true);
  assert.equal(s.taint.value, 45056);
  assert.deepEqual(s.taint.flags, ['O', 'E', 'K']);
  assert.equal(s.taint.livepatch, true);
  const byName = new Map(s.patches.map((p) => [p.name, p]));
  assert.deepEqual([...byName.keys()].sort(), ['livepatch_callbacks_demo', 'livepatch_sample', 'lp_target_patch']);

  const sample = byName.get('livepatch_sample')!;
  assert.equal(sample.enabled, true);
  assert.equal(sample.transition, false);
  assert.equal(sample.canForce, true);
  assert.equal(sample.replace, undefined, '6.1 has no replace attribute');
  assert.equal(sample.stackOrder, undefined, '6.1 has no stack_order attribute');
  assert.deepEqual(sample.objects, [
    { name: 'vmlinux', patched: true, functions: [{ name: 'cmdline_proc_show', sympos: 1 }], attributes: { patched: '1' } },
  ]);

  const mod = byName.get('lp_target_patch')!;
  assert.equal(mod.objects[0].name, 'lp_target');
  assert.equal(mod.objects[0].patched, false);
  assert.deepEqual(mod.objects[0].functions, [{ name: 'lp_target_show', sympos: 1 }]);

  const demo = byName.get('livepatch_callbacks_demo')!;
  assert.equal(demo.transition, true);
  assert.deepEqual(demo.objects.map((o) => [o.name, o.patched, o.functions.length]).sort(), [
    ['livepatch_callbacks_busymod', true, 1],
    ['livepatch_callbacks_mod', false, 0],
    ['vmlinux', true, 0],
  ]);
  assert.deepEqual(s.transition, { patch: 'livepatch_callbacks_demo', target: 1 });

  const tasks = new Map(s.stalledTasks.map((t) => [t.tid, t]));
  assert.deepEqual(
    [...tasks.keys()].sort((a, b) => a - b),
    [42, 43, 101],
    'only tasks not yet in the target state',
  );
  const kw = tasks.get(42)!;
  assert.equal(kw.comm, 'kworker/1:2+events');
  assert.equal(kw.state, 0);
  assert.equal(kw.stackUnreadable, false);
  assert.equal(kw.stack.length, 6);
  assert.match(kw.stack[1], /busymod_work_func\+0x1e\/0x30 \[livepatch_callbacks_busymod\]/);
  const odd = tasks.get(43)!;
  assert.equal(odd.comm, 'odd\tname');
  assert.equal(odd.stackUnreadable, true);
  assert.deepEqual(odd.stack, []);
  const thread = tasks.get(101)!;
  assert.deepEqual([thread.pid, thread.comm, thread.stack], [100, 'worker thread', ['[<0>] futex_wait+0x1/0x2']]);

  assert.deepEqual(s.livepatchModules.map((m) => [m.name, m.taint, m.hasPatchDir]).sort(), [
    ['livepatch_callbacks_demo', 'OEK', true],
    ['livepatch_disabled', 'OEK', false],
    ['livepatch_sample', 'OEK', true],
    ['lp_target_patch', 'OEK', true],
  ]);
  assert.deepEqual(s.warnings, []);
}

// ---------------------------------------------------------------------------

describe('state script through a real sshd', { skip: sshdUnavailable(), timeout: 60_000 }, () => {
  let sshd: TestSshd;
  let tmp: string;
  before(async () => {
    sshd = await startSshd();
    tmp = tempDir('klp-state-');
    fs.chmodSync(tmp, 0o755);
  });
  after(async () => {
    await sshd?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('one round trip reads the fixture tree as the kernel shapes it', async () => {
    const { sys, proc } = makeFixture(path.join(tmp, 'a'));
    // A non-root login, like reading a real /proc/<pid>/stack without privileges: unreadable.
    const target = new SshTarget(sshd.target());
    const state = await readLivepatchState(target, { sysfsRoot: sys, procRoot: proc });
    assertFixtureState(state);
  });

  test('no livepatch directory and no transition: an empty, supported=false state', async () => {
    const root = path.join(tmp, 'b');
    write(root, { sys: { kernel: {}, module: {} }, proc: { sys: { kernel: { osrelease: '5.10.0-28-amd64\n', tainted: '0\n' } } } });
    const state = await readLivepatchState(new SshTarget(sshd.target()), {
      sysfsRoot: path.join(root, 'sys'),
      procRoot: path.join(root, 'proc'),
    });
    assert.equal(state.kernelRelease, '5.10.0-28-amd64');
    assert.equal(state.bootId, '', 'no boot_id file: no boot id');
    assert.equal(state.livepatchSupported, false);
    assert.deepEqual(state.patches, []);
    assert.deepEqual(state.taint.flags, []);
    assert.equal(state.transition, undefined);
  });

  test('the real /sys and /proc of this machine parse', async () => {
    const state = await readLivepatchState(new SshTarget(sshd.target()));
    assert.equal(state.kernelRelease, os.release());
    assert.equal(state.bootId, fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    assert.equal(state.livepatchSupported, fs.existsSync('/sys/kernel/livepatch'));
    assert.equal(state.taint.value, Number(fs.readFileSync('/proc/sys/kernel/tainted', 'utf8')));
  });
});

test('the script also runs under plain sh against the fixture (no ssh)', () => {
  const tmp = tempDir('klp-state-sh-');
  try {
    const { sys, proc } = makeFixture(tmp);
    const [sh, c, script, name, a, b] = stateCommand({ sysfsRoot: sys, procRoot: proc });
    assert.equal(script, STATE_SCRIPT);
    const out = execFileSync(sh, [c, script, name, a, b], { encoding: 'utf8' });
    const state = parseStateSnapshot(out);
    // As root the mode-0 stack file is readable; everything else is the same.
    assert.equal(state.stalledTasks.find((t) => t.tid === 43)?.stackUnreadable, process.getuid?.() !== 0);
    assert.equal(state.patches.length, 3);
    assert.deepEqual(state.transition, { patch: 'livepatch_callbacks_demo', target: 1 });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('stateCommand refuses roots that cannot be passed safely', () => {
  assert.throws(() => stateCommand({ sysfsRoot: '/sys\nrm -rf /' }), /usable remote path/);
  assert.throws(() => stateCommand({ procRoot: '-x' }), /usable remote path/);
});

// ---------------------------------------------------------------------------
// Pure parser tests on snapshots shaped like the ones recorded on 6.1 (recorded on the test VM; scripts/testvm/README.md).

const SNAP_A = [
  'klp-state\t1',
  'kernel\t6.1.0-56-amd64',
  'tainted\t45056',
  'livepatch\t1',
  'patch\tlivepatch_sample',
  'patch-attr\tlivepatch_sample\tenabled\t1',
  'patch-attr-unreadable\tlivepatch_sample\tforce',
  'patch-attr\tlivepatch_sample\ttransition\t0',
  'object\tlivepatch_sample\tvmlinux',
  'func\tlivepatch_sample\tvmlinux\tcmdline_proc_show,1',
  'object-attr\tlivepatch_sample\tvmlinux\tpatched\t1',
  'module\tlivepatch_sample\tOEK',
  'end',
  '',
].join('\n');

test('scenario A: livepatch_sample after insmod', () => {
  const s = parseStateSnapshot(SNAP_A);
  assert.equal(s.patches.length, 1);
  const p = s.patches[0];
  assert.deepEqual(
    { name: p.name, enabled: p.enabled, transition: p.transition, canForce: p.canForce, writeOnly: p.writeOnly },
    { name: 'livepatch_sample', enabled: true, transition: false, canForce: true, writeOnly: ['force'] },
  );
  assert.deepEqual(p.objects[0].functions, [{ name: 'cmdline_proc_show', sympos: 1 }]);
  assert.equal(p.objects[0].patched, true);
  assert.deepEqual(s.stalledTasks, []);
  assert.equal(s.livepatchModules[0].hasPatchDir, true);
});

test('right after echo 0 > enabled: enabled=0 transition=1, unpatching target', () => {
  const s = parseStateSnapshot(
    SNAP_A.replace('enabled\t1', 'enabled\t0')
      .replace('transition\t0', 'transition\t1')
      .replace('module\t', 'transition\tlivepatch_sample\t0\ntask\t7\t7\t1\tbash\nstack\t7\t[<0>] do_wait+0x1/0x2\nmodule\t'),
  );
  assert.equal(s.patches[0].enabled, false);
  assert.equal(s.patches[0].transition, true);
  assert.deepEqual(s.transition, { patch: 'livepatch_sample', target: 0 });
  assert.deepEqual(s.stalledTasks, [{ pid: 7, tid: 7, comm: 'bash', state: 1, stack: ['[<0>] do_wait+0x1/0x2'], stackUnreadable: false }]);
});

test('a 6.13+ kernel: replace and stack_order are read; unknown attributes are kept', () => {
  const s = parseStateSnapshot(
    SNAP_A.replace(
      'patch-attr\tlivepatch_sample\ttransition\t0',
      'patch-attr\tlivepatch_sample\ttransition\t0\npatch-attr\tlivepatch_sample\treplace\t1\npatch-attr\tlivepatch_sample\tstack_order\t2\npatch-attr\tlivepatch_sample\tnew_thing\tx y',
    ),
  );
  assert.equal(s.patches[0].replace, true);
  assert.equal(s.patches[0].stackOrder, 2);
  assert.equal(s.patches[0].attributes.new_thing, 'x y');
});

test('a pre-6.1 kernel: no patched attribute, no force; patched stays undefined', () => {
  const s = parseStateSnapshot(SNAP_A.replace(/object-attr.*\n/, '').replace(/patch-attr-unreadable.*\n/, ''));
  assert.equal(s.patches[0].objects[0].patched, undefined);
  assert.equal(s.patches[0].canForce, false);
});

test('an unreadable taint, unknown records and short lines become warnings, not failures', () => {
  const s = parseStateSnapshot(SNAP_A.replace('tainted\t45056', 'tainted-unreadable').replace('end', 'future\tthing\nfunc\tx\nend'));
  assert.equal(s.taint.value, undefined);
  assert.equal(s.taint.livepatch, false);
  assert.equal(s.warnings.length, 2);
});

test('not a snapshot, another format version, or cut short: StateParseError', () => {
  assert.throws(() => parseStateSnapshot('sh: 1: syntax error\n'), StateParseError);
  assert.throws(() => parseStateSnapshot(SNAP_A.replace('klp-state\t1', 'klp-state\t2')), /format 2/);
  assert.throws(() => parseStateSnapshot(SNAP_A.replace('end\n', '')), /cut short/);
});

test('taint decoder: every letter, K = bit 15 = 32768', () => {
  assert.deepEqual(decodeTaint(0).flags, []);
  assert.deepEqual(decodeTaint(32768).flags, ['K']);
  assert.equal(decodeTaint(32768).livepatch, true);
  assert.deepEqual(decodeTaint(45056).flags, ['O', 'E', 'K']);
  assert.deepEqual(decodeTaint(4096 + 8192).flags, ['O', 'E']);
  assert.equal(decodeTaint(4096 + 8192).livepatch, false);
  assert.deepEqual(decodeTaint(2 ** 20 - 1).flags.join(''), 'PFSRMBUDAWCIOELKXTNJ');
  assert.deepEqual(decodeTaint(2 ** 21 + 1).unknownBits, [21]);
  assert.deepEqual(decodeTaint(2 ** 21 + 1).flags, ['P']);
  assert.equal(decodeTaint(undefined).value, undefined);
});

test('function directories: name,sympos with sympos 0 shown as 1', () => {
  assert.deepEqual(parseFunctionDir('cmdline_proc_show,1'), { name: 'cmdline_proc_show', sympos: 1 });
  assert.deepEqual(parseFunctionDir('dup_fn,3'), { name: 'dup_fn', sympos: 3 });
  assert.deepEqual(parseFunctionDir('odd,0'), { name: 'odd', sympos: 1 });
});
