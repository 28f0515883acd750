// The livepatch ELF pass, checked on objects gcc compiles here and read back with
// binutils' readelf (not with the pass's own reader), and on a real kbuild livepatch
// module built against Debian's 6.1 headers when they are installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { installedHeaders, kernelHeaders } from '../../../../testing/requirements';
import { tempDir } from '../../../../testing/tempDir';
import {
  convertToLivepatchElf,
  decodePlaceholder,
  encodePlaceholder,
  KlpElfError,
  LOAD_TIME_SECTIONS,
  placeholderBinding,
  type KlpElfRule,
  type KlpSymbol,
} from './klpElf';

const FIXTURES = path.join(__dirname, 'fixtures', 'klp-elf');

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, cmd)));
}
// Debian's headers depend on gcc-12, not on the `gcc` package.
const GCC = ['gcc', 'gcc-12'].find(onPath);
const toolchain = GCC && onPath('readelf') ? false : 'no gcc or readelf: apt-get install gcc binutils';

/** Expands @KLP(object,name,sympos)@ into the placeholder binding and @TOKEN@ from `vars`. */
function expand(source: string, vars: Record<string, string> = {}): string {
  return source
    .replace(/@([A-Z]+)@/g, (_, k: string) => vars[k] ?? `@${k}@`)
    .replace(/@KLP\(([^,)]+),([^,)]+),(\d+)\)@/g, (_, object: string, name: string, pos: string) =>
      placeholderBinding({ object, name, sympos: Number(pos) }),
    );
}

/** Compiles C as the kernel does for modules (no PIC, kernel code model) and returns the object. */
function compile(source: string, flags = ['-fno-pic', '-mcmodel=kernel']): Uint8Array {
  const dir = tempDir('klp-elf-');
  fs.writeFileSync(path.join(dir, 'case.c'), source);
  execFileSync(GCC!, ['-c', '-O2', '-fno-common', ...flags, 'case.c', '-o', 'case.o'], { cwd: dir, stdio: 'pipe' });
  return fs.readFileSync(path.join(dir, 'case.o'));
}

function fixture(name: string, vars?: Record<string, string>): Uint8Array {
  return compile(expand(fs.readFileSync(path.join(FIXTURES, name), 'utf8'), vars));
}

interface RSection {
  index: number;
  name: string;
  type: string;
  offset: number;
  size: number;
  entsize: number;
  flags: string;
  link: number;
  info: number;
  align: number;
}
interface RSymbol {
  num: number;
  type: string;
  bind: string;
  ndx: string;
  name: string;
}
interface RReloc {
  offset: string;
  type: string;
  symbol: string;
  addend: string;
}
interface Readelf {
  sections: RSection[];
  symbols: RSymbol[];
  relocs: Map<string, RReloc[]>;
}

/** `readelf -W -S -s -r`, parsed. */
function readelf(elf: Uint8Array): Readelf {
  const dir = tempDir('klp-readelf-');
  const file = path.join(dir, 'x.o');
  fs.writeFileSync(file, elf);
  const r = spawnSync('readelf', ['-W', '-S', '-s', '-r', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning|error/i, 'readelf finds the file well-formed');
  const out: Readelf = { sections: [], symbols: [], relocs: new Map() };
  let relocs: RReloc[] | undefined;
  for (const line of r.stdout.split('\n')) {
    let m =
      /^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+[0-9a-f]{16}\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([A-Za-z]*)\s+(\d+)\s+(\d+)\s+(\d+)$/.exec(
        line,
      );
    if (m) {
      out.sections.push({
        index: +m[1],
        name: m[2],
        type: m[3],
        offset: parseInt(m[4], 16),
        size: parseInt(m[5], 16),
        entsize: parseInt(m[6], 16),
        flags: m[7],
        link: +m[8],
        info: +m[9],
        align: +m[10],
      });
      continue;
    }
    m = /^Relocation section '([^']+)'/.exec(line);
    if (m) {
      relocs = [];
      out.relocs.set(m[1], relocs);
      continue;
    }
    m = /^([0-9a-f]{16})\s+[0-9a-f]{16}\s+(\S+)\s+[0-9a-f]{16}\s+(.+) ([+-] [0-9a-f]+)$/.exec(line);
    if (m && relocs) {
      relocs.push({ offset: m[1], type: m[2], symbol: m[3], addend: m[4] });
      continue;
    }
    m = /^\s*(\d+): [0-9a-f]{16}\s+\d+\s+(\S+)\s+(\S+)\s+\S+\s+(OS \[0x[0-9a-f]+\]|\S+) ?(.*)$/.exec(line);
    if (m) out.symbols.push({ num: +m[1], type: m[2], bind: m[3], ndx: m[4], name: m[5] });
  }
  return out;
}

