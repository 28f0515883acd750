// data-size-changed: a new type or array length for an object that already
// exists means a different size. kpatch cannot correlate objects of different
// sizes ("object size mismatch"), and old code would use the old layout anyway.

import type { Rule } from './rule';
import { isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { pairData } from './lib/fileData';
import { describeFunction } from './lib/wording';

function describeType(type: string, dims: string): string {
  return `${type.replace(/@/, '(name)')}${dims}`;
}

/** Only signedness or volatile differ: same size and place, but old code reads the old type. */
function sameSize(a: string, b: string): boolean {
  const norm = (t: string) => {
    const r = t
      .replace(/\b(?:signed|unsigned|volatile)\b/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    return r === '' || r === 'const' ? `${r} int`.trim() : r;
  };
  return norm(a) === norm(b);
}

/** Top-level elements of a brace initializer; null when designators or odd text make the count unsure. */
function countElements(init: string): number | null {
  const t = init.trim();
  if (/^(?:"(?:[^"\\]|\\.)*"\s*)+$/.test(t)) {
    // Adjacent string literals: one char per character or escape, plus the NUL.
    const body = (t.match(/"(?:[^"\\]|\\.)*"/g) ?? []).map((p) => p.slice(1, -1)).join('');
    return body.replace(/\\(?:x[0-9a-fA-F]+|[0-7]{1,3}|.)/g, '_').length + 1;
  }
  if (!t.startsWith('{') || !t.endsWith('}')) return null;
  const items: string[] = [];
  let depth = 0;
  let cur = '';
  let quote: string | null = null;
  for (let i = 1; i < t.length - 1; i++) {
    const ch = t[i];
    if (quote) {
      cur += ch;
      if (ch === '\\') cur += t[++i] ?? '';
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if ('({['.includes(ch)) depth++;
    else if (')}]'.includes(ch)) depth--;
    else if (ch === ',' && depth === 0) {
      items.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  items.push(cur);
  if (!items[items.length - 1].trim()) items.pop();
  // `[IDX] = v` places elements itself; so do preprocessor-made lists we cannot see into.
  if (items.some((x) => /^\s*\[/.test(x))) return null;
  return items.length;
}

/** `x[] = {a, b, c}`: the first dimension is implied by the initializer. */
function effectiveDims(dims: string, init: string | null): string {
  if (!dims.startsWith('[]') || !init) return dims;
  const n = countElements(init);
  return n === null ? dims : `[${n}]${dims.slice(2)}`;
}

export const dataSizeChanged: Rule = {
  id: 'data-size-changed',
  severity: 'error',
  title: 'Changed type or array size of existing data: object size mismatch',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.pre || !fc.post) continue;
      const exported = new Set([...(fc.post.exports ?? []), ...(fc.pre.exports ?? [])].map((e) => e.symbol));
      for (const c of pairData(fc)) {
        const o = c.old;
        const n = c.new;
        if (!o || !n || n.storage === 'extern' || o.storage === 'extern') continue;
        // An unsized array that gains initializers grows just the same.
        const oDims = effectiveDims(o.dims, o.init);
        const nDims = effectiveDims(n.dims, n.init);
        if (o.type === n.type && oDims === nDims) continue;
        const soft = oDims === nDims && sameSize(o.type, n.type);
        const line = (() => {
          for (let l = n.span.start; l <= n.span.end; l++) if (fc.maps.added.has(l)) return l;
          return n.span.start;
        })();
        const from = describeType(o.type, oDims);
        const to = describeType(n.type, nDims);
        const crc = exported.has(c.name)
          ? ` '${c.name}' is exported, so its modversion CRC changes as well and modules using it no longer load.`
          : '';
        ctx.report({
          severity: soft ? 'warning' : 'error',
          file: fc.path,
          line,
          endLine: n.span.end,
          symbol: c.name,
          message: soft
            ? `The patch changes the type of '${c.name}' from '${from}' to '${to}'. The size stays the same, but the running kernel's object and every unpatched reader keep the old interpretation.${crc} Prefer a new variable under a new name.`
            : `The patch changes the type or size of the existing object '${c.name}' ('${from}' -> '${to}'). The running kernel's object keeps its old size and layout, so kpatch-build stops with "object size mismatch: ${c.name}", and unpatched code would use the old layout anyway.${crc} Define a new variable under a new name (used by the patched code only), or attach the extra state to existing objects with a shadow variable (klp_shadow_get_or_alloc()).`,
          related: [{ file: fc.path, line: o.span.start, image: 'pre', message: `old definition of '${c.name}'` }],
        });
      }
      // Static locals are correlated by name; a new type makes them mismatch the same way.
      for (const t of touchedFunctions(fc)) {
        if (!t.old || isIgnoredFunction(fc, t.new.name)) continue;
        for (const s of t.new.staticLocals) {
          const old = t.old.staticLocals.find((x) => x.name === s.name);
          if (!old) continue;
          const oHead = old.decl.split('=')[0].replace(/;$/, '');
          const nHead = s.decl.split('=')[0].replace(/;$/, '');
          if (oHead === nHead) continue;
          ctx.report({
            file: fc.path,
            line: s.line,
            function: t.new.name,
            symbol: s.name,
            message: `${describeFunction(t.new)} changes the type or size of its static local '${s.name}' ('${oHead}' -> '${nHead}'). kpatch correlates it by name with the running kernel's copy, which keeps the old size: kpatch-build stops with "object size mismatch: ${s.name}". Use a static local (or shadow variable) under a new name for the new state.`,
            related: [{ file: fc.path, line: old.line, image: 'pre', message: `old declaration of '${s.name}'` }],
          });
        }
      }
    }
  },
};
