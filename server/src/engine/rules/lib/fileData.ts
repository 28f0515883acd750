// File-scope data objects of an image (with the macro-made ones the indexer misses) and their pairing across a patch.

import type { FileIndex, VariableDef } from '../../model';
import { matchParen, splitTopLevel } from '../../parse/blank';
import { firstAtLeast, normalizeC } from '../../util/text';
import type { FileChange } from '../rule';
import { codeOnly } from './codeText';
import { lineStartOf } from '../../index/indexer';
import { LineDerived, type LineEdit } from '../../index/lineEdits';

export interface DataVar {
  name: string;
  storage: VariableDef['storage'];
  /** What decides the object's size and type (for a macro: the macro and its size arguments). */
  type: string;
  dims: string;
  /** Initial contents, normalised; null when zero-initialised. */
  init: string | null;
  attributes: string[];
  span: { start: number; end: number };
  /** Set for DEFINE_*()-made objects. */
  macro: string | null;
}

/** Macros that define one object at file scope, and which argument names it. */
function macroVarShape(macro: string, args: string[]): { name: string; type: string; dims: string; init: string | null } | null {
  const a = args.map((x) => normalizeC(x));
  if (!a.length || (!/^[A-Za-z_]\w*$/.test(a[0]) && !/^DEFINE_PER_CPU/.test(macro))) return null;
  let m: RegExpExecArray | null;
  if ((m = /^DEFINE_STATIC_KEY_(TRUE|FALSE)(_RO)?$/.exec(macro))) {
    return { name: a[0], type: `DEFINE_STATIC_KEY${m[2] ?? ''}`, dims: '', init: m[1] };
  }
  if (/^DEFINE_PER_CPU\w*$/.test(macro)) {
    const name = a[a.length - 1];
    return /^[A-Za-z_]\w*$/.test(name) ? { name, type: `${macro}(${a.slice(0, -1).join(',')})`, dims: '', init: null } : null;
  }
  if (macro === 'DECLARE_BITMAP') return { name: a[0], type: macro, dims: `[${a[1] ?? ''}]`, init: null };
  if (macro === 'DEFINE_HASHTABLE') return { name: a[0], type: macro, dims: `[1<<${a[1] ?? ''}]`, init: null };
  if (
    /^(?:DEFINE_(?:MUTEX|SPINLOCK|RAW_SPINLOCK|RWLOCK|SEQLOCK|IDA|IDR|XARRAY\w*|SEMAPHORE|RATELIMIT_STATE|STATIC_CALL\w*|STATIC_SRCU|SRCU|KLIST|SIMPLE_ATTRIBUTE|DEBUGFS_ATTRIBUTE|WAIT_QUEUE_HEAD|STATIC_KEY_ARRAY_\w+)|DECLARE_(?:WAIT_QUEUE_HEAD|WORK|DELAYED_WORK|DEFERRABLE_WORK|COMPLETION|RWSEM|TASKLET\w*)|LIST_HEAD|HLIST_HEAD|LLIST_HEAD)$/.test(
      macro,
    )
  ) {
    const rest = a.slice(1).join(',');
    return { name: a[0], type: macro, dims: '', init: rest || null };
  }
  return null;
}

/** Top-level comma-separated pieces of raw(open, close), split where the blanked code has commas. */
function splitArgs(code: string, raw: string, open: number, close: number): string[] {
  const out: string[] = [];
  let start = open + 1;
  for (const piece of splitTopLevel(code, open, close)) {
    out.push(raw.slice(start, start + piece.length));
    start += piece.length + 1;
  }
  // `FOO()` has no argument, and `FOO(a, )` one.
  if (!out[out.length - 1].trim()) out.pop();
  return out;
}

/**
 * Whether a line lies in one of the index's functions: the functions sorted by first
 * line, with the furthest last line among each prefix, so one binary search answers
 * (a linear scan per macro line cost 16 ms on net/core/dev.c).
 */
