// The target-facts loader: kallsyms or System.map, Module.symvers, .config and the symbol
// tables of a modules folder (objects gcc compiles here), and on the Debian 6.1 packages
// when scripts/fetch-target-facts.sh has fetched them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { describe, it } from '../../../testing/nodeTest';
import { debianTargetFacts, DEBIAN_TARGET_RELEASE, kernelTree, kernelTreePath, targetFactsPath } from '../../../testing/requirements';
import { tempDir } from '../../../testing/tempDir';
import { loadTargetFacts } from './targetFacts';
import { analyzePatches } from '../engine/analyze';
import { PatchError } from '../engine/diff/readPatch';

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, cmd)));
}
const GCC = ['gcc', 'gcc-12'].find(onPath);

function write(dir: string, rel: string, text: string | Buffer): string {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
  return p;
}

test('System.map, Module.symvers and .config load; the release comes from the cache layout targets/<release>/', () => {
  const dir = path.join(tempDir('facts-'), 'targets', '6.1.0-99-amd64');
  const map = write(dir, 'System.map', 'ffffffff81000000 T _stext\nffffffff81001000 t helper.isra.0\n');
  const symvers = write(dir, 'Module.symvers', '0x1\tfoo\tvmlinux\tEXPORT_SYMBOL_GPL\tFOO_NS\n');
  const config = write(dir, 'config', 'CONFIG_LIVEPATCH=y\n# CONFIG_FOO is not set\n');
  const { facts, notes } = loadTargetFacts({ kallsyms: map, symvers, config })!;
  assert.deepEqual(notes, []);
  assert.equal(facts.release, '6.1.0-99-amd64');
  assert.equal(facts.symbolSource, 'System.map');
  assert.deepEqual(facts.symbols!.clonesOf('helper'), ['helper.isra.0']);
  assert.equal(facts.symvers!.get('foo')!.namespace, 'FOO_NS');
  assert.equal(facts.config!.get('CONFIG_LIVEPATCH'), 'y');
});

test('a file named otherwise is kallsyms; outside the cache layout the release is unknown', () => {
  const dir = tempDir('facts-');
  const ks = write(dir, 'kallsyms.txt', 'ffffffffc0001000 t ext4_foo\t[ext4]\n');
  const { facts } = loadTargetFacts({ kallsyms: ks })!;
  assert.equal(facts.symbolSource, 'kallsyms');
  assert.equal(facts.release, null);
  assert.equal(facts.symvers, null);
  assert.deepEqual(facts.symbols!.entries('ext4_foo'), [{ type: 't', object: 'ext4' }]);
});

test("no symbols, exports or modules: no facts (a .config alone is the tree's)", () => {
  const dir = tempDir('facts-');
  assert.equal(loadTargetFacts({ config: write(dir, 'config', 'CONFIG_X=y\n') }), null);
  assert.equal(loadTargetFacts({}), null);
});

test('unusable files are refused with what is wrong', () => {
  const dir = tempDir('facts-');
  const refuse = (files: Parameters<typeof loadTargetFacts>[0], re: RegExp) =>
    assert.throws(
      () => loadTargetFacts(files),
      (e: Error) => e instanceof PatchError && re.test(e.message),
    );
  refuse({ kallsyms: path.join(dir, 'missing') }, /kallsyms '.*missing' cannot be read \(ENOENT\)/);
  refuse({ kallsyms: dir }, /is not a regular file/);
  refuse({ kallsyms: write(dir, 'empty', 'The real System.map is in the -dbg package\n') }, /lists no symbol/);
  refuse({ symvers: write(dir, 'sv', 'nothing here\n') }, /lists no export/);
  refuse({ modulesDir: write(dir, 'file', 'x') }, /is not a folder/);
  if (process.platform === 'linux') {
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    refuse({ kallsyms: path.join(dir, 'fifo') }, /is not a regular file/);
  }
});

