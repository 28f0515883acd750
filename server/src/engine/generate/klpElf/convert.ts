// The pass itself: placeholder symbols become livepatch symbols, and the relocations
// against them move into `.klp.rela.<object>.<section>` sections, one per object that
// defines the symbols and per section they apply to. Everything else is kept as it was.

import {
  appendStrings,
  patchSymbol,
  readElf64,
  readRelas,
  readSymbols,
  relaEntries,
  RELA_SIZE,
  SHF_ALLOC,
  SHF_INFO_LINK,
  SHF_RELA_LIVEPATCH,
  SHN_LIVEPATCH,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHT_REL,
  SHT_RELA,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_GLOBAL,
  writeElf64,
  type Section,
} from './elf64';
import { KlpElfError, type KlpElfRule } from './errors';
import { decodePlaceholder, isPlaceholder, klpSymbolName, type KlpSymbol } from './placeholder';
import { isInitSection, LOAD_TIME_SECTIONS } from './specialSections';

export interface KlpElfOptions {
  /**
   * The module objects the patch has a klp_object for. The livepatch core writes a
   * module's `.klp.rela` sections only for those (klp_apply_object_relocs()); when
   * given, a symbol of any other module is refused.
   */
  objects?: readonly string[];
}

export interface ConvertedSymbol extends KlpSymbol {
  index: number;
  placeholder: string;
  klpName: string;
}

export interface KlpRelaSection {
  index: number;
  name: string;
  object: string;
  /** Index and name of the section the relocations apply to. */
  target: number;
  targetName: string;
  relocations: number;
}

export interface KlpElfResult {
  elf: Uint8Array;
  symbols: ConvertedSymbol[];
  sections: KlpRelaSection[];
}

// The relocation types arch/x86/kernel/module.c (__apply_relocate_add) can write.
const X86_64_RELOCS = new Map([
  [0, 'R_X86_64_NONE'],
  [1, 'R_X86_64_64'],
  [2, 'R_X86_64_PC32'],
  [4, 'R_X86_64_PLT32'],
  [10, 'R_X86_64_32'],
  [11, 'R_X86_64_32S'],
  [24, 'R_X86_64_PC64'],
]);

