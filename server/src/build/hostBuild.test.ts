// Real one-function fixes on the Debian 6.1 tree, generated as patched units, built on
// this machine against the installed 6.1 headers, converted, and checked with readelf:
// every kernel symbol the kept code needs is a `.klp.sym` symbol in SHN_LIVEPATCH and
// its relocations sit in `.klp.rela.<object>.<section>`. The fixes are small diffs
// written for these tests (fixtures/real-6.1), one per kind of binding.

import { describe, it } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installedHeaders, kernelHeaders, kernelTree, kernelTreePath } from '../../../testing/requirements';
import { tempDir } from '../../../testing/tempDir';
import { analyzePatches } from '../engine/analyze';
import { createParser } from '../engine/parse/parser';
import { KernelTree } from '../engine/tree/kernelTree';
import { generatePatchedUnit } from '../engine/generate/patchedUnit';
import { Kallsyms, parseSymversObjects } from '../engine/generate/symbols';
import { buildOnHost, HostBuildError, parseModpost } from './hostBuild';

const FIXTURES = path.join(__dirname, 'fixtures', 'real-6.1');

describe('modpost report', () => {
  it('separates the undefined symbols from every other complaint', () => {
    const log = [
      '  MODPOST /tmp/m/Module.symvers',
      'WARNING: modpost: "force_page_cache_ra" [/tmp/m/livepatch_x.ko] undefined!',
      'WARNING: modpost: "lru_add_drain" [/tmp/m/livepatch_x.ko] undefined!',
      'WARNING: modpost: /tmp/m/livepatch_x.o: section mismatch in reference: foo (section: .text) -> bar (section: .init.text)',
      'ERROR: modpost: missing MODULE_LICENSE() in /tmp/m/other.o',
      'WARNING: modpost: suppressed 12 unresolved symbol warnings because there were too many)',
      '  CC [M]  /tmp/m/livepatch_x.mod.o',
    ].join('\n');
    const r = parseModpost(log);
    assert.deepEqual(r.undefined, ['force_page_cache_ra', 'lru_add_drain']);
    assert.equal(r.suppressed, 12);
    assert.equal(r.other.length, 2);
    assert.match(r.other[0], /section mismatch/);
    assert.match(r.other[1], /missing MODULE_LICENSE/);
  });
});

interface Readelf {
  symbols: { ndx: string; bind: string; name: string }[];
  sections: { name: string; type: string; flags: string }[];
  relocs: Map<string, string[]>;
}

function readelf(ko: string): Readelf {
  const syms = execFileSync('readelf', ['-sW', ko], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*\d+:\s+\S+\s+\d+\s+\S+\s+(\S+)\s+\S+\s+(UND|ABS|COM|OS \[0x[0-9a-f]+\]|\d+)\s*(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ bind: m[1], ndx: m[2], name: m[3] }));
  const sections = execFileSync('readelf', ['-SW', ko], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+\s*$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ name: m[1], type: m[2], flags: m[3] }));
  const relocs = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const l of execFileSync('readelf', ['-rW', ko], { encoding: 'utf8' }).split('\n')) {
    const head = /^Relocation section '([^']+)'/.exec(l);
    if (head) relocs.set(head[1], (current = []));
    else if (current && /^[0-9a-f]{16}/.test(l)) current.push(l.trim().split(/\s+/)[4] ?? '');
  }
  return { symbols: syms, sections, relocs };
}

interface RealCase {
  patch: string;
  what: string;
  object: string;
  functions: string[];
  /** `.klp.sym` names that must be there. */
  klpSymbols: string[];
  kallsyms?: string;
}

const CASES: RealCase[] = [
  {
    patch: 'meminfo-static-function-internal-h.patch',
    what: 'calls a static function of the same file; includes fs/proc/internal.h',
    object: 'vmlinux',
    functions: ['meminfo_proc_show'],
    klpSymbols: ['.klp.sym.vmlinux.show_val_kb,0'],
  },
  {
    patch: 'filesystems-static-data-rwlock.patch',
    what: 'reads static data under a static DEFINE_RWLOCK; the file has a SYSCALL_DEFINE',
    object: 'vmlinux',
    functions: ['fs_name'],
    klpSymbols: ['.klp.sym.vmlinux.file_systems,0', '.klp.sym.vmlinux.file_systems_lock,0', '.klp.sym.vmlinux.put_filesystem,0'],
  },
  {
    patch: 'user-namespace-define-mutex.patch',
    what: 'takes a static DEFINE_MUTEX',
    object: 'vmlinux',
    functions: ['proc_setgroups_write'],
    klpSymbols: ['.klp.sym.vmlinux.userns_state_mutex,0'],
  },
  {
    patch: 'fadvise-mm-internal-h.patch',
    what: 'calls mm/internal.h functions of other files, bound by name after the build',
    object: 'vmlinux',
    functions: ['generic_fadvise'],
    klpSymbols: ['.klp.sym.vmlinux.force_page_cache_ra,0'],
  },
  {
    patch: 'ext4-module-object.patch',
    what: 'patches the ext4 module, calling ext4 functions declared in fs/ext4/ext4.h',
    object: 'ext4',
    functions: ['ext4_ioctl_setlabel'],
    klpSymbols: ['.klp.sym.ext4.ext4_update_superblocks_fn,0', '.klp.sym.ext4.ext4_sb_setlabel,0'],
  },
];

