// Helpers for the data, static-local, special-section and module rules:
// code-only text (comments and literals blanked), macro families that hide
// static state, file-scope data the indexer does not record, module facts and
// bounded searches of the kernel tree.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileIndex, FunctionDef, VariableDef } from '../model';
import { matchParen, splitTopLevel } from '../parse/blank';
import { escapeRegExp, lineAt, lineStarts, normalizeC } from '../util/text';
import type { KernelTree } from '../tree/kernelTree';
import { objectFacts, type ObjectFacts } from '../tree/kbuild';
import type { FileChange, RuleContext } from './rule';

// ---------------------------------------------------------------- code text

/** Same-length copy of C text with comments, string and char literals replaced by spaces (newlines kept). */
export function codeOnly(text: string): string {
  // One regex pass: the regex engine is far faster than a character loop on 400 KB files.
  return text.replace(CODE_ONLY_RE, (m: string) => {
    if (m[0] === '/') return m.replace(/[^\n]/g, ' ');
    // Keep the quotes, blank the contents.
    const q = m[0];
    const closed = m.length > 1 && m[m.length - 1] === q && !/\\$/.test(m.slice(0, -1).replace(/\\\\/g, ''));
    const inner = m.slice(1, closed ? -1 : undefined).replace(/[^\n]/g, ' ');
    return q + inner + (closed ? q : '');
  });
}

const CODE_ONLY_RE = /\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))|\/\/[^\n]*|"(?:[^"\\\n]|\\[\s\S])*"?|'(?:[^'\\\n]|\\[\s\S])*'?/g;

const codeLinesCache = new WeakMap<FileIndex, string[]>();

/** The index's lines with comments and literals blanked. */
export function codeLines(idx: FileIndex): string[] {
  let lines = codeLinesCache.get(idx);
  if (!lines) {
    lines = codeOnly(idx.lines.join('\n')).split('\n');
    codeLinesCache.set(idx, lines);
  }
  return lines;
}

/** Code of a function body (comments and literals blanked), lines joined with \n. */
export function bodyCode(idx: FileIndex, fn: FunctionDef): string {
  return codeLines(idx).slice(fn.bodySpan.start, fn.bodySpan.end + 1).join('\n');
}

export interface Use {
  name: string;
  /** 0-based line in the image. */
  line: number;
  /** Regex groups after the name (e.g. a key argument). */
  groups: string[];
}

/** Matches of `re` (global; group 1 = name) in a function's body, with image lines. */
export function usesIn(idx: FileIndex, fn: FunctionDef, re: RegExp): Use[] {
  const out: Use[] = [];
  const lines = codeLines(idx);
  for (let l = fn.bodySpan.start; l <= fn.bodySpan.end && l < lines.length; l++) {
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(lines[l]))) {
      out.push({ name: m[1], line: l, groups: m.slice(2).map((g) => g ?? '') });
      if (m[0].length === 0) re.lastIndex++;
    }
  }
  return out;
}

export function countWord(code: string, word: string): number {
  return (code.match(new RegExp(`\\b${escapeRegExp(word)}\\b`, 'g')) ?? []).length;
}

// ---------------------------------------------------------------- macro families

export type StateFamily = 'once' | 'ratelimit' | 'dyndbg' | 'static-key' | 'lockdep';