/** Turns a built kbuild `.ko` (or `.o`) holding placeholder symbols into a livepatch module. */
export function convertToLivepatchElf(input: Uint8Array, options: KlpElfOptions = {}): KlpElfResult {
  const elf = readElf64(input);
  const { sections } = elf;
  if (sections.some((s) => s.type === SHT_SYMTAB_SHNDX))
    throw new KlpElfError('klp-elf-malformed', 'extended symbol section indexes (SHT_SYMTAB_SHNDX) are not supported');
  const symtabs = sections.flatMap((s, i) => (s.type === SHT_SYMTAB ? [i] : []));
  if (symtabs.length !== 1) throw new KlpElfError('klp-elf-malformed', `expected one symbol table, found ${symtabs.length}`);
  const symtab = symtabs[0];
  const symbols = readSymbols(elf, symtab);

  const placeholders = new Map<number, ConvertedSymbol>();
  for (const s of symbols) {
    if (!isPlaceholder(s.name)) continue;
    const sym = decodePlaceholder(s.name);
    if (s.shndx !== SHN_UNDEF) {
      throw new KlpElfError(
        'klp-placeholder-defined',
        `livepatch placeholder '${s.name}' is defined in the object (section index ${s.shndx}); it must stay an undefined reference`,
        s.name,
      );
    }
    placeholders.set(s.index, { ...sym, index: s.index, placeholder: s.name, klpName: klpSymbolName(sym) });
  }
  if (placeholders.size === 0) return { elf: Uint8Array.from(input), symbols: [], sections: [] };

  const refuse = (rule: KlpElfRule, why: string, p: ConvertedSymbol, section: string) =>
    new KlpElfError(rule, `${p.object} symbol '${p.name}' (${p.placeholder}) referenced from section ${section}: ${why}`, p.name, section);

  const added: { section: Section; info: KlpRelaSection }[] = [];
  const originalCount = sections.length;
  for (let r = 1; r < originalCount; r++) {
    const rel = sections[r];
    if (rel.type === SHT_REL) {
      // Elf64_Rel: r_offset, r_info (type in the low word, symbol in the high word).
      const dv = new DataView(rel.data.buffer, rel.data.byteOffset, rel.data.byteLength);
      for (let at = 0; at + 16 <= rel.data.length; at += 16) {
        const p = placeholders.get(dv.getUint32(at + 12, true));
        if (p) throw refuse('klp-reloc-not-rela', 'an SHT_REL relocation, which the x86_64 module loader does not apply', p, rel.name);
      }
      continue;
    }
    if (rel.type !== SHT_RELA || rel.flags & SHF_RELA_LIVEPATCH) continue;
    if (rel.link !== symtab)
      throw new KlpElfError('klp-elf-malformed', `relocation section ${rel.name} does not use the symbol table`, undefined, rel.name);
    if (rel.info === 0 || rel.info >= originalCount)
      throw new KlpElfError(
        'klp-elf-malformed',
        `relocation section ${rel.name} applies to section ${rel.info}, which does not exist`,
        undefined,
        rel.name,
      );
    const target = sections[rel.info];
    // The loader never applies relocations to sections it does not load (debug
    // info): apply_relocations() skips them, so they stay where they are.
    if (!(target.flags & SHF_ALLOC)) continue;

    const relas = readRelas(rel);
    const byObject = new Map<string, number[]>();
    const kept: number[] = [];
    relas.forEach((e, k) => {
      const p = placeholders.get(e.sym);
      if (!p) {
        kept.push(k);
        return;
      }
      if (!X86_64_RELOCS.has(e.type))
        throw refuse(
          'klp-reloc-type-unsupported',
          `relocation type ${e.type} at offset 0x${e.offset.toString(16)}, which the x86_64 module loader cannot write`,
          p,
          target.name,
        );
      if (p.object !== 'vmlinux') {
        const use = LOAD_TIME_SECTIONS.get(target.name);
        if (use) {
          throw refuse(
            'klp-reloc-in-special-section',
            `the kernel reads ${target.name} (${use}) while the patch module loads, but relocations against module '${p.object}' are written only when that module is loaded; use a vmlinux symbol or keep the reference out of this section`,
            p,
            target.name,
          );
        }
        if (isInitSection(target.name)) {
          throw refuse(
            'klp-reloc-in-init-section',
            `init sections are freed after the patch module's init, and relocations against module '${p.object}' may be written later, when that module loads`,
            p,
            target.name,
          );
        }
        if (options.objects && !options.objects.includes(p.object)) {
          throw refuse(
            'klp-reloc-object-not-patched',
            `the patch has no klp_object for module '${p.object}', and the livepatch core writes a module's relocations only for its patched objects`,
            p,
            target.name,
          );
        }
      }
      const group = byObject.get(p.object) ?? [];
      group.push(k);
      byObject.set(p.object, group);
    });
    if (byObject.size === 0) continue;

    const all = rel.data;
    rel.data = relaEntries(all, kept);
    for (const [object, group] of byObject) {
      const name = `.klp.rela.${object}.${target.name}`;
      const section: Section = {
        name,
        nameOffset: 0,
        type: SHT_RELA,
        // SHF_ALLOC keeps the section in memory after load: a module's relocations are
        // written when that module loads, possibly long after the patch module.
        flags: SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH,
        addr: 0n,
        // Placed after every original section (writeElf64 orders by offset).
        offset: Number.MAX_SAFE_INTEGER,
        size: group.length * RELA_SIZE,
        link: symtab,
        info: rel.info,
        // Elf64_Rela is read in place through sh_addr (klp_resolve_symbols()).
        addralign: 8,
        entsize: RELA_SIZE,
        data: relaEntries(all, group),
      };
      added.push({ section, info: { index: 0, name, object, target: rel.info, targetName: target.name, relocations: group.length } });
    }
  }

  if (originalCount + added.length >= SHN_LORESERVE) {
    throw new KlpElfError(
      'klp-elf-too-many-sections',
      `the module would have ${originalCount + added.length} sections; ELF needs extended numbering past ${SHN_LORESERVE - 1}`,
    );
  }

  // Symbols: new names at the end of their string table, SHN_LIVEPATCH, global.
  const converted = [...placeholders.values()];
  const strtab = sections[sections[symtab].link];
  const names = appendStrings(
    strtab.data,
    converted.map((p) => p.klpName),
  );
  strtab.data = names.data;
  converted.forEach((p, k) => {
    const type = symbols[p.index].info & 0xf;
    patchSymbol(sections[symtab], p.index, { nameOffset: names.offsets[k], info: (STB_GLOBAL << 4) | type, shndx: SHN_LIVEPATCH });
  });

  // Sections: appended, their names at the end of the section-name table.
  const shstrtab = sections[elf.shstrndx];
  const unique = [...new Set(added.map((a) => a.section.name))];
  const secNames = appendStrings(shstrtab.data, unique);
  shstrtab.data = secNames.data;
  for (const a of added) {
    a.section.nameOffset = secNames.offsets[unique.indexOf(a.section.name)];
    a.info.index = sections.length;
    sections.push(a.section);
  }

  return { elf: writeElf64(elf), symbols: converted, sections: added.map((a) => a.info) };
}