function bytesOf(elf: Uint8Array, s: RSection): Buffer {
  return Buffer.from(s.type === 'NOBITS' ? [] : elf.subarray(s.offset, s.offset + s.size));
}

function refusal(fn: () => unknown, rule: KlpElfRule, symbol?: string, section?: string): KlpElfError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof KlpElfError, `expected a KlpElfError [${rule}], got ${String(caught)}`);
  assert.equal(caught.rule, rule, caught.message);
  assert.match(caught.message, new RegExp(`\\[${rule}\\]$`));
  if (symbol !== undefined) {
    assert.equal(caught.symbol, symbol);
    assert.ok(caught.message.includes(symbol), caught.message);
  }
  if (section !== undefined) {
    assert.equal(caught.section, section);
    assert.ok(caught.message.includes(section), caught.message);
  }
  return caught;
}

const OBJECT = fc.stringMatching(/^[A-Za-z0-9_]{1,55}$/);
const NAME = fc.stringMatching(/^[A-Za-z0-9_.$]{1,511}$/);
const KLP_SYMBOL = fc.record({ object: OBJECT, name: NAME, sympos: fc.nat() });

test("property: placeholders decode to the symbol they encode, in the assembler's character set", () => {
  fc.assert(
    fc.property(KLP_SYMBOL, (sym: KlpSymbol) => {
      const p = encodePlaceholder(sym);
      assert.match(p, /^[A-Za-z0-9_.$]+$/);
      assert.deepEqual(decodePlaceholder(p), { ...sym });
    }),
    { seed: 12, numRuns: 3000 },
  );
});

test('property: a placeholder has one spelling (text that decodes re-encodes to itself), and anything else is refused', () => {
  const prefix = fc.constantFrom('__klp_sym_', '__klp_sym_7_vmlinux_', '__klp_sym_3_a_b_');
  const tail = fc.string({ unit: fc.constantFrom('0', '1', '2', '7', '_', 'a', 'b', '.', ',', '$'), maxLength: 24 });
  fc.assert(
    fc.property(prefix, tail, (p, t) => {
      const text = p + t;
      let sym: KlpSymbol;
      try {
        sym = decodePlaceholder(text);
      } catch (e) {
        assert.ok(e instanceof KlpElfError && e.rule === 'klp-placeholder-malformed', String(e));
        assert.equal(e.symbol, text);
        return;
      }
      assert.equal(encodePlaceholder(sym), text);
    }),
    { seed: 12, numRuns: 20000 },
  );
});

test('placeholders keep fields apart whatever digits and underscores the names hold', () => {
  const tricky: KlpSymbol[] = [
    { object: 'a_1', name: '_2_b_', sympos: 10 },
    { object: '_', name: '_', sympos: 0 },
    { object: 'vmlinux', name: '7_vmlinux_18_x_0', sympos: 1 },
    { object: 'nf_conntrack', name: 'hash_conntrack_raw.constprop.0', sympos: 3 },
  ];
  for (const sym of tricky) assert.deepEqual(decodePlaceholder(encodePlaceholder(sym)), sym);
  assert.equal(
    encodePlaceholder({ object: 'vmlinux', name: 'saved_command_line', sympos: 0 }),
    '__klp_sym_7_vmlinux_18_saved_command_line_0',
  );
});

