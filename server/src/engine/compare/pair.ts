// Pairs old and new definitions of one file and says how each changed.

import type { FileIndex, FunctionDef, MacroDef, Span, TypeDef, VariableDef } from '../model';

export type ChangeKind =
  | 'added'
  | 'removed'
  /** Same head, different body. */
  | 'body'
  /** Different head (return type, parameters, storage, attributes). */
  | 'signature'
  /** Same text, only moved to other lines by a line shift. */
  | 'moved'
  /** Only whitespace or comments differ. */
  | 'cosmetic'
  | 'unchanged';

export interface DefChange<T> {
  kind: ChangeKind;
  name: string;
  old: T | null;
  new: T | null;
}

function key(name: string, seen: Map<string, number>): string {
  const n = seen.get(name) ?? 0;
  seen.set(name, n + 1);
  return n ? `${name}#${n}` : name;
}

function pairBy<T extends { name: string }>(
  olds: readonly T[],
  news: readonly T[],
  classify: (a: T, b: T) => ChangeKind,
  keyOf: (d: T) => string = (d) => d.name,
): DefChange<T>[] {
  const oldMap = new Map<string, T>();
  const seenOld = new Map<string, number>();
  for (const d of olds) oldMap.set(key(keyOf(d), seenOld), d);
  const out: DefChange<T>[] = [];
  const seenNew = new Map<string, number>();
  const matched = new Set<string>();
  for (const d of news) {
    const k = key(keyOf(d), seenNew);
    const o = oldMap.get(k);
    if (o) {
      matched.add(k);
      out.push({ kind: classify(o, d), name: d.name, old: o, new: d });
    } else {
      out.push({ kind: 'added', name: d.name, old: null, new: d });
    }
  }
  for (const [k, o] of oldMap) if (!matched.has(k)) out.push({ kind: 'removed', name: o.name, old: o, new: null });
  return out;
}

/**
 * Whether x's lines s1..e1 and y's lines s2..e2 (inclusive, clamped as slice() clamps) join to
 * the same text, without joining them: pairing runs on every keystroke over every function.
 */
export function sameLineRange(x: readonly string[], s1: number, e1: number, y: readonly string[], s2: number, e2: number): boolean {
  if (s1 < 0 || s2 < 0 || e1 < -1 || e2 < -1) return x.slice(s1, e1 + 1).join('\n') === y.slice(s2, e2 + 1).join('\n');
  const n1 = Math.max(0, Math.min(e1 + 1, x.length) - s1);
  const n2 = Math.max(0, Math.min(e2 + 1, y.length) - s2);
  // One empty line joins to '' like no line at all.
  if (n1 !== n2) return n1 + n2 === 1 && (n1 ? x[s1] : y[s2]) === '';
  for (let i = 0; i < n1; i++) if (x[s1 + i] !== y[s2 + i]) return false;
  return true;
}

/** Where the whole lines of a span start and end in `text` (the end past its newline), from the span's byte offsets. */
function wholeLines(text: string, span: Span): [number, number] {
  const nl = text.indexOf('\n', Math.max(span.startByte, span.endByte - 1));
  return [text.lastIndexOf('\n', span.startByte - 1) + 1, nl < 0 ? text.length : nl + 1];
}

/**
 * True when the whole lines of two spans are the same text (line ends included): then
 * their split lines are the same too, and the files need not be split into lines (a
 * big patch pairs every function of a hundred files). False may still be equal lines
 * (CRLF against LF); sameLineRange decides then.
 */
function sameRawLines(x: string, [xFrom, xTo]: [number, number], y: string, [yFrom, yTo]: [number, number]): boolean {
  // Two slices and ===: x.startsWith(y.slice(...), from) compares far slower in V8.
  return xTo - xFrom === yTo - yFrom && x.slice(xFrom, xTo) === y.slice(yFrom, yTo);
}

function rawText(index: FileIndex, start: number, end: number): string {
  return index.lines.slice(start, end + 1).join('\n');
}

export interface FilePairing {
  functions: DefChange<FunctionDef>[];
  types: DefChange<TypeDef>[];
  variables: DefChange<VariableDef>[];
  macros: DefChange<MacroDef>[];
}

export function pairFile(pre: FileIndex | null, post: FileIndex | null): FilePairing {
  const empty = { functions: [] as FunctionDef[], types: [] as TypeDef[], variables: [] as VariableDef[], macros: [] as MacroDef[] };
  const a = pre ?? empty;
  const b = post ?? empty;
  const textOf = (idx: FileIndex | null, s: number, e: number) => (idx ? rawText(idx, s, e) : '');
  return {
    functions: pairBy(a.functions, b.functions, (o, n) => {
      if (o.signature !== n.signature) return 'signature';
      const lines = pre && post ? ([wholeLines(pre.text, o.span), wholeLines(post.text, n.span)] as const) : null;
      const sameLines = !!lines && sameRawLines(pre!.text, lines[0], post!.text, lines[1]);
      // The common case, in one comparison: the same lines, with the body at the same place in them.
      if (
        sameLines &&
        o.bodySpan.startByte - lines![0][0] === n.bodySpan.startByte - lines![1][0] &&
        o.bodySpan.endByte - o.bodySpan.startByte === n.bodySpan.endByte - n.bodySpan.startByte
      )
        return o.span.start !== n.span.start ? 'moved' : 'unchanged';
      // Identical raw bodies need no normalisation.
      const sameRaw =
        !!pre &&
        !!post &&
        pre.text.slice(o.bodySpan.startByte, o.bodySpan.endByte) === post.text.slice(n.bodySpan.startByte, n.bodySpan.endByte);
      if (!sameRaw && o.normBody !== n.normBody) return 'body';
      if (
        pre && post
          ? !sameLines && !sameLineRange(pre.lines, o.span.start, o.span.end, post.lines, n.span.start, n.span.end)
          : textOf(pre, o.span.start, o.span.end) !== textOf(post, n.span.start, n.span.end)
      )
        return 'cosmetic';
      return o.span.start !== n.span.start ? 'moved' : 'unchanged';
    }),
    types: pairBy(
      a.types,
      b.types,
      (o, n) => (o.norm !== n.norm ? 'body' : o.span.start !== n.span.start ? 'moved' : 'unchanged'),
      (t) => `${t.kind} ${t.name}`,
    ),
    variables: pairBy(a.variables, b.variables, (o, n) => {
      if (o.type !== n.type || o.dims !== n.dims) return 'signature';
      if (o.norm !== n.norm) return 'body';
      return o.span.start !== n.span.start ? 'moved' : 'unchanged';
    }),
    macros: pairBy(a.macros, b.macros, (o, n) =>
      o.body !== n.body || o.params !== n.params ? 'body' : o.span.start !== n.span.start ? 'moved' : 'unchanged',
    ),
  };
}

/** Functions whose compiled code changes because their text changed. */
export function changedFunctions(p: FilePairing): DefChange<FunctionDef>[] {
  return p.functions.filter((c) => c.kind === 'body' || c.kind === 'signature');
}
