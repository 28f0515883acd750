// Which functions a patch changes or adds, which of them the author told kpatch to ignore, and where a finding on one goes.

import type { FileIndex, FunctionDef, RelatedLocation, Severity } from '../../model';
import type { DefChange } from '../../compare/pair';
import type { FileChange, RuleContext } from '../rule';

/** Functions whose code changes (body or head), with both images. */
export function changedFunctions(fc: FileChange): (DefChange<FunctionDef> & { old: FunctionDef; new: FunctionDef })[] {
  return fc.pairing.functions.filter(
    (c): c is DefChange<FunctionDef> & { old: FunctionDef; new: FunctionDef } =>
      (c.kind === 'body' || c.kind === 'signature') && !!c.old && !!c.new,
  );
}

/** Functions the patch changed or added, with the pre-image twin when there is one. */
export function touchedFunctions(fc: FileChange): { old: FunctionDef | null; new: FunctionDef; kind: 'added' | 'body' | 'signature' }[] {
  const out: { old: FunctionDef | null; new: FunctionDef; kind: 'added' | 'body' | 'signature' }[] = [];
  for (const c of fc.pairing.functions) {
    if (!c.new) continue;
    if (c.kind === 'added') out.push({ old: null, new: c.new, kind: 'added' });
    else if ((c.kind === 'body' || c.kind === 'signature') && c.old) out.push({ old: c.old, new: c.new, kind: c.kind });
  }
  return out;
}

/** KPATCH_IGNORE_FUNCTION(fn) tells create-diff-object to drop fn's changes: nothing to flag. */
export function isIgnoredFunction(fc: FileChange, name: string): boolean {
  return fc.post?.escapeHatches.get(name) === 'KPATCH_IGNORE_FUNCTION';
}

/** First post-image line the patch added inside a function, or its first line. */
export function firstChangedLine(fc: FileChange, fn: FunctionDef): number {
  for (let l = fn.span.start; l <= fn.span.end; l++) if (fc.maps.added.has(l)) return l;
  return fn.span.start;
}

/** A function in a header is compiled into every object that includes it. */
export function isHeader(path: string): boolean {
  return path.endsWith('.h');
}

/** A function whose code the patch changes, with both images of it. */
export interface ChangedFunction {
  fc: FileChange & { post: FileIndex };
  old: FunctionDef;
  fn: FunctionDef;
}

/** The changed functions of every patched file, in order, without those the author told kpatch to ignore. */
export function* eachChangedFunction(ctx: RuleContext): Generator<ChangedFunction> {
  for (const fc of ctx.files) {
    if (!fc.post) continue;
    for (const c of changedFunctions(fc)) {
      if (isIgnoredFunction(fc, c.new.name)) continue;
      yield { fc: fc as ChangedFunction['fc'], old: c.old, fn: c.new };
    }
  }
}

/** Reports on a changed function, from the first line the patch added in it to its end. */
export function reportOnFunction(
  ctx: RuleContext,
  fc: FileChange,
  fn: FunctionDef,
  f: { message: string; severity?: Severity; related?: RelatedLocation[] },
): void {
  ctx.report({ file: fc.path, line: firstChangedLine(fc, fn), endLine: fn.span.end, function: fn.name, symbol: fn.name, ...f });
}