test('symbols the kernel could not parse back are not encoded', () => {
  refusal(() => encodePlaceholder({ object: 'nf-conntrack', name: 'x', sympos: 0 }), 'klp-placeholder-unencodable');
  refusal(() => encodePlaceholder({ object: 'a.b', name: 'x', sympos: 0 }), 'klp-placeholder-unencodable');
  refusal(() => encodePlaceholder({ object: 'x'.repeat(56), name: 'x', sympos: 0 }), 'klp-placeholder-unencodable');
  refusal(() => encodePlaceholder({ object: 'vmlinux', name: 'a,b', sympos: 0 }), 'klp-placeholder-unencodable', 'a,b');
  refusal(() => encodePlaceholder({ object: 'vmlinux', name: 'x'.repeat(512), sympos: 0 }), 'klp-placeholder-unencodable');
  refusal(() => encodePlaceholder({ object: 'vmlinux', name: 'x', sympos: -1 }), 'klp-placeholder-unencodable');
  refusal(() => decodePlaceholder('__klp_sym_7_vmlinux_1_x_01'), 'klp-placeholder-malformed', '__klp_sym_7_vmlinux_1_x_01');
  refusal(() => decodePlaceholder('__klp_sym_07_vmlinux_1_x_1'), 'klp-placeholder-malformed');
});

test('gcc and the assembler take every placeholder spelling, and the pass names each symbol back', { skip: toolchain }, () => {
  const syms: KlpSymbol[] = [
    { object: 'vmlinux', name: 'foo.isra.0', sympos: 3 },
    { object: 'vmlinux', name: 'a$b', sympos: 0 },
    { object: 'vmlinux', name: '__x__', sympos: 1 },
    { object: 'btrfs', name: 'y'.repeat(511), sympos: 0 },
  ];
  const src =
    syms.map((s, i) => `extern int v${i} ${placeholderBinding(s)};`).join('\n') +
    `\nint klp_sum(void) { return ${syms.map((_, i) => `v${i}`).join(' + ')}; }\n`;
  const obj = compile(src);
  const before = readelf(obj).symbols.map((s) => s.name);
  for (const s of syms) assert.ok(before.includes(encodePlaceholder(s)), `${encodePlaceholder(s)} is in the object's symbol table`);
  const after = readelf(convertToLivepatchElf(obj, { objects: ['btrfs'] }).elf).symbols;
  for (const s of syms) {
    const sym = after.find((x) => x.name === `.klp.sym.${s.object}.${s.name},${s.sympos}`);
    assert.ok(sym, `.klp.sym.${s.object}.${s.name.slice(0, 20)}… is in the result`);
    assert.equal(sym.ndx, 'OS [0xff20]');
  }
});

