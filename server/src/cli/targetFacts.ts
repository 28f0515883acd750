// Reads the target facts from files: kallsyms or System.map, Module.symvers, the .config and
// a modules folder whose .ko files keep their symbol tables (Debian's linux-image package,
// or /lib/modules/<release>/kernel). scripts/fetch-target-facts.sh puts all four in
// ~/.cache/kernel-livepatch/targets/<release>/. The engine only sees the parsed TargetFacts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { PatchError } from '../engine/diff/readPatch';
import { parseKernelConfig, readConfigFile } from '../engine/tree/kernelTree';
import { Kallsyms, parseSymversEntries } from '../engine/target/symbols';
import type { TargetFacts } from '../engine/target/facts';
import {
  readElf64,
  readSymbols,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_WEAK,
  type Elf64,
} from '../engine/generate/klpElf/elf64';

/** kallsyms of a big distribution kernel is ~20 MB; anything past this is not one. */
export const MAX_SYMBOL_FILE_BYTES = 256 * 1024 * 1024;
/** A .ko bigger than this is not read (the biggest Debian 6.1 module is ~20 MB). */
const MAX_MODULE_BYTES = 128 * 1024 * 1024;

const SHF_WRITE = 0x1;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const STT_SECTION = 3;
const STT_FILE = 4;
const SHN_ABS = 0xfff1;

/** A release string: what `uname -r` prints, and nothing that could walk out of a folder. */
const RELEASE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/;

export interface TargetFactFiles {
  kallsyms?: string | null;
  symvers?: string | null;
  config?: string | null;
  modulesDir?: string | null;
}

export interface LoadedFacts {
  facts: TargetFacts;
  /** What the loader could not use (a .ko it could not read, compressed modules). */
  notes: string[];
}

function readSymbolFile(file: string, what: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new PatchError(`${what} '${file}' cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // A FIFO or /dev/zero would hang or eat memory.
  if (!st.isFile()) throw new PatchError(`${what} '${file}' is not a regular file`);
  if (st.size > MAX_SYMBOL_FILE_BYTES) throw new PatchError(`${what} '${file}' is larger than ${MAX_SYMBOL_FILE_BYTES / 1048576} MB`);
  return fs.readFileSync(file, 'utf8');
}

/** nm's letter for an ELF symbol: t text, d data, r read-only, b bss; upper case when global. */
function symbolType(elf: Elf64, shndx: number, bind: number): string | null {
  let t: string;
  if (shndx === SHN_UNDEF) return null;
  if (shndx === SHN_ABS) t = 'a';
  else if (shndx >= SHN_LORESERVE || shndx >= elf.sections.length) return null;
  else {
    const sec = elf.sections[shndx];
    if (!(sec.flags & SHF_ALLOC)) return null;
    t = sec.flags & SHF_EXECINSTR ? 't' : sec.type === SHT_NOBITS ? 'b' : sec.flags & SHF_WRITE ? 'd' : 'r';
  }
  return bind === STB_GLOBAL || bind === STB_WEAK ? t.toUpperCase() : t;
}

/** The `vermagic=` of a module's .modinfo: its first word is the kernel release it was built for. */
function vermagicRelease(elf: Elf64): string | null {
  const info = elf.sections.find((s) => s.name === '.modinfo');
  if (!info) return null;
  const m = /(?:^|\0)vermagic=([^\s\0]+)/.exec(Buffer.from(info.data).toString('latin1'));
  return m && RELEASE.test(m[1]) ? m[1] : null;
}

/** The .ko files under `dir`, never following symbolic links out of it. */
function moduleFiles(dir: string): { ko: string[]; compressed: number } {
  const ko: string[] = [];
  let compressed = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile() && e.name.endsWith('.ko')) ko.push(p);
      else if (e.isFile() && /\.ko\.(?:xz|zst|gz)$/.test(e.name)) compressed++;
    }
  }
  return { ko: ko.sort(), compressed };
}

/** Adds the defined symbols of every .ko under `dir` whose module `symbols` does not already list. */
function addModules(symbols: Kallsyms, dir: string, notes: string[]): { added: Set<string>; release: string | null } {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    throw new PatchError(`modules folder '${dir}' cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!st.isDirectory()) throw new PatchError(`modules folder '${dir}' is not a folder`);
  const { ko, compressed } = moduleFiles(dir);
  if (compressed) notes.push(`${compressed} compressed module(s) in ${dir} were not read (unpack them to .ko to use their symbols)`);
  const added = new Set<string>();
  const unreadable: string[] = [];
  let release: string | null = null;
  for (const file of ko) {
    // kallsyms names a module like its file, with dashes as underscores.
    const object = path.basename(file, '.ko').replace(/-/g, '_');
    // A loaded module in kallsyms is what runs: its listing wins over the file.
    if (symbols.covers(object) && !added.has(object)) continue;
    try {
      if (fs.statSync(file).size > MAX_MODULE_BYTES) throw new Error('too big');
      const elf = readElf64(fs.readFileSync(file), true);
      release ??= vermagicRelease(elf);
      const symtab = elf.sections.findIndex((s) => s.type === SHT_SYMTAB);
      if (symtab < 0) throw new Error('no symbol table');
      for (const s of readSymbols(elf, symtab)) {
        const kind = s.info & 0xf;
        if (!s.name || kind === STT_SECTION || kind === STT_FILE) continue;
        const type = symbolType(elf, s.shndx, s.info >> 4);
        if (type) symbols.add(s.name, type, object);
      }
      added.add(object);
    } catch {
      unreadable.push(path.relative(dir, file));
    }
  }
  if (unreadable.length)
    notes.push(
      `${unreadable.length} module file(s) in ${dir} could not be read as ELF objects: ${unreadable.slice(0, 3).join(', ')}${unreadable.length > 3 ? ', ...' : ''}`,
    );
  return { added, release };
}

