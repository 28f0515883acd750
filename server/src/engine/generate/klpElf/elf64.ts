// A minimal ELF64 little-endian reader and writer for relocatable objects (.o, .ko):
// the section header table, section contents, symbols and RELA entries. Only what
// the livepatch pass needs; anything it does not understand is refused, not guessed.

import { KlpElfError } from './errors';

export const ET_REL = 1;
export const EM_X86_64 = 62;

export const SHT_NULL = 0;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_SYMTAB_SHNDX = 18;

export const SHF_ALLOC = 0x2;
export const SHF_INFO_LINK = 0x40;
/** include/uapi/linux/elf.h: the module loader leaves these sections to the livepatch core. */
export const SHF_RELA_LIVEPATCH = 0x00100000;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
/** include/uapi/linux/elf.h: a symbol the livepatch core resolves through kallsyms. */
export const SHN_LIVEPATCH = 0xff20;
export const SHN_XINDEX = 0xffff;

export const STB_GLOBAL = 1;
export const STB_WEAK = 2;

export const EHDR_SIZE = 64;
export const SHDR_SIZE = 64;
export const SYM_SIZE = 24;
export const RELA_SIZE = 24;

export interface Section {
  name: string;
  /** Offset of the name in the section-name string table. */
  nameOffset: number;
  type: number;
  flags: number;
  addr: bigint;
  /** Offset in the file it was read from (the writer lays sections out anew). */
  offset: number;
  /** For SHT_NOBITS the memory size; otherwise data.length when written. */
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** Contents (empty for SHT_NOBITS). */
  data: Uint8Array;
}

export interface Elf64 {
  /** The 64-byte ELF header as read; the writer patches e_shoff, e_shnum and e_shstrndx. */
  header: Uint8Array;
  type: number;
  machine: number;
  shstrndx: number;
  sections: Section[];
}

export interface Symbol64 {
  index: number;
  name: string;
  nameOffset: number;
  info: number;
  other: number;
  shndx: number;
  value: bigint;
  size: bigint;
}

export interface Rela64 {
  offset: bigint;
  type: number;
  sym: number;
  addend: bigint;
}