test(
  'placeholders become .klp.sym symbols and their relocations move to one .klp.rela section per object and section; nothing else changes',
  { skip: toolchain },
  () => {
    const input = fixture('vmlinux-and-module-symbols.c');
    const pristine = Buffer.from(input);
    const result = convertToLivepatchElf(input);
    assert.deepEqual(Buffer.from(input), pristine, 'the input is left alone');
    const a = readelf(input);
    const b = readelf(result.elf);

    // Symbols: renamed, SHN_LIVEPATCH, global (the weak binding only served modpost); indexes unchanged.
    const renamed = new Map([
      [encodePlaceholder({ object: 'vmlinux', name: 'vfn.isra.0', sympos: 0 }), '.klp.sym.vmlinux.vfn.isra.0,0'],
      [encodePlaceholder({ object: 'vmlinux', name: 'vvar', sympos: 2 }), '.klp.sym.vmlinux.vvar,2'],
      [encodePlaceholder({ object: 'ext4', name: 'ext4_var', sympos: 0 }), '.klp.sym.ext4.ext4_var,0'],
    ]);
    assert.equal(b.symbols.length, a.symbols.length);
    a.symbols.forEach((s, i) => {
      const t = b.symbols[i];
      const klp = renamed.get(s.name);
      if (klp) {
        assert.equal(s.ndx, 'UND');
        assert.deepEqual([t.name, t.ndx, t.bind, t.type], [klp, 'OS [0xff20]', 'GLOBAL', s.type]);
      } else {
        assert.deepEqual(t, s, `symbol ${i} ${s.name} is unchanged`);
      }
    });
    assert.equal(b.symbols.filter((s) => s.name.startsWith('__klp_sym_')).length, 0);

    // Sections: every original one keeps its index, name, type, flags, link, info and alignment.
    const original = a.sections.length;
    for (const s of a.sections) {
      const t = b.sections[s.index];
      assert.deepEqual(
        [t.name, t.type, t.flags, t.link, t.info, t.align, t.entsize],
        [s.name, s.type, s.flags, s.link, s.info, s.align, s.entsize],
        `section ${s.name}`,
      );
    }
    const symtab = a.sections.find((s) => s.type === 'SYMTAB')!;
    const index = (name: string) => a.sections.find((s) => s.name === name)!.index;
    const added = b.sections.slice(original);
    assert.deepEqual(
      added.map((s) => [s.name, s.type, s.flags, s.link, s.info, s.align, s.entsize]),
      [
        ['.klp.rela.vmlinux..text', 'RELA', 'AIo', symtab.index, index('.text'), 8, 24],
        ['.klp.rela.ext4..text', 'RELA', 'AIo', symtab.index, index('.text'), 8, 24],
        ['.klp.rela.vmlinux..data', 'RELA', 'AIo', symtab.index, index('.data'), 8, 24],
        ['.klp.rela.ext4..data', 'RELA', 'AIo', symtab.index, index('.data'), 8, 24],
      ],
    );
    assert.deepEqual(
      result.sections.map((s) => [s.index, s.object, s.targetName, s.relocations]),
      [
        [original, 'vmlinux', '.text', b.relocs.get('.klp.rela.vmlinux..text')?.length],
        [original + 1, 'ext4', '.text', b.relocs.get('.klp.rela.ext4..text')?.length],
        [original + 2, 'vmlinux', '.data', b.relocs.get('.klp.rela.vmlinux..data')?.length],
        [original + 3, 'ext4', '.data', b.relocs.get('.klp.rela.ext4..data')?.length],
      ],
    );

    // Relocations: each one against a placeholder moved, in order, with offset, type and
    // addend intact, to the section of its symbol's object; the others stayed.
    for (const [relName, entries] of a.relocs) {
      const target = relName.replace(/^\.rela/, '');
      const stays = entries.filter((e) => !renamed.has(e.symbol));
      assert.deepEqual(b.relocs.get(relName) ?? [], stays, `${relName} keeps the others`);
      for (const object of ['vmlinux', 'ext4']) {
        const moved = entries
          .filter((e) => renamed.get(e.symbol)?.startsWith(`.klp.sym.${object}.`))
          .map((e) => ({ ...e, symbol: renamed.get(e.symbol)! }));
        assert.deepEqual(b.relocs.get(`.klp.rela.${object}.${target}`) ?? [], moved, `${object} relocations of ${target}`);
      }
    }
    assert.equal(b.relocs.get('.klp.rela.vmlinux..text')!.length, 2, 'vfn and vvar from .text');
    assert.equal(b.relocs.get('.klp.rela.ext4..data')!.length, 1, '&ext4_var in klp_ptrs');

    // Contents: byte-identical but for the symbol table entries, the appended strings and
    // the relocation sections that lost entries.
    const changedRelas = new Set(['.rela.text', '.rela.data']);
    for (const s of a.sections) {
      const t = b.sections[s.index];
      const x = bytesOf(input, s);
      const y = bytesOf(result.elf, t);
      if (s.type === 'STRTAB') assert.deepEqual(y.subarray(0, x.length), x, `${s.name} only grows`);
      else if (s.type === 'SYMTAB') {
        assert.equal(y.length, x.length);
        for (const sym of a.symbols) {
          if (renamed.has(sym.name)) continue;
          assert.deepEqual(
            y.subarray(sym.num * 24, sym.num * 24 + 24),
            x.subarray(sym.num * 24, sym.num * 24 + 24),
            `symbol entry ${sym.num} ${sym.name}`,
          );
        }
      } else if (!changedRelas.has(s.name)) assert.deepEqual(y, x, `${s.name} is byte-identical`);
    }
  },
);