/** Macro name -> the kind of hidden static it defines, or null. */
export function stateFamily(name: string): StateFamily | null {
  if (/^(?:WARN_ONCE|WARN_ON_ONCE|WARN_TAINT_ONCE|DO_ONCE\w*|printk\w*_once|pr_\w+_once|dev_\w+_once|netdev_\w+_once|netif_\w+_once|ibdev_\w+_once|\w*get_random_once\w*)$/.test(name)) return 'once';
  // net_*_ratelimited() use the shared net_ratelimit() state, not a static of their own.
  if (/^(?:DEFINE_RATELIMIT_STATE|printk\w*_ratelimited|pr_\w+_ratelimited|dev_\w+_ratelimited|ibdev_\w+_ratelimited|xfs_\w+_ratelimited)$/.test(name)) return 'ratelimit';
  if (/^(?:pr_debug|dev_dbg|netdev_dbg|netif_dbg|ibdev_dbg|print_hex_dump_debug|print_hex_dump_bytes|dynamic_pr_debug|dynamic_dev_dbg|dynamic_netdev_dbg|dynamic_hex_dump)$/.test(name)) return 'dyndbg';
  if (/^DEFINE_STATIC_KEY_\w+$/.test(name)) return 'static-key';
  if (/^(?:spin_lock_init|raw_spin_lock_init|rwlock_init|mutex_init|init_rwsem|percpu_init_rwsem|seqcount_init|seqlock_init|init_waitqueue_head|init_completion|INIT_WORK|INIT_DELAYED_WORK|INIT_WORK_ONSTACK|timer_setup|init_srcu_struct|lockdep_register_key)$/.test(name)) return 'lockdep';
  return null;
}

/** Word followed by `(`: a macro or function use. Group 1 is the name. */
export const CALL_RE = /\b([A-Za-z_]\w*)\s*\(/g;

/** Uses of state-defining macros in a function body. */
export function stateMacroUses(idx: FileIndex, fn: FunctionDef): (Use & { family: StateFamily })[] {
  return usesIn(idx, fn, CALL_RE)
    .map((u) => ({ ...u, family: stateFamily(u.name) }))
    .filter((u): u is Use & { family: StateFamily } => u.family !== null);
}

/** `static DEFINE_FOO(name, ...)` inside a function: macro-made static locals. */
export function macroStaticLocals(idx: FileIndex, fn: FunctionDef): { name: string; macro: string; line: number }[] {
  return usesIn(idx, fn, /\bstatic\s+(?:const\s+)?([A-Z][A-Z0-9_]*)\s*\(\s*([A-Za-z_]\w*)/g)
    .filter((u) => /^(?:DEFINE|DECLARE)_/.test(u.name))
    .map((u) => ({ name: u.groups[0], macro: u.name, line: u.line }));
}

/** Names of the static locals a function declares, plain and macro-made. */
export function staticLocalNames(idx: FileIndex, fn: FunctionDef): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of fn.staticLocals) if (!/^[A-Z0-9_]+$/.test(s.name)) out.set(s.name, s.line);
  for (const s of macroStaticLocals(idx, fn)) if (!out.has(s.name)) out.set(s.name, s.line);
  return out;
}