const skip = kernelHeaders() ?? kernelTree();

describe('real 6.1 fixes build on this machine into livepatch modules', { skip }, () => {
  for (const c of CASES) {
    it(`${c.patch}: ${c.what}`, async () => {
      const headers = path.join('/usr/src', installedHeaders()!);
      const tree = kernelTreePath();
      const result = await analyzePatches([{ name: c.patch, text: fs.readFileSync(path.join(FIXTURES, c.patch)) }], { tree });
      assert.deepEqual(
        result.findings.filter((f) => f.severity === 'error'),
        [],
      );
      const exported = parseSymversObjects(fs.readFileSync(path.join(headers, 'Module.symvers'), 'utf8'));
      const kallsyms = c.kallsyms ? new Kallsyms(c.kallsyms) : null;
      const m = generatePatchedUnit(result, {
        name: 'livepatch_real',
        tree: KernelTree.open(tree),
        parser: await createParser(),
        exported,
        kallsyms,
      });
      assert.deepEqual(
        m.functions.map((f) => [f.object, f.oldName]),
        c.functions.map((f) => [c.object, f]),
      );
      const dir = tempDir('klp-real-');
      const b = await buildOnHost({ headersDir: headers, dir, module: m, exported, kallsyms });
      const elf = readelf(b.ko);

      const klp = elf.symbols.filter((s) => s.name.startsWith('.klp.sym.'));
      for (const want of c.klpSymbols)
        assert.ok(
          klp.some((s) => s.name === want),
          `${want} missing; have ${klp.map((s) => s.name).join(' ')}`,
        );
      for (const s of klp) assert.deepEqual([s.ndx, s.bind], ['OS [0xff20]', 'GLOBAL'], s.name);
      // Every .klp.sym symbol belongs to the object its relocation section names.
      const relaSections = elf.sections.filter((s) => s.name.startsWith('.klp.rela.'));
      assert.ok(relaSections.length > 0);
      for (const s of relaSections) {
        const object = /^\.klp\.rela\.([^.]+)\./.exec(s.name)![1];
        assert.deepEqual([s.type, s.flags], ['RELA', 'AIo'], s.name);
        const syms = elf.relocs.get(s.name)!;
        assert.ok(syms.length > 0);
        for (const sym of syms) assert.ok(sym.startsWith(`.klp.sym.${object}.`), `${sym} in ${s.name}`);
      }
      assert.ok(relaSections.some((s) => s.name === `.klp.rela.${c.object}..text`));
      // No placeholder and no symbol the kernel's exports cannot resolve is left for the loader.
      const undefinedLeft = elf.symbols.filter((s) => s.ndx === 'UND' && s.name).map((s) => s.name);
      assert.deepEqual(
        undefinedLeft.filter((s) => s.startsWith('__klp_sym_') || exported.get(s) !== 'vmlinux'),
        [],
      );
      // The original file's registrations are not in the module.
      assert.ok(
        !elf.sections.some((s) => /^\.initcall|^__param$|^\.init\.setup$|^___ksymtab|^__syscalls_metadata$|^_ftrace_events$/.test(s.name)),
        elf.sections.map((s) => s.name).join(' '),
      );
      execFileSync('objcopy', ['-O', 'binary', '--only-section=.modinfo', b.ko, `${b.ko}.modinfo`]);
      const modinfo = fs.readFileSync(`${b.ko}.modinfo`, 'latin1').split('\0');
      assert.ok(modinfo.includes('livepatch=Y') && modinfo.includes('license=GPL'), modinfo.join(' '));
    });
  }

  it('a compile error names the kernel file and line, not the generated one', async () => {
    const headers = path.join('/usr/src', installedHeaders()!);
    const tree = kernelTreePath();
    const bad = fs
      .readFileSync(path.join(FIXTURES, 'user-namespace-define-mutex.patch'), 'utf8')
      .replace('|| (count == 0))', '|| (count == no_such_variable))');
    const result = await analyzePatches([{ name: 'bad.patch', text: bad }], { tree });
    const exported = parseSymversObjects(fs.readFileSync(path.join(headers, 'Module.symvers'), 'utf8'));
    const m = generatePatchedUnit(result, { name: 'livepatch_bad', tree: KernelTree.open(tree), parser: await createParser(), exported });
    await assert.rejects(buildOnHost({ headersDir: headers, dir: tempDir('klp-real-bad-'), module: m, exported }), (e: HostBuildError) => {
      assert.ok(e instanceof HostBuildError);
      assert.ok(
        e.messages.some((l) => /kernel\/user_namespace\.c:1227:\d+: error: .no_such_variable. undeclared/.test(l)),
        e.messages.join('\n'),
      );
      return true;
    });
  });
});