test('relocations to a section the loader does not load stay where they are', { skip: toolchain }, () => {
  const placeholder = encodePlaceholder({ object: 'vmlinux', name: 'vvar', sympos: 0 });
  const out = readelf(convertToLivepatchElf(fixture('placeholder-in-unloaded-section.c', { PLACEHOLDER: placeholder })).elf);
  // apply_relocations() skips them, and a module's relocations written there later
  // would land in the freed load image: they are left alone, with the renamed symbol.
  assert.deepEqual(
    out.relocs.get('.rela.note.klp_unloaded')?.map((r) => [r.type, r.symbol]),
    [['R_X86_64_64', '.klp.sym.vmlinux.vvar,0']],
  );
  assert.deepEqual(
    [...out.relocs.keys()].filter((k) => k.startsWith('.klp.rela.')),
    ['.klp.rela.vmlinux..text'],
  );
});

test('an object without placeholders is returned as it is, so running the pass twice changes nothing', { skip: toolchain }, () => {
  const once = convertToLivepatchElf(fixture('vmlinux-and-module-symbols.c')).elf;
  const twice = convertToLivepatchElf(once);
  assert.deepEqual(twice.symbols, []);
  assert.deepEqual(Buffer.from(twice.elf), Buffer.from(once));
});

test(
  'a module symbol in any section the kernel reads while the patch module loads is refused; a vmlinux symbol there is fine',
  { skip: toolchain },
  () => {
    for (const section of LOAD_TIME_SECTIONS.keys()) {
      refusal(
        () => convertToLivepatchElf(fixture('symbol-in-load-time-section.c', { SECTION: section, OBJECT: 'ext4' })),
        'klp-reloc-in-special-section',
        'target_var',
        section,
      );
    }
    for (const section of ['__jump_table', '.static_call_sites', '.altinstructions']) {
      const out = convertToLivepatchElf(fixture('symbol-in-load-time-section.c', { SECTION: section, OBJECT: 'vmlinux' }));
      assert.deepEqual(
        out.sections.map((s) => s.name),
        [`.klp.rela.vmlinux.${section}`],
      );
      const rel = readelf(out.elf).relocs.get(`.klp.rela.vmlinux.${section}`);
      assert.deepEqual(
        rel?.map((r) => [r.type, r.symbol]),
        [['R_X86_64_64', '.klp.sym.vmlinux.target_var,0']],
      );
    }
  },
);

test('a module symbol in an init section is refused', { skip: toolchain }, () => {
  refusal(() => convertToLivepatchElf(fixture('module-symbol-in-init-section.c')), 'klp-reloc-in-init-section', 'ext4_var', '.init.data');
});

test('a symbol of a module the patch does not patch is refused when the patched objects are given', { skip: toolchain }, () => {
  const obj = fixture('vmlinux-and-module-symbols.c');
  refusal(() => convertToLivepatchElf(obj, { objects: ['btrfs'] }), 'klp-reloc-object-not-patched', 'ext4_var', '.text');
  assert.equal(convertToLivepatchElf(obj, { objects: ['ext4'] }).sections.length, 4);
});

test('malformed and defined placeholders are refused, naming them', { skip: toolchain }, () => {
  refusal(() => convertToLivepatchElf(fixture('malformed-placeholder.c')), 'klp-placeholder-malformed', '__klp_sym_7_vmlinux_99_bad_0');
  const defined = encodePlaceholder({ object: 'vmlinux', name: 'klp_defined', sympos: 0 });
  refusal(() => convertToLivepatchElf(fixture('defined-placeholder.c')), 'klp-placeholder-defined', defined);
});

test('a relocation type the module loader cannot write is refused', { skip: toolchain }, () => {
  const src = expand(fs.readFileSync(path.join(FIXTURES, 'got-relocation.c'), 'utf8'));
  refusal(() => convertToLivepatchElf(compile(src, ['-fPIC'])), 'klp-reloc-type-unsupported', 'pic_var', '.text');
});