// ---------------------------------------------------------------- file-scope data

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
  if (/^(?:DEFINE_(?:MUTEX|SPINLOCK|RAW_SPINLOCK|RWLOCK|SEQLOCK|IDA|IDR|XARRAY\w*|SEMAPHORE|RATELIMIT_STATE|STATIC_CALL\w*|STATIC_SRCU|SRCU|KLIST|SIMPLE_ATTRIBUTE|DEBUGFS_ATTRIBUTE|WAIT_QUEUE_HEAD|STATIC_KEY_ARRAY_\w+)|DECLARE_(?:WAIT_QUEUE_HEAD|WORK|DELAYED_WORK|DEFERRABLE_WORK|COMPLETION|RWSEM|TASKLET\w*)|LIST_HEAD|HLIST_HEAD|LLIST_HEAD)$/.test(macro)) {
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

function insideFunction(idx: FileIndex, line: number): boolean {
  return idx.functions.some((f) => f.span.start <= line && line <= f.span.end);
}

/** File-scope objects made by DEFINE_*()/LIST_HEAD()-style macros. */
function macroVars(idx: FileIndex): DataVar[] {
  const raw = idx.text;
  const starts = lineStarts(raw);
  const out: DataVar[] = [];
  const re = /^[ \t]*((?:static|extern)[ \t]+)?(?:(?:const|__\w+)[ \t]+)*([A-Z][A-Z0-9_]*)[ \t]*\(/gm;
  let m: RegExpExecArray | null;
  // The pattern anchors at a line start, so comment lines (` * FOO(`) never match and
  // the raw text can be scanned without blanking the whole file first.
  while ((m = re.exec(raw))) {
    const macro = m[2];
    const open = m.index + m[0].length - 1;
    const line = lineAt(starts, m.index);
    if (insideFunction(idx, line)) continue;
    const close = matchParen(raw, open);
    if (close < 0) continue;
    const local = raw.slice(open, close + 1);
    const shape = macroVarShape(macro, splitArgs(codeOnly(local), local, 0, local.length - 1));
    if (!shape) continue;
    const attrs = /__\w+/.exec(m[0]);
    out.push({
      ...shape,
      storage: m[1]?.trim() === 'static' ? 'static' : m[1]?.trim() === 'extern' ? 'extern' : 'none',
      attributes: attrs ? [attrs[0]] : [],
      span: { start: line, end: lineAt(starts, close) },
      macro,
    });
  }
  return out;
}



const dataCache = new WeakMap<FileIndex, DataVar[]>();

/**
 * File-scope objects of one image: the indexer's variables, with macro-made
 * objects and function-pointer objects filled in (the indexer misses or
 * misreads those).
 */
export function fileData(idx: FileIndex): DataVar[] {
  const cached = dataCache.get(idx);
  if (cached) return cached;
  const macros = macroVars(idx);
  const macroLines = new Set<number>();
  for (const v of macros) for (let l = v.span.start; l <= v.span.end; l++) macroLines.add(l);
  const out: DataVar[] = [];
  for (const v of idx.variables) {
    if (macroLines.has(v.span.start)) continue; // re-read from the macro text
    if (/^(?:DEFINE|DECLARE)_/.test(v.type)) continue; // a macro we do not model as data
    out.push({ name: v.name, storage: v.storage, type: v.type, dims: v.dims, init: v.init, attributes: v.attributes, span: { start: v.span.start, end: v.span.end }, macro: null });
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

// ---------------------------------------------------------------- functions

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

/** KPATCH_IGNORE_FUNCTION(fn): the author told kpatch to leave the function out. */
export function ignoredFunction(fc: FileChange, name: string): boolean {
  return fc.post?.escapeHatches.get(name) === 'KPATCH_IGNORE_FUNCTION';
}

// ---------------------------------------------------------------- modules

export type BuildKind = ObjectFacts['build'];

/** How the object of a .c file is built; null without a tree, 'unknown' for headers. */
export function buildOf(ctx: RuleContext, file: string): ObjectFacts | null {
  if (!ctx.tree) return null;
  if (!file.endsWith('.c')) return { object: path.posix.basename(file), ftraceRemoved: null, build: 'unknown', symbol: null, moduleName: null };
  let facts: ObjectFacts;
  try {
    facts = objectFacts(ctx.tree, file);
  } catch {
    return null;
  }
  return facts;
}

export function isModuleBuild(b: BuildKind | undefined): boolean {
  return b === 'module' || b === 'maybe-module';
}

/** "module foo (CONFIG_FOO=m)" for messages. */
export function describeModule(facts: ObjectFacts, file: string): string {
  const mod = facts.moduleName ?? path.posix.basename(file).replace(/\.c$/, '');
  if (facts.build === 'maybe-module') return `module ${mod} when ${facts.symbol ?? 'its tristate option'}=m`;
  return `module ${mod}${facts.symbol ? ` (${facts.symbol}=m)` : ''}`;
}

// ---------------------------------------------------------------- tree search

const CACHE_MS = 5 * 60 * 1000;
export function safeRead(tree: KernelTree, rel: string): string | null {
  try {
    return tree.readFile(rel);
  } catch {
    return null;
  }
}

/** Where a tree file defines something matching `defRe` (needs group-free regex); .c files first. */
const defCache = new Map<string, { at: number; hit: { file: string; line: number } | null }>();

export function findDefinition(tree: KernelTree, word: string, defRe: RegExp, skip: string[] = []): { file: string; line: number } | null {
  const k = `${tree.root}\0${word}\0${defRe.source}\0${skip.join(',')}`;
  const hit = defCache.get(k);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.hit;
  const found = findDefinitionUncached(tree, word, defRe, skip);
  defCache.set(k, { at: Date.now(), hit: found });
  return found;
}

function findDefinitionUncached(tree: KernelTree, word: string, defRe: RegExp, skip: string[]): { file: string; line: number } | null {
  const files = tree.grepWord(word, 200).filter((f) => !skip.includes(f));
  files.sort((a, b) => Number(b.endsWith('.c')) - Number(a.endsWith('.c')));
  for (const f of files.slice(0, 60)) {
    const t = safeRead(tree, f);
    if (!t) continue;
    const code = codeOnly(t);
    const m = defRe.exec(code);
    defRe.lastIndex = 0;
    if (m) return { file: f, line: lineAt(lineStarts(code), m.index) };
  }
  return null;
}

// ---------------------------------------------------------------- namespaced exports

interface NsCache {
  at: number;
  map: Map<string, { ns: string; file: string }>;
}
const nsCache = new Map<string, NsCache>();

/** Every EXPORT_SYMBOL_NS*(sym, NS) of the tree: symbol -> namespace and file. */
export function namespacedExports(tree: KernelTree): Map<string, { ns: string; file: string }> {
  const hit = nsCache.get(tree.root);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.map;
  const map = new Map<string, { ns: string; file: string }>();
  const files = new Set(tree.grepWords(['EXPORT_SYMBOL_NS', 'EXPORT_SYMBOL_NS_GPL'], { limit: 3000, cOnly: true }));
  const re = /\bEXPORT_SYMBOL_NS(?:_GPL)?\s*\(\s*([A-Za-z_]\w*)\s*,\s*"?([A-Za-z_]\w*)"?\s*\)/g;
  for (const f of files) {
    if (!f.endsWith('.c')) continue;
    const t = safeRead(tree, f);
    if (!t) continue;
    const code = codeOnly(t);
    let m: RegExpExecArray | null;
    while ((m = re.exec(code))) if (!map.has(m[1])) map.set(m[1], { ns: m[2], file: f });
  }
  nsCache.set(tree.root, { at: Date.now(), map });
  return map;
}

// ---------------------------------------------------------------- headers

interface HeaderFacts {
  includes: string[];
  /** "struct foo" / "union foo" / "enum foo" named anywhere. */
  mentioned: Set<string>;
  /** Tags defined with a body. */
  defined: Set<string>;
}
const headerCache = new Map<string, { at: number; facts: Map<string, HeaderFacts | null> }>();

export function headerFactsOf(text: string): HeaderFacts {
  const code = codeOnly(text);
  const includes: string[] = [];
  // Include paths live in a string literal, which codeOnly blanked: read them from the raw text.
  for (const m of text.matchAll(/^[ \t]*#[ \t]*include[ \t]*([<"][^>"\n]+[>"])/gm)) includes.push(m[1]);
  const mentioned = new Set<string>();
  const defined = new Set<string>();
  for (const m of code.matchAll(/\b(struct|union|enum)\s+([A-Za-z_]\w*)(\s*(?:__\w+\s*)*\{)?/g)) {
    const tag = `${m[1]} ${m[2]}`;
    mentioned.add(tag);
    if (m[3]) defined.add(tag);
  }
  return { includes, mentioned, defined };
}

const includeMemo = new Map<string, Map<string, string | null>>();

/** Resolves an #include to a tree file (x86 search order); null when it is generated or outside the tree. */
export function resolveInclude(tree: KernelTree, from: string, spec: string): string | null {
  const inner = spec.slice(1, -1).trim();
  const candidates: string[] = [];
  if (spec.startsWith('"')) candidates.push(path.posix.normalize(path.posix.join(path.posix.dirname(from), inner)));
  candidates.push(`arch/x86/include/${inner}`, `include/${inner}`, `arch/x86/include/uapi/${inner}`, `include/uapi/${inner}`);
  if (inner.startsWith('asm/')) candidates.push(`include/asm-generic/${inner.slice(4)}`);
  const key = `${spec.startsWith('"') ? path.posix.dirname(from) : ''}\0${spec}`;
  const memo = includeMemo.get(tree.root) ?? new Map<string, string | null>();
  includeMemo.set(tree.root, memo);
  if (memo.has(key)) return memo.get(key)!;
  let found: string | null = null;
  for (const c of candidates) {
    if (c.startsWith('..') || path.posix.isAbsolute(c)) continue;
    if (tree.existsInTree(c)) {
      found = c;
      break;
    }
  }
  memo.set(key, found);
  return found;
}

/** Headers reachable from `roots` (bounded), with their facts. */
/** Header facts persisted per tree commit: reading thousands of headers costs seconds, a JSON file milliseconds. */
function loadHeaderFacts(tree: KernelTree): Map<string, HeaderFacts | null> {
  const file = tree.cacheFile('header-facts.json');
  const map = new Map<string, HeaderFacts | null>();
  if (!file) return map;
  try {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, [string[], string[], string[]] | null>;
    for (const [k, v] of Object.entries(raw)) map.set(k, v ? { includes: v[0], mentioned: new Set(v[1]), defined: new Set(v[2]) } : null);
  } catch {
    // first run for this commit
  }
  return map;
}

function saveHeaderFacts(tree: KernelTree, facts: Map<string, HeaderFacts | null>): void {
  const file = tree.cacheFile('header-facts.json');
  if (!file) return;
  const raw: Record<string, [string[], string[], string[]] | null> = {};
  for (const [k, v] of facts) raw[k] = v ? [v.includes, [...v.mentioned], [...v.defined]] : null;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file + '.tmp', JSON.stringify(raw));
    fs.renameSync(file + '.tmp', file);
  } catch {
    // a read-only cache only costs speed
  }
}

export function includeClosure(tree: KernelTree, from: string, roots: string[], limit = 4000): { files: Map<string, HeaderFacts>; unresolved: string[] } {
  let cache = headerCache.get(tree.root);
  if (!cache || Date.now() - cache.at > CACHE_MS) {
    cache = { at: Date.now(), facts: loadHeaderFacts(tree) };
    headerCache.set(tree.root, cache);
  }
  const facts = cache.facts;
  const known = facts.size;
  const files = new Map<string, HeaderFacts>();
  const unresolved: string[] = [];
  const queue: { from: string; spec: string }[] = roots.map((spec) => ({ from, spec }));
  while (queue.length && files.size < limit) {
    const { from: f, spec } = queue.shift()!;
    const rel = resolveInclude(tree, f, spec);
    if (!rel) {
      if (f === from) unresolved.push(spec);
      continue;
    }
    if (files.has(rel)) continue;
    if (!facts.has(rel)) {
      const t = safeRead(tree, rel);
      facts.set(rel, t === null ? null : headerFactsOf(t));
    }
    const hf = facts.get(rel);
    if (!hf) continue;
    files.set(rel, hf);
    for (const inc of hf.includes) queue.push({ from: rel, spec: inc });
  }
  if (facts.size > known) saveHeaderFacts(tree, facts);
  return { files, unresolved };
}

// ---------------------------------------------------------------- keys (jump labels, static calls)

export type KeyHome =
  /** Defined by the patch itself (new static local or new global): lives in the patch module. */
  | { kind: 'new' }
  /** Defined by the patched object already (file scope or a static local that existed). */
  | { kind: 'this-object'; line: number }
  | { kind: 'elsewhere'; file: string; line: number; facts: ObjectFacts | null }
  | { kind: 'unknown' };

export interface KeyQuery {
  fc: FileChange;
  oldFn: FunctionDef | null;
  newFn: FunctionDef;
  key: string;
  /** Matches the key's definition in a file's code (comments blanked); built per key. */
  defRe: RegExp;
  /** Is this file-scope object a definition of the key? */
  isDef(v: DataVar): boolean;
}

/**
 * Each use of a key-taking macro (`re`, group 1 the macro, group 2 the key) in
 * the functions the patch changed, skipping objects known to be built in
 * (vmlinux keys are fine on 6.1) and functions the author told kpatch to ignore.
 */
export function keyUses(ctx: RuleContext, re: RegExp): { fc: FileChange; facts: ObjectFacts | null; fn: ReturnType<typeof touchedFunctions>[number]; use: Use }[] {
  const out: { fc: FileChange; facts: ObjectFacts | null; fn: ReturnType<typeof touchedFunctions>[number]; use: Use }[] = [];
  for (const fc of ctx.files) {
    if (!fc.post || !fc.isC) continue;
    const facts = buildOf(ctx, fc.path);
    if (facts?.build === 'builtin') continue;
    for (const fn of touchedFunctions(fc)) {
      if (ignoredFunction(fc, fn.new.name)) continue;
      for (const use of usesIn(fc.post, fn.new, re)) out.push({ fc, facts, fn, use });
    }
  }
  return out;
}

/** Related location for where a key is defined, if known. */
export function keyRelated(home: KeyHome, fc: FileChange, what: string): { file: string; line: number; message: string }[] {
  if (home.kind === 'elsewhere') return [{ file: home.file, line: home.line, message: `${what} is defined here` }];
  if (home.kind === 'this-object') return [{ file: fc.path, line: home.line, message: `${what} is defined here` }];
  return [];
}

/** Where a key (static key or static call) is defined, as far as the patch and the tree tell. */
export function keyHome(ctx: RuleContext, q: KeyQuery, budget: { lookups: number }): KeyHome {
  const { fc, key } = q;
  if (fc.post && staticLocalNames(fc.post, q.newFn).has(key)) {
    const old = q.oldFn && fc.pre ? staticLocalNames(fc.pre, q.oldFn).get(key) : undefined;
    return old === undefined ? { kind: 'new' } : { kind: 'this-object', line: staticLocalNames(fc.post, q.newFn).get(key)! };
  }
  const postDef = fc.post ? fileData(fc.post).find((v) => v.name === key && v.storage !== 'extern' && q.isDef(v)) : undefined;
  if (postDef) {
    const preDef = fc.pre ? fileData(fc.pre).find((v) => v.name === key && v.storage !== 'extern' && q.isDef(v)) : undefined;
    return preDef ? { kind: 'this-object', line: postDef.span.start } : { kind: 'new' };
  }
  if (!ctx.tree || budget.lookups <= 0) return { kind: 'unknown' };
  budget.lookups--;
  const def = findDefinition(ctx.tree, key, q.defRe, [fc.path]);
  if (!def) return { kind: 'unknown' };
  return { kind: 'elsewhere', file: def.file, line: def.line, facts: buildOf(ctx, def.file) };
}

/** Error, warning or nothing for a key used by patched code in `fc`, given where the key lives. */
export function judgeKey(ctx: RuleContext, fc: FileChange, facts: ObjectFacts | null, home: KeyHome, label: string, viaPointer: boolean): { severity: 'error' | 'warning'; where: string } | null {
  if (home.kind === 'new') return null;
  if (facts?.build === 'builtin') return null;
  if (home.kind === 'elsewhere' && home.facts?.build === 'builtin') return null;
  const patchedIsModule = isModuleBuild(facts?.build);
  const noTree = ctx.tree ? 'the Makefile does not say' : 'no kernel tree given';
  if (home.kind === 'elsewhere') {
    if (isModuleBuild(home.facts?.build)) {
      return { severity: 'error', where: `${label} is defined in ${home.file}, which is built as ${describeModule(home.facts!, home.file)}` };
    }
    return { severity: 'warning', where: `${label} is defined in ${home.file}, and the checker cannot tell whether that object is built into vmlinux (fine) or as a module (refused)` };
  }
  if (home.kind === 'this-object') {
    if (patchedIsModule) return { severity: 'error', where: `${label} is defined in this file, which is built as ${describeModule(facts!, fc.path)}` };
    return { severity: 'warning', where: `${label} is defined in this file; this is refused if the object is built as a module, fine if it is built in (${noTree})` };
  }
  if (patchedIsModule) {
    return { severity: 'warning', where: `this file is built as ${describeModule(facts!, fc.path)} and the checker could not find where ${label} is defined${viaPointer ? ' (it is reached through a pointer)' : ''}; unless it is in vmlinux, this is refused` };
  }
  return { severity: 'warning', where: `whether this is refused depends on whether the object, or ${label}, is in a module (${noTree})` };
}
