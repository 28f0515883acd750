// replace-callbacks: on 6.1 kpatch builds atomic-replace (cumulative) patches
// by default. When a newer patch replaces an older one, only the newer one's
// callbacks run, and nothing hands shadow variables over between them.

import type { Rule } from './rule';
import type { FileChange } from './rule';
import { lineOf } from '../index/indexer';

const CALLBACK_RE = /\b((?:KPATCH|KLP)_(?:PRE|POST)_(?:PATCH|UNPATCH)_CALLBACK)\s*\(\s*(\w+)?/;
const SHADOW_RE = /\b(klp_shadow_(?:alloc|get_or_alloc|get|free|free_all))\s*\(/;

/** Post-image lines the patch added, plus the callback functions whose body changed. */
function changedLines(fc: FileChange): number[] {
  const lines = new Set(fc.maps.added);
  const callbacks = new Set(
    [...(fc.post?.escapeHatches ?? new Map<string, string>())].filter(([, m]) => /_CALLBACK$/.test(m)).map(([fn]) => fn),
  );
  for (const c of fc.pairing.functions) {
    if (c.new && callbacks.has(c.name) && c.kind !== 'unchanged' && c.kind !== 'moved') lines.add(c.new.span.start);
  }
  return [...lines].sort((a, b) => a - b);
}

export const replaceCallbacks: Rule = {
  id: 'replace-callbacks',
  severity: 'info',
  title: 'Callbacks and shadow variables in a cumulative (atomic-replace) patch',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post || !fc.isC) continue;
      let callback: { line: number; macro: string; fn: string } | null = null;
      let shadow: { line: number; call: string } | null = null;
      // Callback functions by first line: one lookup per changed line, not a scan of every function.
      const callbackHeads = new Map<number, string>();
      for (const f of fc.post.functions) {
        if (fc.post.escapeHatches.get(f.name)?.endsWith('_CALLBACK') && !callbackHeads.has(f.span.start))
          callbackHeads.set(f.span.start, f.name);
      }
      for (const l of changedLines(fc)) {
        const text = lineOf(fc.post, l) ?? '';
        const cb = CALLBACK_RE.exec(text);
        if (cb && !callback) callback = { line: l, macro: cb[1], fn: cb[2] ?? '' };
        const head = callbackHeads.get(l);
        if (head !== undefined && !callback) callback = { line: l, macro: fc.post.escapeHatches.get(head)!, fn: head };
        const sh = SHADOW_RE.exec(text);
        if (sh && !shadow) shadow = { line: l, call: sh[1] };
      }
      const fnAt = (line: number) => fc.post!.functions.find((f) => f.span.start <= line && line <= f.span.end)?.name ?? null;
      if (callback) {
        ctx.report({
          file: fc.path,
          line: callback.line,
          function: callback.fn || fnAt(callback.line),
          symbol: callback.macro,
          message: `The patch adds or changes a ${callback.macro}()${callback.fn ? ` (${callback.fn})` : ''}. kpatch builds cumulative atomic-replace patches by default (replace=true): when this patch replaces an older one, only this patch's callbacks run, the old patch's unpatch callbacks do not. Make the callbacks redo (or tolerate) whatever the previous patch's callbacks set up, and version that state (struct klp_state) if later patches must know about it.`,
        });
      }
      if (shadow) {
        ctx.report({
          file: fc.path,
          line: shadow.line,
          function: fnAt(shadow.line),
          symbol: shadow.call,
          message: `The patch uses shadow variables (${shadow.call}()). Nothing hands them over on atomic replace: a later cumulative patch must use the same ids and data layout to keep reading them, and should free them (klp_shadow_free_all() in a post-unpatch callback) when the state is retired.`,
        });
      }
    }
  },
};