test('only x86_64 relocatable ELF64 objects are accepted', { skip: toolchain }, () => {
  const obj = fixture('vmlinux-and-module-symbols.c');
  const patched = (at: number, bytes: number[]) => {
    const copy = Uint8Array.from(obj);
    copy.set(bytes, at);
    return copy;
  };
  refusal(() => convertToLivepatchElf(patched(18, [183, 0])), 'klp-elf-not-x86_64'); // EM_AARCH64
  refusal(() => convertToLivepatchElf(patched(4, [1])), 'klp-elf-not-x86_64'); // ELFCLASS32
  refusal(() => convertToLivepatchElf(patched(5, [2])), 'klp-elf-not-x86_64'); // big-endian
  refusal(() => convertToLivepatchElf(patched(16, [2, 0])), 'klp-elf-not-relocatable'); // ET_EXEC
  refusal(() => convertToLivepatchElf(fs.readFileSync(process.execPath)), 'klp-elf-not-relocatable'); // a real executable
  refusal(() => convertToLivepatchElf(Buffer.from('#!/bin/sh\necho not elf\n')), 'klp-elf-not-elf');
  refusal(() => convertToLivepatchElf(obj.subarray(0, obj.length - 100)), 'klp-elf-malformed');
});

// A real livepatch module against Debian's 6.1 headers (CI installs them: .ci/run).
const headers = installedHeaders();

function kbuild(ccflags: string) {
  const kdir = path.join('/usr/src', headers!);
  const dir = tempDir('klp-elf-kbuild-');
  fs.writeFileSync(
    path.join(dir, 'livepatch_cmdline.c'),
    expand(fs.readFileSync(path.join(FIXTURES, 'cmdline-livepatch', 'livepatch_cmdline.c'), 'utf8')),
  );
  fs.writeFileSync(path.join(dir, 'Kbuild'), `obj-m += livepatch_cmdline.o\nccflags-y += ${ccflags}\n`);
  const r = spawnSync('make', ['-C', kdir, `M=${dir}`, 'modules'], { encoding: 'utf8' });
  return { ...r, ko: path.join(dir, 'livepatch_cmdline.ko') };
}

test(
  'a kbuild livepatch module reading saved_command_line through a placeholder builds and converts',
  { skip: kernelHeaders() ?? toolchain },
  () => {
    assert.ok(headers, 'linux-headers-6.1.0-*-amd64 is required');
    const r = kbuild('');
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /undefined!|WARNING/, 'modpost lets the weak placeholder through without a word');
    const out = convertToLivepatchElf(fs.readFileSync(r.ko), { objects: [] });
    const b = readelf(out.elf);
    const rela = b.sections.find((s) => s.name === '.klp.rela.vmlinux..text');
    assert.ok(rela, b.sections.map((s) => s.name).join(' '));
    assert.deepEqual([rela.type, rela.flags, rela.align], ['RELA', 'AIo', 8]);
    assert.equal(b.sections[rela.info].name, '.text');
    assert.equal(b.sections[rela.link].type, 'SYMTAB');
    assert.deepEqual(
      b.relocs.get('.klp.rela.vmlinux..text')!.map((e) => [e.type, e.symbol, e.addend]),
      [['R_X86_64_PC32', '.klp.sym.vmlinux.saved_command_line,0', '- 4']],
    );
    const sym = b.symbols.find((s) => s.name === '.klp.sym.vmlinux.saved_command_line,0');
    assert.deepEqual([sym?.ndx, sym?.bind], ['OS [0xff20]', 'GLOBAL']);
    assert.ok(!b.symbols.some((s) => s.ndx === 'UND' && s.name.startsWith('__klp_sym_')), 'no placeholder is left for the loader');
    // The module is still one modinfo reads as a livepatch module.
    const converted = path.join(path.dirname(r.ko), 'converted.ko');
    fs.writeFileSync(converted, out.elf);
    execFileSync('objcopy', ['-O', 'binary', '--only-section=.modinfo', converted, `${converted}.modinfo`]);
    assert.ok(fs.readFileSync(`${converted}.modinfo`, 'latin1').split('\0').includes('livepatch=Y'));
  },
);

test(
  'modpost still fails on an undefined symbol that is not a placeholder, and names only that one',
  { skip: kernelHeaders() ?? toolchain },
  () => {
    assert.ok(headers, 'linux-headers-6.1.0-*-amd64 is required');
    const r = kbuild('-DKLP_CALL_UNDEFINED');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ERROR: modpost: "klp_no_such_symbol" \[.*livepatch_cmdline\.ko\] undefined!/);
    assert.doesNotMatch(r.stderr, /__klp_sym_/);
  },
);
