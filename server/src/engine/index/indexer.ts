// Builds the FileIndex of one image of one file: functions, types, variables,
// macros, exports, includes. Structure comes from tree-sitter; names of kernel
// macros that tree-sitter cannot see (SYSCALL_DEFINEn, EXPORT_SYMBOL, initcalls)
// come from the original text, which the blanked parse maps onto 1:1.

import { children, type CParser, type SyntaxNode } from '../parse/parser';
import type {
  CallSite,
  ExportDef,
  FileIndex,
  FunctionDef,
  IncludeDef,
  MacroDef,
  Member,
  Span,
  StaticLocal,
  StorageClass,
  TypeDef,
  VariableDef,
} from '../model';
import { identifiersOf, isWordChar, lineAt, lineStarts, normalizeC, splitLines } from '../util/text';
import { DATA_ATTRIBUTES, FUNCTION_ATTRIBUTES, LINE_MACROS } from './attributes';
import { matchParen, splitTopLevel } from '../parse/blank';
import * as timings from '../util/timings';
import { noteLineEdit } from './lineEdits';

const SYSCALL_HEAD_RE = /^\s*(?:static\s+)?((?:COMPAT_|KPATCH_|KLP_)?SYSCALL(?:32)?_DEFINE[0-6]|(?:NOTRACE_)?BPF_CALL_[0-5])\s*\(\s*(\w+)/;
const EXPORT_RE = /^\s*(EXPORT_(?:SYMBOL|TRACEPOINT_SYMBOL|STATIC_CALL)\w*)\s*\(\s*(\w+)\s*(?:,\s*"?(\w+)"?\s*)?\)/;
const INITCALL_RE =
  /^\s*(module_init|module_exit|(?:pure|core|postcore|arch|subsys|fs|rootfs|device|late|console|security|early)_initcall(?:_sync)?|__initcall|late_initcall_sync|subsys_initcall_sync|module_platform_driver_probe|__exitcall)\s*\(\s*(\w+)\s*\)/;
const HATCH_RE =
  /^\s*(KPATCH_IGNORE_FUNCTION|KPATCH_IGNORE_SECTION|KPATCH_(?:PRE|POST)_(?:PATCH|UNPATCH)_CALLBACK|KLP_(?:PRE|POST)_(?:PATCH|UNPATCH)_CALLBACK|KPATCH_FORCE_UNSAFE)\s*\(\s*"?([\w.]+)"?\s*\)/;
const INCLUDE_RE = /^\s*#\s*include\s*([<"][^>"]+[>"])/;
const MACRO_VAR_RE = /^(DEFINE_[A-Z0-9_]+|DECLARE_[A-Z0-9_]+|LIST_HEAD|HLIST_HEAD|LLIST_HEAD|static_assert)$/;

const CONTAINERS = new Set([
  'translation_unit',
  'preproc_if',
  'preproc_ifdef',
  'preproc_else',
  'preproc_elif',
  'preproc_elifdef',
  'ERROR',
  'linkage_specification',
  'declaration_list',
]);

interface Ctx {
  text: string;
  starts: number[];
  index: FileIndex;
}

export function indexSource(parser: CParser, path: string, text: string): FileIndex {
  const tree = parser.parse(text);
  try {
    return timings.timed('index', () => indexTree(tree.rootNode, path, text));
  } finally {
    tree.delete();
  }
}

function emptyIndex(path: string, text: string, lines: string[] = splitLines(text)): FileIndex {
  return {
    path,
    text,
    lines,
    functions: [],
    types: [],
    variables: [],
    macros: [],
    exports: [],
    includes: [],
    initTargets: new Map(),
    escapeHatches: new Map(),
    opaqueLines: [],
  };
}

// Per index, kept for the next incremental re-index: line starts, and the line facts
// (exports, initcalls, ...) in line order, so an edit rescans only the lines it touched.
const startsOf = new WeakMap<FileIndex, number[]>();
const lineFactsOf = new WeakMap<FileIndex, LineFact[]>();

/** Where each line of the index's text starts (computed once per index). */
function startsFor(index: FileIndex): number[] {
  let starts = startsOf.get(index);
  if (!starts) startsOf.set(index, (starts = lineStarts(index.text)));
  return starts;
}

export function indexTree(root: SyntaxNode, path: string, text: string): FileIndex {
  const index = emptyIndex(path, text);
  const ctx: Ctx = { text, starts: lineStarts(text), index };
  startsOf.set(index, ctx.starts);
  walkTop(ctx, root);
  setLineFacts(index, scanLineRange(index.lines, 0, index.lines.length));
  return index;
}

function src(ctx: Ctx, n: SyntaxNode): string {
  return ctx.text.slice(n.startIndex, n.endIndex);
}

function spanOf(ctx: Ctx, startByte: number, endByte: number): Span {
  return {
    start: lineAt(ctx.starts, startByte),
    end: lineAt(ctx.starts, Math.max(startByte, endByte - 1)),
    startByte,
    endByte,
  };
}

function walkTop(ctx: Ctx, node: SyntaxNode): void {
  for (const child of children(node)) indexTopLevel(ctx, child);
}

function indexTopLevel(ctx: Ctx, child: SyntaxNode): void {
  switch (child.type) {
    case 'function_definition':
      addFunction(ctx, child);
      break;
    case 'declaration':
    case 'type_definition':
      addDeclaration(ctx, child);
      break;
    case 'struct_specifier':
    case 'union_specifier':
    case 'enum_specifier':
      addType(ctx, child, null);
      break;
    case 'preproc_def':
    case 'preproc_function_def':
      addMacro(ctx, child);
      break;
    case 'expression_statement':
      if (addMacroVariable(ctx, child)) break;
      // `struct foo {...};` sometimes lands here after an ERROR.
      for (const g of children(child)) if (/^(struct|union|enum)_specifier$/.test(g.type)) addType(ctx, g, null);
      break;
    default:
      if (CONTAINERS.has(child.type)) walkTop(ctx, child);
  }
}

/**
 * indexTopLevel for the region [rs, end) of a re-index: a container (an #ifdef block of
 * a hundred functions) is entered only for its children that can give a definition in
 * the region. A definition starts no earlier than the start of its node's first line and
 * ends with its node, so a child that ends by rs, or whose first line starts at or after
 * end, gives only definitions the region filter drops.
 */
function indexNear(ctx: Ctx, node: SyntaxNode, rs: number, end: number): void {
  if (!CONTAINERS.has(node.type)) {
    indexTopLevel(ctx, node);
    return;
  }
  for (const child of children(node)) {
    if (child.endIndex <= rs) continue;
    if (ctx.starts[lineAt(ctx.starts, child.startIndex)] >= end) break;
    indexNear(ctx, child, rs, end);
  }
}

/** A byte range of an edit: [start, oldEnd) in the old text became [start, newEnd) in the new one. */
export interface EditRegion {
  start: number;
  oldEnd: number;
  newEnd: number;
}

function shiftSpan(sp: Span, db: number, dl: number): Span {
  return { start: sp.start + dl, end: sp.end + dl, startByte: sp.startByte + db, endByte: sp.endByte + db };
}

/**
 * The index of an edited text, from the index of the text before the edit:
 * definitions before the edited region are kept, those after it are shifted,
 * and only the top-level nodes of the new tree that touch the region are
 * indexed again. This keeps per-keystroke cost proportional to the edit, not
 * to the file.
 */
export function reindexTree(root: SyntaxNode, path: string, text: string, old: FileIndex, edit: EditRegion): FileIndex {
  const db = edit.newEnd - edit.oldEnd;
  // Lines [aLine, bOld] of the old text became [aLine, bNew] of the new one; the
  // lines around them are the same text, so their starts, their split and their
  // line facts are carried over instead of recomputed over the whole file.
  const oldStarts = startsFor(old);
  const aLine = lineAt(oldStarts, edit.start);
  const bOld = lineAt(oldStarts, edit.oldEnd);
  const starts = oldStarts.slice(0, aLine + 1);
  for (let i = text.indexOf('\n', oldStarts[aLine]); i !== -1 && i < edit.newEnd; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const bNew = starts.length - 1;
  for (let l = bOld + 1; l < oldStarts.length; l++) starts.push(oldStarts[l] + db);
  const dl = bNew - bOld;
  const lines = old.lines.slice(0, aLine);
  for (let l = aLine; l <= bNew; l++) lines.push(lineText(text, starts, l));
  for (let l = bOld + 1; l < old.lines.length; l++) lines.push(old.lines[l]);
  // Grow the region over every old definition it touches.
  let rs = edit.start;
  let reOld = edit.oldEnd;
  const all: { span: Span }[] = [...old.functions, ...old.types, ...old.variables, ...old.macros];
  for (const d of all) {
    if (d.span.endByte > edit.start && d.span.startByte < edit.oldEnd) {
      rs = Math.min(rs, d.span.startByte);
      reOld = Math.max(reOld, d.span.endByte);
    }
  }
  const reNew = reOld + db;
  const before = (sp: Span) => sp.endByte <= rs;
  const after = (sp: Span) => sp.startByte >= reOld;
  const index = emptyIndex(path, text, lines);
  const ctx: Ctx = { text, starts, index };
  startsOf.set(index, starts);
  // The rules' comment/literal blanking is redone only around the changed lines too.
  noteLineEdit(old, index, aLine, bOld, bNew);
  // Re-index the top-level nodes of the new tree that overlap the region.
  const fresh: Ctx = {
    text,
    starts: ctx.starts,
    index: { ...index, functions: [], types: [], variables: [], macros: [], opaqueLines: [] },
  };
  // The top-level node at rs, found one level down from the root. (Descending to
  // the deepest node and climbing back overflows tree-sitter's wasm stack on a
  // deeply nested expression, which corrupts the parser for every later parse.)
  const node: SyntaxNode | null = root.firstChildForIndex ? root.firstChildForIndex(rs) : null;
  if (node) {
    const end = Math.max(reNew, rs + 1);
    for (let n: SyntaxNode | null = node; n && n.startIndex < end; n = n.nextSibling) indexNear(fresh, n, rs, end);
  } else {
    walkTop(fresh, root);
  }
  const inRegion = (sp: Span) => sp.endByte > rs && sp.startByte < reNew;
  for (const f of old.functions) {
    if (before(f.span)) index.functions.push(f);
    else if (after(f.span)) index.functions.push(shiftFunction(f, text, starts, db, dl));
  }
  for (const t of old.types) {
    if (before(t.span)) index.types.push(t);
    else if (after(t.span))
      index.types.push({ ...t, span: shiftSpan(t.span, db, dl), members: t.members.map((m) => ({ ...m, line: m.line + dl })) });
  }
  for (const v of old.variables) {
    if (before(v.span)) index.variables.push(v);
    else if (after(v.span)) index.variables.push({ ...v, span: shiftSpan(v.span, db, dl) });
  }
  for (const m of old.macros) {
    if (before(m.span)) index.macros.push(m);
    else if (after(m.span)) index.macros.push({ ...m, span: shiftSpan(m.span, db, dl) });
  }
  index.functions.push(...fresh.index.functions.filter((f) => inRegion(f.span)));
  index.types.push(...fresh.index.types.filter((t) => inRegion(t.span)));
  index.variables.push(...fresh.index.variables.filter((v) => inRegion(v.span)));
  index.macros.push(...fresh.index.macros.filter((m) => inRegion(m.span)));
  const byStart = (a: { span: Span }, b: { span: Span }) => a.span.startByte - b.span.startByte;
  index.functions.sort(byStart);
  index.types.sort(byStart);
  index.variables.sort(byStart);
  index.macros.sort(byStart);
  const rsLine = lineAt(ctx.starts, rs);
  const reNewLine = lineAt(ctx.starts, Math.max(rs, reNew - 1));
  index.opaqueLines = [
    ...old.opaqueLines.filter((l) => l < rsLine),
    ...fresh.index.opaqueLines.filter((l) => l >= rsLine && l <= reNewLine),
    ...old.opaqueLines.filter((l) => l > lineAt(oldStarts, reOld)).map((l) => l + dl),
  ];
  const oldFacts = lineFactsOf.get(old) ?? scanLineRange(old.lines, 0, old.lines.length);
  setLineFacts(index, [
    ...oldFacts.filter((f) => f.line < aLine),
    ...scanLineRange(lines, aLine, bNew + 1),
    ...oldFacts.filter((f) => f.line > bOld).map((f) => ({ ...f, line: f.line + dl })),
  ]);
  return index;
}

/** Where line `l` of the index's text starts (the text's length past the last line). */
export function lineStartOf(index: FileIndex, l: number): number {
  const starts = startsFor(index);
  return l < 0 ? 0 : l < starts.length ? starts[l] : index.text.length;
}

/** The line of the index's text that holds `offset`. */
export function lineAtOffset(index: FileIndex, offset: number): number {
  return lineAt(startsFor(index), offset);
}

/** `index.lines[l]` without splitting the whole text into lines (undefined past the end). */
export function lineOf(index: FileIndex, l: number): string | undefined {
  const starts = startsFor(index);
  return l >= 0 && l < starts.length ? lineText(index.text, starts, l) : undefined;
}

/** Line `l` of `text` as splitLines() gives it (without its \r\n or \n). */
function lineText(text: string, starts: number[], l: number): string {
  const end = l + 1 < starts.length ? starts[l + 1] - 1 : text.length;
  return text.slice(starts[l], end > starts[l] && l + 1 < starts.length && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
}

/** A function's facts from its head (the body's are lazy properties), at the given spans. */
function functionHead(f: FunctionHead, span: Span, bodySpan: Span): FunctionHead {
  return {
    kind: 'function',
    name: f.name,
    syscallMacro: f.syscallMacro,
    storage: f.storage,
    inline: f.inline,
    attributes: f.attributes,
    signature: f.signature,
    span,
    bodySpan,
  };
}

function shiftFunction(f: FunctionDef, text: string, starts: number[], db: number, dl: number): FunctionDef {
  const head = functionHead(f, shiftSpan(f.span, db, dl), shiftSpan(f.bodySpan, db, dl));
  return IndexedFunction.make(head, text, starts, IndexedFunction.stateOf(f), dl);
}

/** The identifier a declarator declares, walking pointer/array/function/parenthesized layers. */
function declaratorName(ctx: Ctx, d: SyntaxNode | null): { name: string; fn: SyntaxNode | null; dims: string[] } {
  const dims: string[] = [];
  let fn: SyntaxNode | null = null;
  let cur = d;
  while (cur) {
    switch (cur.type) {
      case 'identifier':
      case 'field_identifier':
      case 'type_identifier':
        return { name: src(ctx, cur), fn, dims };
      case 'function_declarator': {
        const inner = cur.childForFieldName('declarator');
        // `int (*fp)(void)` declares a pointer to a function: a variable, not a prototype.
        if (!(inner?.type === 'parenthesized_declarator' && inner.namedChild(0)?.type === 'pointer_declarator')) fn ??= cur;
        cur = inner;
        break;
      }
      case 'array_declarator': {
        const size = cur.childForFieldName('size');
        dims.unshift(size ? `[${normalizeC(src(ctx, size))}]` : '[]');
        cur = cur.childForFieldName('declarator');
        break;
      }
      case 'pointer_declarator':
      case 'init_declarator':
      case 'attributed_declarator':
        cur = cur.childForFieldName('declarator') ?? cur.namedChild(0);
        break;
      case 'parenthesized_declarator':
        cur = cur.namedChild(0);
        break;
      default:
        return { name: '', fn, dims };
    }
  }
  return { name: '', fn, dims };
}

function tokensOf(text: string): string[] {
  return identifiersOf(text);
}

function storageOf(tokens: string[]): StorageClass {
  if (tokens.includes('static')) return 'static';
  if (tokens.includes('extern')) return 'extern';
  return 'none';
}

function addFunction(ctx: Ctx, node: SyntaxNode): void {
  const body = node.childForFieldName('body');
  if (!body) return;
  // Attributes may sit before the node's start on the same line (blanked text starts later).
  const lineStart = ctx.starts[lineAt(ctx.starts, node.startIndex)];
  const headStart = Math.min(lineStart, node.startIndex);
  const headText = ctx.text.slice(headStart, body.startIndex);
  const tokens = tokensOf(headText);
  let name = declaratorName(ctx, node.childForFieldName('declarator')).name;
  let syscallMacro: string | null = null;
  const sys = SYSCALL_HEAD_RE.exec(headText);
  if (sys) {
    syscallMacro = sys[1];
    name = sys[2];
  }
  if (!name || name === 'void' || (/^[A-Z0-9_]+$/.test(name) && !syscallMacro)) {
    const fallback = fallbackName(headText);
    if (!fallback) {
      ctx.index.opaqueLines.push(lineAt(ctx.starts, node.startIndex));
      return;
    }
    name = fallback;
  }
  const attributes = tokens.filter((t) => FUNCTION_ATTRIBUTES.has(t));
  const inline = tokens.includes('__always_inline')
    ? 'always'
    : tokens.some((t) => t === 'inline' || t === '__inline' || t === '__inline__')
      ? 'inline'
      : 'none';
  const head: FunctionHead = {
    kind: 'function',
    name,
    syscallMacro,
    storage: storageOf(tokens),
    inline,
    attributes: [...new Set(attributes)],
    signature: normalizeC(headText),
    span: spanOf(ctx, headStart, node.endIndex),
    bodySpan: spanOf(ctx, body.startIndex, body.endIndex),
  };
  ctx.index.functions.push(IndexedFunction.make(head, ctx.text, ctx.starts));
}

/** The identifier before the first top-level `(` that is not an attribute-like macro. */
function fallbackName(head: string): string | null {
  const norm = normalizeC(head);
  const re = /([A-Za-z_]\w*)\s*\(/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(norm))) {
    const w = m[1];
    if (/^__attribute__$|^__printf$|^__section$|^__aligned$|^__acquires$|^__releases$|^__must_hold$/.test(w)) continue;
    return w;
  }
  return null;
}

const NOT_CALLS = new Set([
  'if',
  'for',
  'while',
  'switch',
  'return',
  'sizeof',
  'typeof',
  '__typeof__',
  '__typeof',
  'alignof',
  '_Alignof',
  '__alignof__',
  'do',
  'else',
  'case',
  'goto',
  '__attribute__',
  'asm',
  '__asm__',
  'asm_inline',
  'volatile',
  '__volatile__',
  'defined',
  '_Static_assert',
  '_Generic',
  '__builtin_expect',
]);
const BODY_TOKEN_RE = /\/\*[\s\S]*?(?:\*\/|$)|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[A-Za-z_]\w*/g;

interface BodyFacts {
  staticLocals: StaticLocal[];
  calls: CallSite[];
  identifiers: Set<string>;
  lineMacroUses: CallSite[];
}

/**
 * Calls, identifiers and static locals of a body, read lexically from the
 * original text. This is much cheaper than walking every wasm node, so the
 * indexer can afford to do it lazily, only for the functions a rule looks at.
 */
function scanBodyText(text: string, start: number, end: number, starts: number[]): BodyFacts {
  const facts: BodyFacts = { staticLocals: [], calls: [], identifiers: new Set(), lineMacroUses: [] };
  const re = new RegExp(BODY_TOKEN_RE.source, 'g');
  re.lastIndex = start;
  let m: RegExpExecArray | null;
  // Character codes rather than one-character strings and slices, and the line carried
  // forward rather than searched for (the matches come in order): this runs on every
  // body a rule reads.
  let line = lineAt(starts, start);
  while ((m = re.exec(text)) && m.index < end) {
    const w = m[0];
    const at = m.index;
    const c = w.charCodeAt(0);
    if (c === 47 || c === 34 || c === 39) continue;
    if (at > 0 && isWordChar(text.charCodeAt(at - 1))) continue;
    while (line + 1 < starts.length && starts[line + 1] <= at) line++;
    let k = at + w.length;
    for (let ch = text.charCodeAt(k); k < end && (ch === 32 || ch === 9 || ch === 10); ch = text.charCodeAt(++k));
    // After `.` or `->` (within the body): a member, not a call.
    const member =
      (at - 1 >= start && text.charCodeAt(at - 1) === 46) ||
      (at - 2 >= start && text.charCodeAt(at - 1) === 62 && text.charCodeAt(at - 2) === 45);
    if (text.charCodeAt(k) === 40 && !NOT_CALLS.has(w) && !member) {
      const site: CallSite = { name: w, line };
      facts.calls.push(site);
      if (LINE_MACROS.has(w)) facts.lineMacroUses.push(site);
    } else {
      facts.identifiers.add(w);
      if (w === '__LINE__') facts.lineMacroUses.push({ name: w, line });
    }
    if (w === 'static') {
      const semi = text.indexOf(';', k);
      if (semi < 0 || semi > end) continue;
      const decl = text.slice(m.index, semi + 1);
      const head = decl.split('=')[0];
      if (head.includes('(') && !/\(\s*\*/.test(head)) continue; // a macro such as DEFINE_RATELIMIT_STATE(...)
      for (const part of head.replace(/\[[^\]]*\]/g, '').split(',')) {
        // The declared name is the last word that is not an annotation (`static bool w __read_mostly;`).
        const names = (part.match(/[A-Za-z_]\w*/g) ?? []).filter(
          (w) => !DATA_ATTRIBUTES.has(w) && !FUNCTION_ATTRIBUTES.has(w) && !/^__(?:aligned|section|attribute__|maybe_unused|used)$/.test(w),
        );
        const name = names[names.length - 1];
        if (name && name !== 'static') facts.staticLocals.push({ name, decl: normalizeC(decl), line });
      }
    }
  }
  return facts;
}

interface LazyState {
  text: string;
  start: number;
  end: number;
  /** The text's line starts, or how to get them (an index from the store splits its text on first use). */
  starts: number[] | (() => number[]);
  facts: BodyFacts | null;
  norm: string | null;
  /** Facts computed for the same body in an earlier index, `dl` lines higher up. */
  moved: { facts: BodyFacts; dl: number } | null;
}

/** The facts of a body moved by dl lines: the same names, on lines dl further down. */
function shiftFacts(f: BodyFacts, dl: number): BodyFacts {
  if (dl === 0) return f;
  const site = (c: CallSite): CallSite => ({ ...c, line: c.line + dl });
  return {
    staticLocals: f.staticLocals.map((s) => ({ ...s, line: s.line + dl })),
    calls: f.calls.map(site),
    identifiers: f.identifiers,
    lineMacroUses: f.lineMacroUses.map(site),
  };
}

/** What a function's head gives: the fields an index stores (the body's facts are computed from the text). */
export type FunctionHead = Omit<FunctionDef, 'normBody' | 'staticLocals' | 'calls' | 'identifiers' | 'lineMacroUses'>;

/**
 * A function of an index: its head as own data, its body's facts as getters on the
 * prototype, computed from the text on first use. One prototype rather than getters on
 * each object: an index read from the store makes thousands of these per run, and an
 * edit re-creates every function after it. A copy must go through withAttributes()
 * (spreading one drops the body's facts).
 */
class IndexedFunction implements FunctionDef {
  declare readonly kind: 'function';
  declare name: string;
  declare syscallMacro: string | null;
  declare storage: FunctionDef['storage'];
  declare inline: FunctionDef['inline'];
  declare attributes: string[];
  declare signature: string;
  declare span: Span;
  declare bodySpan: Span;
  declare expansion?: { added: string[]; dropped: string[] };
  #lazy: LazyState;

  private constructor(head: FunctionHead, lazy: LazyState) {
    Object.assign(this, head);
    this.#lazy = lazy;
  }

  /**
   * A function at `head` in `text`. One that an edit only moved by dl lines (`prev`: its
   * state in the previous index) takes its body's facts from there when they were
   * computed already, instead of rescanning every body of the file after each keystroke.
   */
  static make(head: FunctionHead, text: string, starts: LazyState['starts'], prev?: LazyState, dl = 0): IndexedFunction {
    const moved = prev?.facts ? { facts: prev.facts, dl } : prev?.moved ? { facts: prev.moved.facts, dl: prev.moved.dl + dl } : null;
    const start = head.bodySpan.startByte;
    const end = head.bodySpan.endByte;
    return new IndexedFunction(head, { text, start, end, starts, facts: null, norm: prev?.norm ?? null, moved });
  }

  static stateOf(fn: FunctionDef): LazyState | undefined {
    return fn instanceof IndexedFunction ? fn.#lazy : undefined;
  }

  /** The same function with other attributes (the body's facts stay shared and lazy). */
  static withAttributes(fn: FunctionDef, attributes: string[], expansion: FunctionDef['expansion']): FunctionDef {
    if (!(fn instanceof IndexedFunction)) return { ...fn, attributes, expansion };
    return new IndexedFunction({ ...functionHead(fn, fn.span, fn.bodySpan), attributes, expansion }, fn.#lazy);
  }

  private facts(): BodyFacts {
    const st = this.#lazy;
    if (!st.facts) {
      if (typeof st.starts === 'function') st.starts = st.starts();
      st.facts = st.moved ? shiftFacts(st.moved.facts, st.moved.dl) : scanBodyText(st.text, st.start, st.end, st.starts);
      st.moved = null;
    }
    return st.facts;
  }

  get staticLocals(): StaticLocal[] {
    return this.facts().staticLocals;
  }
  get calls(): CallSite[] {
    return this.facts().calls;
  }
  get identifiers(): Set<string> {
    return this.facts().identifiers;
  }
  get lineMacroUses(): CallSite[] {
    return this.facts().lineMacroUses;
  }
  /** Body text normalised: comments dropped, whitespace collapsed. */
  get normBody(): string {
    const st = this.#lazy;
    return (st.norm ??= normalizeC(st.text.slice(st.start, st.end)));
  }
}

export const withAttributes = IndexedFunction.withAttributes;

const MACRO_VAR_TEXT_RE = /^\s*((?:static\s+|extern\s+)*)((?:DEFINE|DECLARE)_[A-Z0-9_]+|LIST_HEAD|HLIST_HEAD|LLIST_HEAD)\s*\(/;

/**
 * `static DEFINE_MUTEX(lock);`, `DEFINE_STATIC_KEY_FALSE(key);`, `DEFINE_PER_CPU(int, x);`:
 * variables defined by a macro. Read from the text, because tree-sitter parses
 * them as prototypes, expressions or pointer declarations depending on the arguments.
 */
function addMacroVariable(ctx: Ctx, node: SyntaxNode): boolean {
  const lineStart = ctx.starts[lineAt(ctx.starts, node.startIndex)];
  const text = ctx.text.slice(lineStart, node.endIndex);
  const m = MACRO_VAR_TEXT_RE.exec(text);
  if (!m) return false;
  const open = text.indexOf('(', m[0].length - 1);
  const close = matchParen(text, open);
  if (close < 0) return false;
  const args = text.slice(open + 1, close);
  const parts = splitTopLevel(text, open, close);
  const macro = m[2];
  const perCpu = /^DEFINE_PER_CPU/.test(macro) || /^DECLARE_PER_CPU/.test(macro);
  const nameArg = (perCpu ? parts[parts.length - 1] : parts[0]) ?? '';
  const name = /([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*$/.exec(nameArg.trim())?.[1];
  if (!name) return false;
  const tokens = tokensOf(text);
  ctx.index.variables.push({
    kind: 'variable',
    name,
    storage: /\bstatic\b/.test(m[1]) ? 'static' : /\bextern\b/.test(m[1]) ? 'extern' : 'none',
    type: perCpu ? normalizeC(parts.slice(0, -1).join(',')) : macro,
    dims: perCpu ? (/\[[^\]]*\]\s*$/.exec(nameArg.trim())?.[0] ?? '') : '',
    init: normalizeC(args),
    attributes: [...new Set([...tokens.filter((t) => DATA_ATTRIBUTES.has(t)), macro])],
    span: spanOf(ctx, node.startIndex, node.endIndex),
    norm: normalizeC(ctx.text.slice(node.startIndex, node.endIndex)),
  });
  return true;
}

function addDeclaration(ctx: Ctx, node: SyntaxNode): void {
  if (node.type === 'declaration' && addMacroVariable(ctx, node)) return;
  const kids = children(node);
  const typeNode = node.childForFieldName('type');
  // Named struct/union/enum bodies declared here.
  if (typeNode && /^(struct|union|enum)_specifier$/.test(typeNode.type) && typeNode.childForFieldName('body')) {
    let typedefName: string | null = null;
    if (node.type === 'type_definition') {
      const d = node.childForFieldName('declarator');
      typedefName = d ? declaratorName(ctx, d).name : null;
    }
    addType(ctx, typeNode, typedefName);
  }
  if (node.type === 'type_definition') return;
  const declText = ctx.text.slice(ctx.starts[lineAt(ctx.starts, node.startIndex)], node.endIndex);
  const tokens = tokensOf(declText);
  const attributes = [...new Set(tokens.filter((t) => DATA_ATTRIBUTES.has(t) || /^DEFINE_PER_CPU/.test(t)))];
  const storage = storageOf(tokens);
  const typeText = typeNode ? normalizeC(src(ctx, typeNode)) : '';
  const qualifiers = kids.filter((k) => k.type === 'type_qualifier').map((k) => src(ctx, k));
  for (const k of kids) {
    if (!(k.type === 'init_declarator' || k.type.endsWith('declarator') || k.type === 'identifier')) continue;
    if (k === typeNode) continue;
    const { name, fn, dims } = declaratorName(ctx, k);
    if (!name) continue;
    if (fn) {
      // A prototype, or a DEFINE_MUTEX(x)-style macro instance that defines a variable.
      if (MACRO_VAR_RE.test(name)) {
        const args = fn.childForFieldName('parameters');
        const argText = args ? src(ctx, args).slice(1, -1) : '';
        const first = /^\s*(?:\w+\s*,\s*)?\s*([A-Za-z_]\w*)/.exec(argText.split(',')[0] ?? '');
        const varName = /^DEFINE_PER_CPU/.test(name) ? argText.split(',').pop()?.trim() : first?.[1];
        if (varName) {
          ctx.index.variables.push({
            kind: 'variable',
            name: varName,
            storage,
            type: name,
            dims: '',
            init: normalizeC(argText),
            attributes: [...attributes, name],
            span: spanOf(ctx, node.startIndex, node.endIndex),
            norm: normalizeC(src(ctx, node)),
          });
        }
      }
      continue;
    }
    if (tokens.includes('typedef')) continue;
    const value = k.type === 'init_declarator' ? k.childForFieldName('value') : null;
    const pointer = /\*/.test(src(ctx, k).split('=')[0]) ? ' *' : '';
    const v: VariableDef = {
      kind: 'variable',
      name,
      storage,
      type: normalizeC([...qualifiers, typeText].join(' ')) + pointer,
      dims: dims.join(''),
      init: value ? normalizeC(src(ctx, value)) : null,
      attributes,
      span: spanOf(ctx, node.startIndex, node.endIndex),
      norm: normalizeC(src(ctx, node)),
    };
    ctx.index.variables.push(v);
  }
}

function addType(ctx: Ctx, node: SyntaxNode, typedefName: string | null): void {
  const body = node.childForFieldName('body');
  if (!body) return;
  const nameNode = node.childForFieldName('name');
  const kind = node.type.replace('_specifier', '') as TypeDef['kind'];
  const name = nameNode ? src(ctx, nameNode) : typedefName;
  if (!name) return;
  const members: Member[] = [];
  for (const m of children(body)) {
    if (m.type === 'field_declaration') {
      const decls: string[] = [];
      for (const d of children(m)) {
        if (d.type.endsWith('declarator') || d.type === 'field_identifier') {
          const dn = declaratorName(ctx, d).name;
          if (dn) decls.push(dn);
        }
      }
      const decl = normalizeC(src(ctx, m));
      const line = lineAt(ctx.starts, m.startIndex);
      if (decls.length === 0) members.push({ name: `<anonymous@${members.length}>`, decl, line });
      for (const dn of decls) members.push({ name: dn, decl, line });
    } else if (m.type === 'enumerator') {
      const n = m.childForFieldName('name');
      members.push({ name: n ? src(ctx, n) : src(ctx, m), decl: normalizeC(src(ctx, m)), line: lineAt(ctx.starts, m.startIndex) });
    } else if (m.type.startsWith('preproc_')) {
      // Members under #ifdef: record the conditional block as one opaque member.
      members.push({ name: `<${m.type}@${members.length}>`, decl: normalizeC(src(ctx, m)), line: lineAt(ctx.starts, m.startIndex) });
    }
  }
  ctx.index.types.push({
    kind,
    name,
    members,
    span: spanOf(ctx, node.startIndex, node.endIndex),
    norm: normalizeC(src(ctx, node)),
  });
}

function addMacro(ctx: Ctx, node: SyntaxNode): void {
  const nameNode = node.childForFieldName('name');
  if (!nameNode) return;
  const params = node.childForFieldName('parameters');
  const value = node.childForFieldName('value');
  const m: MacroDef = {
    kind: 'macro',
    name: src(ctx, nameNode),
    params: params ? src(ctx, params) : null,
    body: value ? normalizeC(src(ctx, value)) : '',
    span: spanOf(ctx, node.startIndex, node.endIndex),
  };
  ctx.index.macros.push(m);
}

/** One line-oriented fact: an export, an initcall, an escape hatch or an include. */
type LineFact =
  | { line: number; kind: 'export'; symbol: string; macro: string; namespace: string | null }
  | { line: number; kind: 'initcall' | 'hatch'; name: string; macro: string }
  | { line: number; kind: 'include'; path: string };

/** The line facts of lines [from, to), in line order. */
function scanLineRange(lines: string[], from: number, to: number): LineFact[] {
  const out: LineFact[] = [];
  for (let i = from; i < to; i++) {
    const line = lines[i];
    let m = EXPORT_RE.exec(line);
    if (m) {
      out.push({ line: i, kind: 'export', symbol: m[2], macro: m[1], namespace: m[3] ?? null });
      continue;
    }
    m = INITCALL_RE.exec(line);
    if (m) {
      out.push({ line: i, kind: 'initcall', name: m[2], macro: m[1] });
      continue;
    }
    m = HATCH_RE.exec(line);
    if (m) {
      out.push({ line: i, kind: 'hatch', name: m[2], macro: m[1] });
      continue;
    }
    m = INCLUDE_RE.exec(line);
    if (m) out.push({ line: i, kind: 'include', path: m[1] });
  }
  return out;
}

/** Fills the index's exports, initcalls, escape hatches and includes from its line facts (in line order, as a scan would). */
function setLineFacts(index: FileIndex, facts: LineFact[]): void {
  lineFactsOf.set(index, facts);
  for (const f of facts) {
    if (f.kind === 'export') {
      const e: ExportDef = { symbol: f.symbol, macro: f.macro, namespace: f.namespace, line: f.line };
      index.exports.push(e);
    } else if (f.kind === 'initcall') index.initTargets.set(f.name, f.macro);
    else if (f.kind === 'hatch') index.escapeHatches.set(f.name, f.macro);
    else if (f.kind === 'include') {
      const inc: IncludeDef = { path: f.path, line: f.line };
      index.includes.push(inc);
    }
  }
}

/**
 * An index as plain data, for the on-disk index store (indexStore.ts): no text, no
 * lines, no body facts (they are computed from the text on demand, so the stored
 * form stays small and a rebuilt index gives the very same facts).
 */
export interface StoredIndex {
  functions: FunctionHead[];
  types: TypeDef[];
  variables: VariableDef[];
  macros: MacroDef[];
  opaqueLines: number[];
  facts: LineFact[];
}

export function toStoredIndex(index: FileIndex): StoredIndex {
  return {
    functions: index.functions.map((f) => functionHead(f, f.span, f.bodySpan)),
    types: index.types,
    variables: index.variables,
    macros: index.macros,
    opaqueLines: index.opaqueLines,
    facts: lineFactsOf.get(index) ?? scanLineRange(index.lines, 0, index.lines.length),
  };
}

const LAZY_LINES: string[] = [];
/** `lines` as a getter that splits the text once, then is a plain property again. */
const LINES_ON_FIRST_USE: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: FileIndex): string[] {
    const lines = splitLines(this.text);
    Object.defineProperty(this, 'lines', { value: lines, writable: true, enumerable: true, configurable: true });
    return lines;
  },
  set(this: FileIndex, lines: string[]): void {
    Object.defineProperty(this, 'lines', { value: lines, writable: true, enumerable: true, configurable: true });
  },
};

/**
 * The index a StoredIndex was made from, given the same text. Its lines and line starts
 * are split on first use: a big patch reads a hundred stored indexes, and most of their
 * files are only paired, not read line by line.
 */
export function fromStoredIndex(stored: StoredIndex, path: string, text: string): FileIndex {
  const index = emptyIndex(path, text, LAZY_LINES);
  Object.defineProperty(index, 'lines', LINES_ON_FIRST_USE);
  const starts = () => startsFor(index);
  for (const f of stored.functions) index.functions.push(IndexedFunction.make(f, text, starts));
  index.types = stored.types;
  index.variables = stored.variables;
  index.macros = stored.macros;
  index.opaqueLines = stored.opaqueLines;
  setLineFacts(index, stored.facts);
  return index;
}