/** `.../targets/<release>/<file>`: the cache layout of scripts/fetch-target-facts.sh and the deploy path. */
function releaseFromPath(file: string): string | null {
  const dir = path.dirname(path.resolve(file));
  const release = path.basename(dir);
  return path.basename(path.dirname(dir)) === 'targets' && RELEASE.test(release) ? release : null;
}

/** Null when no symbol file, Module.symvers or modules folder is given: a .config alone is no target. */
export function loadTargetFacts(files: TargetFactFiles): LoadedFacts | null {
  if (!files.kallsyms && !files.symvers && !files.modulesDir) return null;
  const notes: string[] = [];
  let symbols: Kallsyms | null = null;
  let symbolSource = 'none';
  if (files.kallsyms) {
    symbols = new Kallsyms(readSymbolFile(files.kallsyms, 'kallsyms'));
    if (!symbols.size) {
      throw new PatchError(
        `kallsyms '${files.kallsyms}' lists no symbol: not a kallsyms or System.map file` +
          " (Debian's /boot/System.map is a stub; the real one is in linux-image-<release>-dbg, which scripts/fetch-target-facts.sh reads)",
      );
    }
    symbolSource = /^System\.map/.test(path.basename(files.kallsyms)) ? 'System.map' : 'kallsyms';
  }
  let moduleObjects = new Set<string>();
  let release: string | null = null;
  if (files.modulesDir) {
    symbols ??= new Kallsyms();
    const m = addModules(symbols, files.modulesDir, notes);
    moduleObjects = m.added;
    release = m.release;
  }
  const symvers = files.symvers ? parseSymversEntries(readSymbolFile(files.symvers, 'Module.symvers')) : null;
  if (symvers && !symvers.size) throw new PatchError(`Module.symvers '${files.symvers}' lists no export: not a Module.symvers file`);
  const config = files.config ? parseKernelConfig(readConfigFile(files.config)) : null;
  release ??= [files.kallsyms, files.symvers, files.config].map((f) => (f ? releaseFromPath(f) : null)).find((r) => r) ?? null;
  return { facts: { release, symbols, symbolSource, moduleFiles: moduleObjects, symvers, config }, notes };
}