function malformed(message: string): KlpElfError {
  return new KlpElfError('klp-elf-malformed', `not a well-formed ELF64 object: ${message}`);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${what} ${v} is too large`);
  return Number(v);
}

/** The NUL-terminated string at `offset` of a string table. */
export function stringAt(table: Uint8Array, offset: number, what: string): string {
  if (offset >= table.length) throw malformed(`${what}: string offset ${offset} is outside its table`);
  const end = table.indexOf(0, offset);
  if (end < 0) throw malformed(`${what}: string at ${offset} is not NUL-terminated`);
  return Buffer.from(table.buffer, table.byteOffset + offset, end - offset).toString('latin1');
}

/**
 * Reads the header and sections; refuses what is not an ELF64 little-endian file. With
 * `alias`, section data are views of `bytes` instead of copies: for readers that only look.
 */
export function readElf64(bytes: Uint8Array, alias = false): Elf64 {
  if (bytes.length < 16 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new KlpElfError('klp-elf-not-elf', 'not an ELF file (bad magic)');
  }
  if (bytes[4] !== 2 || bytes[5] !== 1) {
    throw new KlpElfError(
      'klp-elf-not-x86_64',
      `not a 64-bit little-endian ELF file (class ${bytes[4]}, data ${bytes[5]}); livepatch modules are built for x86_64 here`,
    );
  }
  if (bytes.length < EHDR_SIZE) throw malformed('truncated ELF header');
  const dv = view(bytes);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_X86_64) throw new KlpElfError('klp-elf-not-x86_64', `e_machine is ${machine}, not EM_X86_64 (${EM_X86_64})`);
  if (type !== ET_REL)
    throw new KlpElfError('klp-elf-not-relocatable', `e_type is ${type}, not ET_REL: a kernel module is a relocatable object`);
  const phnum = dv.getUint16(56, true);
  if (phnum !== 0) throw malformed(`a relocatable object with ${phnum} program headers`);
  const shoff = safeNumber(dv.getBigUint64(40, true), 'e_shoff');
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);
  if (shentsize !== SHDR_SIZE) throw malformed(`e_shentsize ${shentsize}`);
  // Extended numbering (e_shnum 0, e_shstrndx SHN_XINDEX) never occurs in a module.
  if (shnum === 0 || shstrndx === SHN_XINDEX) throw malformed('extended section numbering is not supported');
  if (shoff + shnum * SHDR_SIZE > bytes.length) throw malformed('section header table past the end of the file');
  if (shstrndx === SHN_UNDEF || shstrndx >= shnum) throw malformed(`e_shstrndx ${shstrndx}`);

  const sections: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * SHDR_SIZE;
    const type = dv.getUint32(at + 4, true);
    const offset = safeNumber(dv.getBigUint64(at + 24, true), `section ${i} sh_offset`);
    const size = safeNumber(dv.getBigUint64(at + 32, true), `section ${i} sh_size`);
    if (type !== SHT_NOBITS && type !== SHT_NULL && offset + size > bytes.length)
      throw malformed(`section ${i} lies past the end of the file`);
    sections.push({
      name: '',
      nameOffset: dv.getUint32(at, true),
      type,
      flags: safeNumber(dv.getBigUint64(at + 8, true), `section ${i} sh_flags`),
      addr: dv.getBigUint64(at + 16, true),
      offset,
      size,
      link: dv.getUint32(at + 40, true),
      info: dv.getUint32(at + 44, true),
      addralign: safeNumber(dv.getBigUint64(at + 48, true), `section ${i} sh_addralign`),
      entsize: safeNumber(dv.getBigUint64(at + 56, true), `section ${i} sh_entsize`),
      // A copy: Buffer#slice would alias the caller's bytes, which the pass then edits.
      data:
        type === SHT_NOBITS || type === SHT_NULL
          ? new Uint8Array(0)
          : alias
            ? bytes.subarray(offset, offset + size)
            : Uint8Array.from(bytes.subarray(offset, offset + size)),
    });
  }
  const names = sections[shstrndx].data;
  for (const [i, s] of sections.entries()) {
    if (i === 0) continue;
    s.name = stringAt(names, s.nameOffset, `section ${i} name`);
  }
  return { header: Uint8Array.from(bytes.subarray(0, EHDR_SIZE)), type, machine, shstrndx, sections };
}

export function readSymbols(elf: Elf64, symtab: number): Symbol64[] {
  const sec = elf.sections[symtab];
  if (sec.link >= elf.sections.length || elf.sections[sec.link].type !== SHT_STRTAB)
    throw malformed(`symbol table ${sec.name} has no string table`);
  if (sec.data.length % SYM_SIZE !== 0) throw malformed(`symbol table ${sec.name} size is not a multiple of ${SYM_SIZE}`);
  const strtab = elf.sections[sec.link].data;
  const dv = view(sec.data);
  const out: Symbol64[] = [];
  for (let i = 0; i < sec.data.length / SYM_SIZE; i++) {
    const at = i * SYM_SIZE;
    const nameOffset = dv.getUint32(at, true);
    out.push({
      index: i,
      nameOffset,
      name: nameOffset === 0 ? '' : stringAt(strtab, nameOffset, `symbol ${i} name`),
      info: dv.getUint8(at + 4),
      other: dv.getUint8(at + 5),
      shndx: dv.getUint16(at + 6, true),
      value: dv.getBigUint64(at + 8, true),
      size: dv.getBigUint64(at + 16, true),
    });
  }
  return out;
}

/** Rewrites the name, binding and section index of one symbol in place. */
export function patchSymbol(symtab: Section, index: number, patch: { nameOffset: number; info: number; shndx: number }): void {
  const dv = view(symtab.data);
  const at = index * SYM_SIZE;
  dv.setUint32(at, patch.nameOffset, true);
  dv.setUint8(at + 4, patch.info);
  dv.setUint16(at + 6, patch.shndx, true);
}

export function readRelas(sec: Section): Rela64[] {
  if (sec.data.length % RELA_SIZE !== 0) throw malformed(`relocation section ${sec.name} size is not a multiple of ${RELA_SIZE}`);
  const dv = view(sec.data);
  const out: Rela64[] = [];
  for (let at = 0; at < sec.data.length; at += RELA_SIZE) {
    out.push({
      offset: dv.getBigUint64(at, true),
      type: dv.getUint32(at + 8, true),
      sym: dv.getUint32(at + 12, true),
      addend: dv.getBigInt64(at + 16, true),
    });
  }
  return out;
}

/** The raw 24-byte entries `indexes` of RELA section contents, in that order. */
export function relaEntries(data: Uint8Array, indexes: number[]): Uint8Array {
  const out = new Uint8Array(indexes.length * RELA_SIZE);
  indexes.forEach((r, k) => out.set(data.subarray(r * RELA_SIZE, (r + 1) * RELA_SIZE), k * RELA_SIZE));
  return out;
}

/** Appends NUL-terminated strings to a string table; returns the new table and each string's offset. */
export function appendStrings(table: Uint8Array, strings: string[]): { data: Uint8Array; offsets: number[] } {
  const parts = strings.map((s) => Buffer.from(`${s}\0`, 'latin1'));
  const data = new Uint8Array(table.length + parts.reduce((n, p) => n + p.length, 0));
  data.set(table, 0);
  const offsets: number[] = [];
  let at = table.length;
  for (const p of parts) {
    offsets.push(at);
    data.set(p, at);
    at += p.length;
  }
  return { data, offsets };
}

const align = (n: number, a: number) => (a > 1 ? Math.ceil(n / a) * a : n);

/**
 * Lays the file out anew: the ELF header, each section's contents in the order of
 * their original offsets (new sections last), then the section header table.
 * Section indexes are kept; gaps and stale bytes of the input are not carried over.
 */
export function writeElf64(elf: Elf64): Uint8Array {
  const order = elf.sections
    .map((s, i) => ({ s, i }))
    .filter(({ i, s }) => i !== 0 && s.type !== SHT_NOBITS)
    .sort((a, b) => (a.s.offset === b.s.offset ? a.i - b.i : a.s.offset - b.s.offset));
  const offsets = new Map<number, number>();
  let end = EHDR_SIZE;
  for (const { s, i } of order) {
    end = align(end, Math.max(1, s.addralign));
    offsets.set(i, end);
    end += s.data.length;
  }
  const shoff = align(end, 8);
  const out = new Uint8Array(shoff + elf.sections.length * SHDR_SIZE);
  out.set(elf.header, 0);
  const dv = view(out);
  dv.setBigUint64(40, BigInt(shoff), true);
  dv.setUint16(60, elf.sections.length, true);
  dv.setUint16(62, elf.shstrndx, true);
  for (const { s, i } of order) out.set(s.data, offsets.get(i)!);
  elf.sections.forEach((s, i) => {
    const at = shoff + i * SHDR_SIZE;
    if (i === 0 && s.type === SHT_NULL) return; // the null header stays all zero
    const nobits = s.type === SHT_NOBITS;
    dv.setUint32(at, s.nameOffset, true);
    dv.setUint32(at + 4, s.type, true);
    dv.setBigUint64(at + 8, BigInt(s.flags), true);
    dv.setBigUint64(at + 16, s.addr, true);
    dv.setBigUint64(at + 24, BigInt(nobits ? s.offset : offsets.get(i)!), true);
    dv.setBigUint64(at + 32, BigInt(nobits ? s.size : s.data.length), true);
    dv.setUint32(at + 40, s.link, true);
    dv.setUint32(at + 44, s.info, true);
    dv.setBigUint64(at + 48, BigInt(s.addralign), true);
    dv.setBigUint64(at + 56, BigInt(s.entsize), true);
  });
  return out;
}
