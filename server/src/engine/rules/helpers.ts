// Shared queries rules make over a FileChange.

import type { FunctionDef } from '../model';
import type { DefChange } from '../compare/pair';
import type { FileChange } from './rule';

/** Functions whose code changes (body or head), with both images. */
export function changedFunctions(fc: FileChange): (DefChange<FunctionDef> & { old: FunctionDef; new: FunctionDef })[] {
  return fc.pairing.functions.filter(
    (c): c is DefChange<FunctionDef> & { old: FunctionDef; new: FunctionDef } =>
      (c.kind === 'body' || c.kind === 'signature') && !!c.old && !!c.new,
  );
}

/** First post-image line the patch added inside a function, or its first line. */
export function firstChangedLine(fc: FileChange, fn: FunctionDef): number {
  for (let l = fn.span.start; l <= fn.span.end; l++) if (fc.maps.added.has(l)) return l;
  return fn.span.start;
}

/** Post-image lines the patch added inside a span (inclusive). */
export function addedLinesIn(fc: FileChange, start: number, end: number): number[] {
  const out: number[] = [];
  for (let l = start; l <= end; l++) if (fc.maps.added.has(l)) out.push(l);
  return out;
}

/** Pre-image lines the patch removed inside a span (inclusive). */
export function removedLinesIn(fc: FileChange, start: number, end: number): number[] {
  const out: number[] = [];
  for (let l = start; l <= end; l++) if (fc.maps.removed.has(l)) out.push(l);
  return out;
}

/** The added text of a patch inside a function (what the author wrote). */
export function addedText(fc: FileChange, fn: FunctionDef): string {
  return addedLinesIn(fc, fn.span.start, fn.span.end).map((l) => fc.post!.lines[l]).join('\n');
}

export function isHeader(path: string): boolean {
  return path.endsWith('.h');
}

/** `name()` or the syscall form, for messages. */
export function describeFunction(fn: FunctionDef): string {
  return fn.syscallMacro ? `${fn.syscallMacro}(${fn.name})` : `${fn.name}()`;
}