describe('symbols of .ko files', { skip: GCC ? undefined : 'no gcc: apt-get install gcc' }, () => {
  it("reads each module's symbol table with nm-style types, its name as kallsyms spells it, and the release from vermagic", () => {
    const dir = tempDir('facts-ko-');
    const src = write(
      dir,
      'src/demo.c',
      `
const char vermagic[] __attribute__((section(".modinfo"), used)) = "vermagic=6.1.0-98-amd64 SMP preempt mod_unload modversions ";
static int helper(int v) __asm__("demo_helper.isra.0");
static __attribute__((noinline)) int helper(int v) { return v * 3; }
int demo_entry(int v) { return helper(v) + 1; }
int demo_counter = 1;
static int demo_zero;
const int demo_table[2] = { 1, 2 };
int *demo_zero_ptr(void) { return &demo_zero; }
extern int undefined_elsewhere(void);
int demo_calls(void) { return undefined_elsewhere(); }
`,
    );
    const modules = path.join(dir, 'modules');
    fs.mkdirSync(path.join(modules, 'drivers', 'demo'), { recursive: true });
    execFileSync(GCC!, ['-c', '-O2', '-fno-common', src, '-o', path.join(modules, 'drivers', 'demo', 'demo-mod.ko')]);
    write(modules, 'drivers/other/broken.ko', 'not an ELF file');
    write(modules, 'drivers/other/packed.ko.xz', 'x');
    const { facts, notes } = loadTargetFacts({ modulesDir: modules })!;
    assert.equal(facts.release, '6.1.0-98-amd64');
    assert.deepEqual([...facts.moduleFiles], ['demo_mod']);
    const ks = facts.symbols!;
    assert.deepEqual(ks.entries('demo_entry'), [{ type: 'T', object: 'demo_mod' }]);
    assert.deepEqual(ks.entries('demo_helper.isra.0'), [{ type: 't', object: 'demo_mod' }]);
    assert.deepEqual(ks.clonesOf('demo_helper', ['demo_mod']), ['demo_helper.isra.0']);
    assert.equal(ks.entries('demo_counter')[0].type, 'D');
    assert.equal(ks.entries('demo_zero')[0].type, 'b');
    assert.equal(ks.entries('demo_table')[0].type, 'R');
    assert.deepEqual(ks.entries('undefined_elsewhere'), [], "undefined symbols are not the module's");
    assert.match(notes.join('\n'), /1 compressed module\(s\) in .* were not read/);
    assert.match(notes.join('\n'), /1 module file\(s\) in .* could not be read as ELF objects: drivers\/other\/broken\.ko/);
  });

  it('a module kallsyms already lists (loaded) is not read again from its file', () => {
    const dir = tempDir('facts-ko-');
    const src = write(dir, 'demo.c', 'int demo_entry(int v) { return v; }\n');
    execFileSync(GCC!, ['-c', '-O2', src, '-o', path.join(dir, 'demo_mod.ko')]);
    const ks = write(dir, 'kallsyms', 'ffffffffc0001000 t demo_loaded_only\t[demo_mod]\n');
    const { facts } = loadTargetFacts({ kallsyms: ks, modulesDir: dir })!;
    assert.deepEqual(facts.symbols!.entries('demo_entry'), []);
    assert.equal(facts.moduleFiles.size, 0);
  });
});

/** A patch that replaces `from` with `to` in the real tree's `file`. */
function realPatch(file: string, from: string, to: string): string {
  const text = fs.readFileSync(path.join(kernelTreePath(), file), 'utf8');
  assert.ok(text.includes(from), `${file} no longer contains ${JSON.stringify(from)}`);
  const patch = createTwoFilesPatch(`a/${file}`, `b/${file}`, text, text.replace(from, to), '', '', { context: 3 });
  return (
    `diff --git a/${file} b/${file}\n` +
    patch
      .split('\n')
      .filter((l) => !l.startsWith('Index: ') && !/^=+$/.test(l))
      .join('\n')
      .replace(/\t$/gm, '')
  );
}