function insideFunction(idx: FileIndex): (line: number) => boolean {
  const spans = idx.functions.map((f) => f.span).sort((a, b) => a.start - b.start);
  const starts = spans.map((s) => s.start);
  const reach: number[] = [];
  for (const s of spans) reach.push(Math.max(s.end, reach.length ? reach[reach.length - 1] : -Infinity));
  return (line) => {
    // The last function starting at or before the line.
    const i = firstAtLeast(starts, line + 1) - 1;
    return i >= 0 && reach[i] >= line;
  };
}

/** Only these macro names can define an object (macroVarShape): the others are passed over unread. */
const DATA_MACRO_NAME = /^(?:DEFINE_|DECLARE_|LIST_HEAD$|HLIST_HEAD$|LLIST_HEAD$)/;

/**
 * File-scope objects made by DEFINE_*()/LIST_HEAD()-style macros on lines [fromLine, toLine],
 * and for every file-scope macro call read there, the line its arguments end on (Infinity
 * when they never close): what a line finds depends only on the text from its start to there.
 */
interface MacroVars {
  vars: DataVar[];
  reach: { line: number; end: number }[];
}

function macroVars(idx: FileIndex, fromLine = 0, toLine = Infinity): MacroVars {
  const raw = idx.text;
  // The whole text without its line starts: a stored index has not split them.
  const end = toLine === Infinity ? raw.length : lineStartOf(idx, toLine + 1);
  // Line numbers by counting newlines from the previous match on (the matches come in
  // order): a table of every line start cost more than the rest of the scan.
  let counted = fromLine === 0 ? 0 : lineStartOf(idx, fromLine);
  let countedLine = fromLine;
  const lineOf = (offset: number) => {
    for (let nl = raw.indexOf('\n', counted); nl >= 0 && nl < offset; nl = raw.indexOf('\n', nl + 1)) {
      countedLine++;
      counted = nl + 1;
    }
    return countedLine;
  };
  const newlinesIn = (from: number, to: number) => {
    let n = 0;
    for (let nl = raw.indexOf('\n', from); nl >= 0 && nl < to; nl = raw.indexOf('\n', nl + 1)) n++;
    return n;
  };
  const out: DataVar[] = [];
  const reach: MacroVars['reach'] = [];
  // Sticky: tried at the start of each line that names a data macro (the only lines whose
  // match can pass DATA_MACRO_NAME), instead of at every line start of the file.
  const re = /[ \t]*((?:static|extern)[ \t]+)?(?:(?:const|__\w+)[ \t]+)*([A-Z][A-Z0-9_]*)[ \t]*\(/y;
  const named = /DEFINE_|DECLARE_|LIST_HEAD/g;
  const inFunction = insideFunction(idx);
  let m: RegExpExecArray | null;
  let lastLineStart = -1;
  // The pattern anchors at a line start, so comment lines (` * FOO(`) never match and
  // the raw text can be scanned without blanking the whole file first.
  named.lastIndex = counted;
  for (let hit = named.exec(raw); hit && hit.index < end; hit = named.exec(raw)) {
    const lineStart = raw.lastIndexOf('\n', hit.index) + 1;
    if (lineStart === lastLineStart) continue;
    lastLineStart = lineStart;
    re.lastIndex = lineStart;
    if (!(m = re.exec(raw))) continue;
    const macro = m[2];
    if (!DATA_MACRO_NAME.test(macro)) continue;
    const open = m.index + m[0].length - 1;
    const line = lineOf(m.index);
    if (inFunction(line)) continue;
    const close = matchParen(raw, open);
    const endLine = close < 0 ? Infinity : line + newlinesIn(m.index, close);
    reach.push({ line, end: endLine });
    if (close < 0) continue;
    const local = raw.slice(open, close + 1);
    const shape = macroVarShape(macro, splitArgs(codeOnly(local), local, 0, local.length - 1));
    if (!shape) continue;
    const attrs = /__\w+/.exec(m[0]);
    out.push({
      ...shape,
      storage: m[1]?.trim() === 'static' ? 'static' : m[1]?.trim() === 'extern' ? 'extern' : 'none',
      attributes: attrs ? [attrs[0]] : [],
      span: { start: line, end: endLine },
      macro,
    });
  }
  return { vars: out, reach };
}

/**
 * The macro-made objects of an index re-indexed around an edit: those of the index it came
 * from, with the changed lines read again, and the lines above them whose macro call reads
 * into them. The lines below are the same text and find the same objects, moved.
 */
function macroVarsAround(prev: MacroVars, { aLine, bOld, bNew }: LineEdit, idx: FileIndex): MacroVars {
  let lo = aLine;
  for (const r of prev.reach) if (r.line < aLine && r.end >= aLine) lo = Math.min(lo, r.line);
  const dl = bNew - bOld;
  const fresh = macroVars(idx, lo, bNew);
  return {
    vars: [
      ...prev.vars.filter((v) => v.span.start < lo),
      ...fresh.vars,
      ...prev.vars.filter((v) => v.span.start > bOld).map((v) => ({ ...v, span: { start: v.span.start + dl, end: v.span.end + dl } })),
    ],
    reach: [
      ...prev.reach.filter((r) => r.line < lo),
      ...fresh.reach,
      ...prev.reach.filter((r) => r.line > bOld).map((r) => ({ line: r.line + dl, end: r.end + dl })),
    ],
  };
}

const macroVarsOf = new LineDerived<MacroVars>((idx) => macroVars(idx), macroVarsAround);

/** How many macro-made object lists were read from the whole text and how many around an edit (for tests). */
export const macroVarsStats = macroVarsOf.stats;

const dataCache = new WeakMap<FileIndex, DataVar[]>();

/**
 * File-scope objects of one image: the indexer's variables, with macro-made
 * objects and function-pointer objects filled in (the indexer misses or
 * misreads those).
 */
export function fileData(idx: FileIndex): DataVar[] {
  const cached = dataCache.get(idx);
  if (cached) return cached;
  const macros = macroVarsOf.get(idx).vars;
  const macroLines = new Set<number>();
  for (const v of macros) for (let l = v.span.start; l <= v.span.end; l++) macroLines.add(l);
  const out: DataVar[] = [];
  for (const v of idx.variables) {
    if (macroLines.has(v.span.start)) continue; // re-read from the macro text
    if (/^(?:DEFINE|DECLARE)_/.test(v.type)) continue; // a macro we do not model as data
    out.push({
      name: v.name,
      storage: v.storage,
      type: v.type,
      dims: v.dims,
      init: v.init,
      attributes: v.attributes,
      span: { start: v.span.start, end: v.span.end },
      macro: null,
    });
  }
  out.push(...macros);
  // Function-pointer objects (`int (*fp)(void) = f;`) come from the indexer too.
  out.sort((a, b) => a.span.start - b.span.start);
  dataCache.set(idx, out);
  return out;
}

export interface DataChange {
  name: string;
  old: DataVar | null;
  new: DataVar | null;
}

/** Pairs the file-scope objects of both images by name (and occurrence, for #ifdef alternatives). */
export function pairData(fc: FileChange): DataChange[] {
  const olds = fc.pre ? fileData(fc.pre) : [];
  const news = fc.post ? fileData(fc.post) : [];
  const keyed = (list: DataVar[]) => {
    const seen = new Map<string, number>();
    return list.map((v) => {
      const n = seen.get(v.name) ?? 0;
      seen.set(v.name, n + 1);
      return { key: `${v.name}#${n}`, v };
    });
  };
  const oldMap = new Map(keyed(olds).map((x) => [x.key, x.v]));
  const out: DataChange[] = [];
  const matched = new Set<string>();
  for (const { key, v } of keyed(news)) {
    const o = oldMap.get(key) ?? null;
    if (o) matched.add(key);
    out.push({ name: v.name, old: o, new: v });
  }
  for (const [key, o] of oldMap) if (!matched.has(key)) out.push({ name: o.name, old: o, new: null });
  return out;
}
