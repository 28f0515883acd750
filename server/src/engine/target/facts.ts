// Target facts: what the kernel the patch is for actually contains, as opposed to what its
// source suggests. The compiler decided which functions stay out of line, which get
// cloned and which vanish into their callers; kallsyms (or System.map plus the modules'
// symbol tables) records those decisions, Module.symvers records the exports with their
// namespaces. Pure data: the CLI or the server reads the files, the rules only look up.

import { Kallsyms, parseSymversEntries, type SymversEntry } from './symbols';
import { parseKernelConfig } from '../tree/kernelTree';

export interface TargetFacts {
  /** The kernel release (`6.1.0-57-amd64`), when known: named in messages. */
  release: string | null;
  /** Every symbol with its object: /proc/kallsyms, or System.map plus the modules' symbol tables. */
  symbols: Kallsyms | null;
  /** What `symbols` lists vmlinux from, for messages: `kallsyms` or `System.map`. */
  symbolSource: string;
  /** Modules whose symbols came from their .ko file (named as `ext4.ko` in messages). */
  moduleFiles: ReadonlySet<string>;
  /** Module.symvers: exported symbol -> CRC, exporting object, namespace. */
  symvers: ReadonlyMap<string, SymversEntry> | null;
  /** The target's .config (CONFIG_FOO -> y|m|value). */
  config: ReadonlyMap<string, string> | null;
}

/** "System.map of 6.1.0-57-amd64" / "ext4.ko of 6.1.0-57-amd64": where a symbol of `object` was seen. */
export function symbolWitness(facts: TargetFacts, object: string): string {
  const of = facts.release ? ` of ${facts.release}` : ' of the target';
  if (object !== 'vmlinux' && facts.moduleFiles.has(object)) return `${object}.ko${of}`;
  return `${facts.symbolSource}${of}`;
}

/** "Module.symvers of 6.1.0-57-amd64". */
export function symversWitness(facts: TargetFacts): string {
  return `Module.symvers${facts.release ? ` of ${facts.release}` : ' of the target'}`;
}

/** `foo` as listed: "`foo` (t, vmlinux)", "`foo.isra.0` (t, ext4)". */
export function listed(facts: TargetFacts, name: string, objects?: readonly string[]): string {
  const e = facts.symbols?.entries(name).filter((x) => !objects || objects.includes(x.object)) ?? [];
  const types = [...new Set(e.map((x) => x.type))].join('/');
  const objs = [...new Set(e.map((x) => x.object))].join(', ');
  const copies = e.length > 1 ? `, ${e.length} copies` : '';
  return e.length ? `\`${name}\` (${types}, ${objs}${copies})` : `\`${name}\``;
}

/** Function symbols (text) of `name` in `objects` (any object when null). */
export function functionEntries(facts: TargetFacts, name: string, objects: readonly string[] | null): { type: string; object: string }[] {
  return (facts.symbols?.entries(name) ?? []).filter((e) => /^[tTwW]$/.test(e.type) && (!objects || objects.includes(e.object)));
}

/** A one-line summary of the facts for the analysis notes. */
export function describeFacts(facts: TargetFacts): string {
  const parts: string[] = [];
  if (facts.symbols) {
    const ko = facts.moduleFiles.size;
    // No symbol file: the symbols are the modules' (possibly none).
    const from = [
      facts.symbolSource === 'none' ? '' : facts.symbolSource,
      ko || facts.symbolSource === 'none' ? `${ko} module files` : '',
    ].filter(Boolean);
    parts.push(`${facts.symbols.size} symbol names (${from.join(' + ')})`);
  }
  if (facts.symvers) parts.push(`${facts.symvers.size} exports (Module.symvers)`);
  if (facts.config) parts.push(`${facts.config.size} config options`);
  return `target facts${facts.release ? ` of ${facts.release}` : ''}: ${parts.join(', ') || 'none'}`;
}

/** Target facts from file contents already read (the CLI's loader, the server, tests). */
export function targetFactsFromText(t: {
  release?: string | null;
  kallsyms?: string | null;
  symbolSource?: string;
  symvers?: string | null;
  config?: string | null;
}): TargetFacts {
  return {
    release: t.release ?? null,
    symbols: t.kallsyms ? new Kallsyms(t.kallsyms) : null,
    symbolSource: t.kallsyms ? (t.symbolSource ?? 'kallsyms') : 'none',
    moduleFiles: new Set(),
    symvers: t.symvers ? parseSymversEntries(t.symvers) : null,
    config: t.config ? parseKernelConfig(t.config) : null,
  };
}
