// What the target kernel says about its symbols: /proc/kallsyms or System.map (every
// symbol, static ones included, with the module that defines it) and Module.symvers (the
// exports, with their CRCs and namespaces). The one parser of both: the patched-unit
// generator binds references with them, and the rules read them as target facts.

export interface KallsymsEntry {
  type: string;
  /** `vmlinux` or the module name. */
  object: string;
}

/**
 * The suffixes gcc gives the copies it makes of a function: interprocedural clones
 * (`.isra.N`, `.constprop.N`), the split-off part of a partially inlined function
 * (`.part.N`) and its cold blocks (`.cold`). They stack: `foo.constprop.0.isra.0`, `foo.part.0.cold`.
 */
const CLONE = /^([A-Za-z_$][\w$]*?)((?:\.(?:isra|constprop|part|cold|lto_priv)(?:\.\d+)?)+)$/;

export class Kallsyms {
  private readonly byName = new Map<string, KallsymsEntry[]>();
  /** Static-local candidates: base name -> object -> full names (`count.12`). */
  private readonly locals = new Map<string, Map<string, string[]>>();
  /** Compiler copies: base name -> full names (`foo.isra.0`), in listing order, each once. */
  private readonly clones = new Map<string, string[]>();
  private readonly objects = new Set<string>();

  constructor(text = '') {
    for (const line of text.split('\n')) {
      // `ffffffff81000000 T _stext` or `ffffffffc0a01000 t ext4_foo\t[ext4]`
      const m = /^\s*[0-9a-fA-F]+\s+(\S)\s+(\S+)(?:\s+\[(\S+)\])?\s*$/.exec(line);
      if (m) this.add(m[2], m[1], m[3] ?? 'vmlinux');
    }
  }

  /** Adds one symbol (the loader adds a module's symbol table this way). */
  add(name: string, type: string, object: string): void {
    const entry = { type, object };
    this.objects.add(object);
    const list = this.byName.get(name);
    if (list) list.push(entry);
    else this.byName.set(name, [entry]);
    // Static locals (`count.12`) and clones (`foo.isra.0`) have a dot; most names do not.
    if (!name.includes('.')) return;
    const local = /^([A-Za-z_]\w*)\.(\d+)$/.exec(name);
    if (local) {
      const objs = this.locals.get(local[1]) ?? new Map<string, string[]>();
      objs.set(object, [...(objs.get(object) ?? []), name]);
      this.locals.set(local[1], objs);
    }
    const clone = CLONE.exec(name);
    if (clone) {
      const names = this.clones.get(clone[1]) ?? [];
      if (!names.includes(name)) names.push(name);
      this.clones.set(clone[1], names);
    }
  }

  /** Whether the text lists any symbol of `object` (a module that is not loaded has none). */
  covers(object: string): boolean {
    return this.objects.has(object);
  }

  get size(): number {
    return this.byName.size;
  }

  entries(name: string, object?: string): KallsymsEntry[] {
    const all = this.byName.get(name) ?? [];
    return object === undefined ? all : all.filter((e) => e.object === object);
  }

  /** The objects that define `name`, in kallsyms order, each once. */
  objectsOf(name: string): string[] {
    return [...new Set(this.entries(name).map((e) => e.object))];
  }

  /** GCC's names for a static local `name` in `object` (`name.N`), in kallsyms order. */
  staticLocalCandidates(name: string, object: string): string[] {
    return this.locals.get(name)?.get(object) ?? [];
  }

  /** The compiler's copies of function `name` (`name.isra.0`, `name.cold`...), in `objects` when given. */
  clonesOf(name: string, objects?: readonly string[]): string[] {
    const all = this.clones.get(name) ?? [];
    if (!objects) return all;
    return all.filter((c) => this.entries(c).some((e) => objects.includes(e.object)));
  }
}

/** One line of Module.symvers: `0xCRC<TAB>symbol<TAB>object<TAB>EXPORT_SYMBOL[_GPL][<TAB>namespace]`. */
export interface SymversEntry {
  symbol: string;
  crc: string;
  /** `vmlinux`, or the exporting module's path as written (`fs/ext4/ext4`). */
  module: string;
  /** `vmlinux` or the module's name (`ext4`, dashes as underscores): how kallsyms names it. */
  object: string;
  exportType: string;
  /** The symbol namespace of EXPORT_SYMBOL_NS*; null for a plain export. */
  namespace: string | null;
}

/** Module.symvers parsed: exported symbol -> its entry (a repeated symbol: the last line). */
export function parseSymversEntries(text: string): Map<string, SymversEntry> {
  const out = new Map<string, SymversEntry>();
  for (const line of text.split('\n')) {
    const cols = line.replace(/\r$/, '').split('\t');
    if (cols.length < 4 || !cols[1]) continue;
    const object = cols[2] === 'vmlinux' ? 'vmlinux' : (cols[2].split('/').pop() ?? cols[2]).replace(/-/g, '_');
    out.set(cols[1], { symbol: cols[1], crc: cols[0], module: cols[2], object, exportType: cols[3], namespace: cols[4] ? cols[4] : null });
  }
  return out;
}

/** Module.symvers: exported symbol -> the object that exports it (`vmlinux` or a module path's base name). */
export function parseSymversObjects(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of parseSymversEntries(text).values()) out.set(e.symbol, e.object);
  return out;
}
