// data-semantic: same layout, new meaning. When a fix starts (or stops) taking
// a lock on an object, or changes how a counter or reference count is kept,
// old and new code run side by side during the transition, and objects created
// before the patch were handled by the old rules. Heuristic: lock, atomic,
// refcount and kref operations on struct fields added or removed.

import type { FunctionDef } from '../model';
import type { FileChange, Rule } from './rule';
import { changedFunctions, firstChangedLine, isIgnoredFunction } from './lib/changedFunctions';
import { describeFunction, listNames } from './lib/wording';

const OPS =
  /^(?:(?:raw_)?spin_(?:lock|unlock|trylock)\w*|(?:read|write)_(?:lock|unlock|trylock)\w*|mutex_(?:lock|unlock|trylock)\w*|(?:down|up)_(?:read|write)\w*|atomic(?:64|_long)?_\w+|refcount_\w+|kref_\w+)$/;
// Reading a value changes no rule.
const READ_ONLY = /^(?:atomic(?:64|_long)?_read(?:_acquire)?|refcount_read|kref_read)$/;

/** Sync operations on struct fields in a normalised body: "spin_lock(dev->lock)" -> count. */
export function fieldSyncOps(body: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = /\b([A-Za-z_]\w*)\(/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    const op = m[1];
    if (!OPS.test(op) || READ_ONLY.test(op)) continue;
    // First argument, up to a top-level comma or the closing parenthesis.
    let depth = 0;
    let i = re.lastIndex;
    const start = i;
    for (; i < body.length; i++) {
      const c = body[i];
      if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) break;
    }
    const arg = body.slice(start, i).trim().replace(/^&\s*/, '');
    if (!/->|\.\s*[A-Za-z_]/.test(arg)) continue;
    const key = `${op}(&${arg})`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

function diff(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, n] of b) if (n > (a.get(k) ?? 0)) out.push(k);
  return out;
}

/** The post-image line where a removed pre-image line used to be (the line that now follows it). */
function postLineOfRemoval(fc: FileChange, preLine: number): number | null {
  for (const pl of fc.maps.placements) {
    let p = pl.preStart;
    let q = pl.postStart;
    for (const l of pl.hunk.lines) {
      if (l.op === '-' && p === preLine) return q;
      if (l.op !== '+') p++;
      if (l.op !== '-') q++;
    }
  }
  return null;
}

export const dataSemantic: Rule = {
  id: 'data-semantic',
  severity: 'warning',
  title: 'Locking or reference counting on shared objects changes',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post) continue;
      // Code moved into a new helper (or back from a deleted one) keeps its operations.
      const addedFns = new Map(fc.pairing.functions.filter((c) => c.kind === 'added' && c.new).map((c) => [c.name, c.new!]));
      const removedFns = new Map(fc.pairing.functions.filter((c) => c.kind === 'removed' && c.old).map((c) => [c.name, c.old!]));
      const opsOf = (fn: FunctionDef, helpers: Map<string, FunctionDef>): Map<string, number> => {
        const ops = fieldSyncOps(fn.normBody);
        for (const name of new Set(fn.calls.map((k) => k.name))) {
          const h = helpers.get(name);
          if (!h || h === fn) continue;
          for (const [k, n] of fieldSyncOps(h.normBody)) ops.set(k, (ops.get(k) ?? 0) + n);
        }
        return ops;
      };
      for (const c of changedFunctions(fc)) {
        if (isIgnoredFunction(fc, c.new.name)) continue;
        const before = opsOf(c.old, removedFns);
        const after = opsOf(c.new, addedFns);
        const added = diff(before, after);
        const removed = diff(after, before);
        if (!added.length && !removed.length) continue;
        const fn = c.new;
        const addedOps = new Set(added.map((k) => k.slice(0, k.indexOf('('))));
        let line = -1;
        for (let l = fn.span.start; l <= fn.span.end && line < 0; l++) {
          if (!fc.maps.added.has(l)) continue;
          const text = fc.post.lines[l] ?? '';
          for (const op of addedOps) if (new RegExp(`\\b${op}\\s*\\(`).test(text)) line = l;
        }
        // Only removals: point at where the removed call was.
        const removedOps = new Set(removed.map((k) => k.slice(0, k.indexOf('('))));
        for (let l = c.old.span.start; l <= c.old.span.end && line < 0 && fc.pre; l++) {
          if (!fc.maps.removed.has(l)) continue;
          const text = fc.pre.lines[l] ?? '';
          for (const op of removedOps) if (new RegExp(`\\b${op}\\s*\\(`).test(text)) line = postLineOfRemoval(fc, l) ?? -1;
        }
        if (line < 0) line = firstChangedLine(fc, fn);
        const parts: string[] = [];
        if (added.length) parts.push(`now calls ${listNames(added, 3)}`);
        if (removed.length) parts.push(`no longer calls ${listNames(removed, 3)}`);
        ctx.report({
          file: fc.path,
          line,
          endLine: line,
          function: fn.name,
          symbol: fn.name,
          message:
            `${describeFunction(fn)} ${parts.join(' and ')}: this changes the rules for objects the running kernel ` +
            `already shares. During the transition old and new code run at the same time, and objects created ` +
            `before the patch were set up under the old rules (a lock the old code never takes, a reference the old ` +
            `code never took), so mixing them can deadlock, race or over/under-count. Make the change safe against ` +
            `unpatched code, e.g. tag the objects that follow the new rules with a shadow variable ` +
            `(klp_shadow_alloc() where the new code creates or first handles them, klp_shadow_get() to decide) and ` +
            `keep the old behaviour for untagged ones.`,
        });
      }
    }
  },
};
