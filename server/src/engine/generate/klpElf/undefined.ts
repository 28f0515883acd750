// The other half of binding: symbols the patched file reaches through headers (another
// file's non-exported function, a subsystem's global) are plain undefined references
// in the built object. Reading them out, and renaming the ones chosen to placeholders,
// lets convertToLivepatchElf() treat them like the ones the C source bound itself.

import { appendStrings, patchSymbol, readElf64, readSymbols, SHN_UNDEF, SHT_SYMTAB, writeElf64 } from './elf64';
import { KlpElfError } from './errors';
import { encodePlaceholder, isPlaceholder, type KlpSymbol } from './placeholder';

export interface UndefinedSymbol {
  name: string;
  /** STB_WEAK (2) or STB_GLOBAL (1). */
  bind: number;
}

function symtabOf(elf: ReturnType<typeof readElf64>): number {
  const idx = elf.sections.flatMap((s, i) => (s.type === SHT_SYMTAB ? [i] : []));
  if (idx.length !== 1) throw new KlpElfError('klp-elf-malformed', `expected one symbol table, found ${idx.length}`);
  return idx[0];
}

/** The undefined symbols of an object, placeholders excluded. */
export function undefinedSymbols(bytes: Uint8Array): UndefinedSymbol[] {
  const elf = readElf64(bytes);
  return readSymbols(elf, symtabOf(elf))
    .filter((s) => s.index > 0 && s.shndx === SHN_UNDEF && s.name && !isPlaceholder(s.name))
    .map((s) => ({ name: s.name, bind: s.info >> 4 }));
}

/** Renames the undefined symbols named in `bind` to their placeholders; the rest is unchanged. */
export function bindUndefined(bytes: Uint8Array, bind: ReadonlyMap<string, KlpSymbol>): Uint8Array {
  if (!bind.size) return Uint8Array.from(bytes);
  const elf = readElf64(bytes);
  const symtab = symtabOf(elf);
  const targets = readSymbols(elf, symtab).filter((s) => s.index > 0 && s.shndx === SHN_UNDEF && bind.has(s.name));
  if (!targets.length) return Uint8Array.from(bytes);
  const strtab = elf.sections[elf.sections[symtab].link];
  const names = appendStrings(
    strtab.data,
    targets.map((s) => encodePlaceholder(bind.get(s.name)!)),
  );
  strtab.data = names.data;
  targets.forEach((s, k) => patchSymbol(elf.sections[symtab], s.index, { nameOffset: names.offsets[k], info: s.info, shndx: SHN_UNDEF }));
  return writeElf64(elf);
}
