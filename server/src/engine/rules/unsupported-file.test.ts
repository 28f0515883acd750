import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';
import { classifyPath } from './unsupported-file';

const rule = 'unsupported-file';

test('a patch to assembly is an error on its first changed line, with or without the tree', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'assembly-file'), { withoutTree });
    const [f, ...rest] = ofRule(r, rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'error');
    assert.equal(f.file, 'arch/x86/kernel/demo_copy.S');
    assert.equal(f.line, 4);
    assert.match(f.message, /unsupported patch to assembly/);
    assert.ok(f.patchLine !== undefined && r.patch.split('\n')[f.patchLine].startsWith('+'));
  }
});

test("a patch to lib/ is an error naming kpatch-build's message", async () => {
  const f = ofRule(await runCase(caseDir(rule, 'lib-file')), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'error');
  assert.match(f[0].message, /unsupported patch to lib\/: lib\/demo_checksum\.c/);
});

test('a vDSO source is skipped by kpatch-build: error', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'vdso-file'), { withoutTree: true }), rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].severity, 'error');
  assert.match(f[0].message, /vDSO/);
});

test('Kconfig and Makefile changes are warnings; the C file next to them is not reported', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'kconfig-and-makefile')), rule);
  assert.deepEqual(
    f.map((x) => [x.file, x.severity]),
    [
      ['drivers/demo/Kconfig', 'warning'],
      ['drivers/demo/Makefile', 'warning'],
    ],
  );
});

test('ordinary C files, including arch/x86/lib/, are not reported', async () => {
  assert.deepEqual(ofRule(await runCase(caseDir(rule, 'c-files-outside-excluded-dirs')), rule), []);
});

test('path classification', () => {
  const sev = (p: string) => classifyPath(p)?.severity ?? null;
  for (const p of [
    'arch/x86/boot/compressed/misc.c',
    'arch/x86/realmode/rm/wakeup.h',
    'arch/x86/purgatory/purgatory.c',
    'drivers/firmware/efi/libstub/efi-stub.c',
    'tools/objtool/check.c',
    'init/version.c',
    'usr/gen_init_cpio.c',
    'arch/x86/vdso/vma.c',
    'lib/string.c',
    'arch/x86/entry/entry_64.S',
  ]) {
    assert.equal(sev(p), 'error', p);
  }
  for (const p of ['Makefile', 'kernel/Kconfig.preempt', 'scripts/Makefile.build', 'arch/x86/configs/x86_64_defconfig']) {
    assert.equal(sev(p), 'warning', p);
  }
  for (const p of [
    'kernel/fork.c',
    'include/linux/sched.h',
    'init/main.c',
    'drivers/misc/library.c',
    'Documentation/livepatch/livepatch.rst',
  ]) {
    assert.equal(sev(p), null, p);
  }
});
