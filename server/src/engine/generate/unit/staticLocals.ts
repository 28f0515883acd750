// Static locals of a changed function in a patched unit: bound to the running
// kernel's object, a new copy for the kernel's once-only statics, refused otherwise.

import type { FunctionDef } from '../../model';
import { children, type SyntaxNode } from '../../parse/parser';
import type { Kallsyms } from '../symbols';
import { encodePlaceholder, placeholderBinding, type KlpSymbol } from '../klpElf/placeholder';
import type { Refusal } from '../moduleGenerator';
import { applyEdits, declaratorIdentifier, findAll, SHADOW, wordRe, type Edit } from './syntax';

/** The kernel's own once-only statics, created by macros (WARN_ONCE, printk_ratelimited, lockdep, dynamic debug): a new copy is what kpatch does too. */
export const SPECIAL_STATICS =
  /^(?:__already_done|__warned|__print_once|_rs|__key|__descriptor|descriptor|__UNIQUE_ID_ddebug\w*|__func__)$/;

/**
 * Static locals of a changed function: bound to the kernel's `name.N` when kallsyms has
 * exactly one candidate, a new copy for the kernel's once-only statics and read-only
 * data, refused otherwise. Returns the body text.
 */
export function transformStaticLocals(
  fn: FunctionDef,
  before: Set<string>,
  node: SyntaxNode,
  text: string,
  object: string,
  ks: Kallsyms | null,
  bindings: Map<string, KlpSymbol>,
  refusals: Refusal[],
  file: string,
): string {
  const body = node.childForFieldName('body')!;
  const edits: Edit[] = [];
  for (const d of findAll(body, 'declaration', [], new Set(['function_definition']))) {
    const specs = children(d)
      .filter((k) => k.type === 'storage_class_specifier')
      .map((k) => text.slice(k.startIndex, k.endIndex));
    if (!specs.includes('static')) continue;
    const declText = text.slice(d.startIndex, d.endIndex);
    const names = children(d)
      .filter((k) => /declarator$|^identifier$/.test(k.type))
      .map((k) => declaratorIdentifier(k))
      .filter((k): k is SyntaxNode => !!k)
      .map((k) => text.slice(k.startIndex, k.endIndex));
    const line = d.startPosition.row;
    const isConst =
      children(d).some((k) => k.type === 'type_qualifier' && text.slice(k.startIndex, k.endIndex) === 'const') &&
      !/\*/.test(declText.split('=')[0]);
    const out: string[] = [];
    let shadow = declText;
    let skip = false;
    for (const name of names) {
      // A static local the patch adds is new state: the module's own, as for new data.
      if (SPECIAL_STATICS.test(name) || isConst || !before.has(name)) {
        skip = true;
        continue;
      }
      const candidates = ks?.staticLocalCandidates(name, object) ?? [];
      if (candidates.length !== 1) {
        refusals.push({
          symbol: `${fn.name}:${name}`,
          file,
          line,
          message: ks
            ? `the static local '${name}' of ${fn.name}() has ${candidates.length} candidates (${name}.N) in ${object}'s kallsyms; it must be the running kernel's object, and which one cannot be told`
            : `the static local '${name}' of ${fn.name}() must be bound to the running kernel's object, whose name (${name}.N) only the target's kallsyms gives; pass --kallsyms`,
        });
        skip = true;
        continue;
      }
      const sym = { object, name: candidates[0], sympos: 0 };
      bindings.set(encodePlaceholder(sym), sym);
      shadow = shadow.replace(wordRe(name), SHADOW + name);
      out.push(`extern __typeof__(${SHADOW}${name}) ${name} ${placeholderBinding(sym)};`);
    }
    if (skip || !out.length) continue;
    edits.push({ start: d.startIndex, end: d.endIndex, text: `${shadow} ${out.join(' ')}` });
  }
  const bodyText = text.slice(body.startIndex, body.endIndex);
  return applyEdits(
    bodyText,
    edits.map((e) => ({ ...e, start: e.start - body.startIndex, end: e.end - body.startIndex })),
  );
}
