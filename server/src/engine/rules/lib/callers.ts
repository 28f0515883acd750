// Call sites of a function within one indexed file, and whether its address is taken there.

import type { FileIndex, FunctionDef } from '../../model';
import { functionsNaming, wordRe } from './codeText';

/** Does the post image use `name` other than by calling it (address taken, ops table)? */
export function addressTaken(index: FileIndex, name: string): boolean {
  for (const f of functionsNaming(index, name)) if (f.name !== name && f.identifiers.has(name)) return true;
  const re = wordRe(name);
  return index.variables.some((v) => v.init !== null && re.test(v.init));
}

/** Call sites of `name` in every function of an index, grouped by caller. */
export function callersIn(index: FileIndex, name: string): { caller: FunctionDef; line: number; count: number }[] {
  const out: { caller: FunctionDef; line: number; count: number }[] = [];
  for (const f of functionsNaming(index, name)) {
    if (f.name === name) continue;
    const sites = f.calls.filter((c) => c.name === name);
    if (sites.length) out.push({ caller: f, line: sites[0].line, count: sites.length });
  }
  return out;
}

/** Number of call sites of `name` in an index (recursive calls included). */
export function callCount(index: FileIndex | null, name: string): number {
  if (!index) return 0;
  let n = 0;
  for (const f of functionsNaming(index, name)) for (const c of f.calls) if (c.name === name) n++;
  return n;
}