describe(`the Debian ${DEBIAN_TARGET_RELEASE} packages`, { skip: debianTargetFacts() }, () => {
  const dir = targetFactsPath();
  // Reading 4000 modules takes a second or two: once for the suite.
  let loaded: ReturnType<typeof loadTargetFacts> = null;
  const load = () =>
    (loaded ??= loadTargetFacts({
      kallsyms: path.join(dir, 'System.map'),
      symvers: path.join(dir, 'Module.symvers'),
      config: path.join(dir, 'config'),
      modulesDir: path.join(dir, 'modules'),
    }))!;

  it('load: vmlinux from System.map, modules from their .ko files, namespaced exports, the config', () => {
    const { facts, notes } = load();
    assert.deepEqual(notes, []);
    assert.equal(facts.release, DEBIAN_TARGET_RELEASE);
    const ks = facts.symbols!;
    assert.deepEqual(ks.entries('__mmput'), [{ type: 't', object: 'vmlinux' }]);
    assert.deepEqual(ks.entries('ext4_fill_super'), [{ type: 't', object: 'ext4' }]);
    assert.ok(ks.clonesOf('memcg_charge_kernel_stack').includes('memcg_charge_kernel_stack.part.0'));
    assert.ok(facts.moduleFiles.size > 3000, `${facts.moduleFiles.size} modules`);
    assert.equal(facts.symvers!.get('insert_resource_expand_to_fit')!.namespace, 'CXL');
    assert.equal(facts.config!.get('CONFIG_LIVEPATCH'), 'y');
  });

  describe('on patches against the real 6.1 tree', { skip: kernelTree() }, () => {
    it('a changed static inline with an out-of-line copy (__mmput in kernel/fork.c) is an error with facts, a warning without', async () => {
      const patch = realPatch(
        'kernel/fork.c',
        '\tVM_BUG_ON(atomic_read(&mm->mm_users));\n\n\tuprobe_clear_state(mm);',
        '\tVM_BUG_ON(atomic_read(&mm->mm_users));\n\n\tuprobe_clear_state(mm);\n\tmm->hiwater_rss = 0;',
      );
      const run = async (withFacts: boolean) =>
        (
          await analyzePatches([{ name: 'mmput.patch', text: patch }], { tree: kernelTreePath(), facts: withFacts ? load().facts : null })
        ).findings.filter((f) => f.rule === 'inline-notrace');
      const [without] = await run(false);
      assert.equal(without.severity, 'warning');
      const [f] = await run(true);
      assert.equal(f.function, '__mmput');
      assert.equal(f.severity, 'error');
      assert.match(f.message, /System\.map of 6\.1\.0-57-amd64 lists `__mmput` \(t, vmlinux\)/);
    });

    it('a changed static function System.map does not list (copy_signal) certainly changes its caller', async () => {
      const patch = realPatch('kernel/fork.c', '\tsig->nr_threads = 1;', '\tsig->nr_threads = 1;\n\tsig->group_exec_task = NULL;');
      const run = async (withFacts: boolean) =>
        (
          await analyzePatches([{ name: 'signal.patch', text: patch }], { tree: kernelTreePath(), facts: withFacts ? load().facts : null })
        ).findings.filter((f) => f.rule === 'inline-callers' && f.function === 'copy_signal');
      const [without] = await run(false);
      assert.match(without.message, /almost certainly inlined it there/);
      const [f] = await run(true);
      assert.match(f.message, /copy_signal\(\) is static and System\.map of 6\.1\.0-57-amd64 lists no out-of-line copy of it/);
    });

    it('a new call to a CXL export from built-in code is an error naming Module.symvers', async () => {
      const patch = realPatch(
        'kernel/fork.c',
        '\tsig->nr_threads = 1;',
        '\tsig->nr_threads = 1;\n\tinsert_resource_expand_to_fit(NULL, NULL);',
      );
      const run = async (withFacts: boolean) =>
        (
          await analyzePatches([{ name: 'ns.patch', text: patch }], { tree: kernelTreePath(), facts: withFacts ? load().facts : null })
        ).findings.filter((f) => f.rule === 'symbol-namespace');
      const [without] = await run(false);
      assert.equal(without.severity, 'warning');
      const [f] = await run(true);
      assert.equal(f.severity, 'error');
      assert.match(f.message, /Module\.symvers of 6\.1\.0-57-amd64 lists as exported by vmlinux \(EXPORT_SYMBOL_GPL\) in namespace CXL/);
    });
  });
});
