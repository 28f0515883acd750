// What the target kernel says about its symbols: /proc/kallsyms (every symbol, static
// ones included, with the module that defines it) and Module.symvers (the exports).
// The patched-unit generator decides with them how each reference of the kept code is
// bound: directly (an export of vmlinux), or through a klp relocation with a sympos.

export interface KallsymsEntry {
  type: string;
  /** `vmlinux` or the module name. */
  object: string;
}

export class Kallsyms {
  private readonly byName = new Map<string, KallsymsEntry[]>();
  /** Static-local candidates: base name -> object -> full names (`count.12`). */
  private readonly locals = new Map<string, Map<string, string[]>>();
  private readonly objects = new Set<string>();

  constructor(text: string) {
    for (const line of text.split('\n')) {
      // `ffffffff81000000 T _stext` or `ffffffffc0a01000 t ext4_foo\t[ext4]`
      const m = /^\s*[0-9a-fA-F]+\s+(\S)\s+(\S+)(?:\s+\[(\S+)\])?\s*$/.exec(line);
      if (!m) continue;
      const entry = { type: m[1], object: m[3] ?? 'vmlinux' };
      this.objects.add(entry.object);
      const list = this.byName.get(m[2]);
      if (list) list.push(entry);
      else this.byName.set(m[2], [entry]);
      const local = /^([A-Za-z_]\w*)\.(\d+)$/.exec(m[2]);
      if (local) {
        const objs = this.locals.get(local[1]) ?? new Map<string, string[]>();
        objs.set(entry.object, [...(objs.get(entry.object) ?? []), m[2]]);
        this.locals.set(local[1], objs);
      }
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
}

/** Module.symvers: exported symbol -> the object that exports it (`vmlinux` or a module path's base name). */
export function parseSymversObjects(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 4 && cols[1]) out.set(cols[1], cols[2] === 'vmlinux' ? 'vmlinux' : (cols[2].split('/').pop() ?? cols[2]).replace(/-/g, '_'));
  }
  return out;
}
