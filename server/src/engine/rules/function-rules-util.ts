// Helpers shared by the function rules (exit-section, section-attr-func,
// notrace, inline-notrace, syscall, inline-callers, ipa-clone,
// always-on-stack, probe-once-state). Kept out of helpers.ts on purpose: these
// are heuristics of those rules, not engine facts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileIndex, FunctionDef, RelatedLocation } from '../model';
import type { FileChange, RuleContext } from './rule';
import type { KernelTree } from '../tree/kernelTree';
import { indexSource } from '../index/indexer';
import { matchParen, splitTopLevel } from '../parse/blank';
import { escapeRegExp } from '../util/text';

/** KPATCH_IGNORE_FUNCTION(fn) tells create-diff-object to drop fn's changes: nothing to flag. */
export function isIgnoredFunction(fc: FileChange, name: string): boolean {
  return fc.post?.escapeHatches.get(name) === 'KPATCH_IGNORE_FUNCTION';
}

export function wordRe(name: string, flags = ''): RegExp {
  return new RegExp(`(?<![\\w$])${escapeRegExp(name)}(?![\\w$])`, flags);
}

/** Does the post image use `name` other than by calling it (address taken, ops table)? */
export function addressTaken(index: FileIndex, name: string): boolean {
  for (const f of index.functions) if (f.name !== name && f.identifiers.has(name)) return true;
  const re = wordRe(name);
  return index.variables.some((v) => v.init !== null && re.test(v.init));
}

/** Call sites of `name` in every function of an index, grouped by caller. */
export function callersIn(index: FileIndex, name: string): { caller: FunctionDef; line: number; count: number }[] {
  const out: { caller: FunctionDef; line: number; count: number }[] = [];
  for (const f of index.functions) {
    if (f.name === name) continue;
    const sites = f.calls.filter((c) => c.name === name);
    if (sites.length) out.push({ caller: f, line: sites[0].line, count: sites.length });
  }
  return out;
}

/** Number of call sites of `name` in an index (recursive calls included). */
export function callCount(index: FileIndex | null, name: string): number {
  if (!index) return 0;
  let n = 0;
  for (const f of index.functions) for (const c of f.calls) if (c.name === name) n++;
  return n;
}

/**
 * Arguments of the first call `callee(...)` that starts on `line` (or later, up
 * to a few lines for calls whose name is on the next line), split at top-level
 * commas and normalised. Null when the call cannot be found.
 */
export function callArgs(index: FileIndex, line: number, callee: string): string[] | null {
  const text = index.lines.slice(line, line + 30).join('\n');
  const m = new RegExp(`(?<![\\w$])${escapeRegExp(callee)}\\s*\\(`).exec(text);
  if (!m) return null;
  const open = m.index + m[0].length - 1;
  const close = matchParen(text, open);
  if (close < 0) return null;
  // `f()` has no argument; `f(a, )` keeps its empty last one.
  return splitTopLevel(text, open, close).map((a) => a.replace(/\s+/g, ' ').trim()).filter((a, _, all) => a !== '' || all.length > 1);
}

/** Literal-looking argument: number, character, string, NULL/true/false, or an ALL_CAPS macro constant. */
export function isConstantArg(a: string): boolean {
  return /^[-+~!]?\s*\(?\s*(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?)[uUlL]*\s*\)?$/.test(a) ||
    /^'(?:[^'\\]|\\.)+'$/.test(a) || /^"/.test(a) ||
    /^(?:NULL|true|false)$/.test(a) || /^[A-Z][A-Z0-9_]*$/.test(a);
}


// ---------------------------------------------------------------------------
// Caller search across the tree (for header and non-static inline functions).
// A whole-tree `git grep` costs 1-2 s warm and minutes with a cold page cache,
// so the search is scoped, time-boxed, and confirms candidates by parsing only
// the functions around each textual call instead of whole files.

export interface TreeCaller {
  file: string;
  line: number;
  caller: string;
}

export interface CallerSearch {
  callers: TreeCaller[];
  /** What was searched, for the message ("fs/ext4/", "the whole tree"). */
  scope: string;
  /** Why the search is incomplete, for the message; null when it was complete. */
  capped: string | null;
}

const CALLER_CAP = 50;
const FILE_CAP = 200;
/** Wall-clock budget for the whole caller search of one function, grep included. */
const SEARCH_BUDGET_MS = 1000;
/** Part of the budget kept for confirming candidates after the grep. */
const CONFIRM_RESERVE_MS = 300;
const MAX_CANDIDATE_BYTES = 2 * 1024 * 1024;
const CACHE_TTL_MS = 60_000;

interface GrepResult {
  files: string[] | null;
  /** The grep stopped at its deadline; `files` holds what it found until then. */
  partial: boolean;
}

const grepCache = new Map<string, { at: number } & GrepResult>();

/** Headers every part of the kernel may include, as opposed to a subsystem's private ones. */
function isGlobalHeader(file: string): boolean {
  return /^(?:include|arch\/[^/]+\/include)\//.test(file);
}

/**
 * Whole-tree pathspecs: C sources and headers, without other architectures
 * (the checker targets x86-64), tools, samples and the AMD register headers.
 */
function wholeTreeSpecs(header: string): string[] {
  const ownArch = /^arch\/([^/]+)\//.exec(header)?.[1];
  const specs = ['*.c', '*.h', ':(exclude)tools/*', ':(exclude)samples/*', ':(exclude)Documentation/*', ':(exclude)scripts/*',
    ':(exclude)drivers/gpu/drm/amd/include/asic_reg/*'];
  if (!ownArch || ownArch === 'x86') specs.push(':(exclude)arch/*', 'arch/x86/*.c', 'arch/x86/*.h');
  return specs;
}

function gitGrep(tree: KernelTree, name: string, specs: string[], timeoutMs: number): GrepResult {
  const key = `${tree.root}\0${name}\0${specs.join('\0')}`;
  const hit = grepCache.get(key);
  if (hit && !hit.partial && Date.now() - hit.at < CACHE_TTL_MS) return hit;
  const r = tree.gitGrep(['-l', '-w', '-I', '--no-color', '-e', name, '--', ...specs], timeoutMs);
  const res: GrepResult = r === null ? { files: null, partial: false } : { files: r.out.split('\n').filter(Boolean), partial: !r.complete };
  grepCache.set(key, { at: Date.now(), ...res });
  return res;
}

const SKIP_DIRS = new Set(['.git', 'tools', 'samples', 'Documentation', 'scripts', 'node_modules']);

/** Fallback for trees that are not git work trees (fixtures, unpacked tarballs): walk `dir` until the deadline. */
function walkGrep(tree: KernelTree, name: string, dir: string, deadline: number): GrepResult {
  const re = wordRe(name);
  const walk = tree.walkFiles({ dir, name: /\.[ch]$/, skipDir: (n) => SKIP_DIRS.has(n), deadline });
  const out: string[] = [];
  for (const r of walk.files) {
    if (Date.now() > deadline) return { files: out, partial: true };
    try {
      const abs = path.join(tree.root, r);
      if (fs.statSync(abs).size <= MAX_CANDIDATE_BYTES && re.test(fs.readFileSync(abs, 'utf8'))) out.push(r);
    } catch {
      // unreadable: skip
    }
  }
  return { files: out, partial: !walk.complete };
}

/**
 * The kernel-style function around `line`: from its head down to the `}` in
 * column 0 that closes it. Null when the layout is not the usual one.
 */
function enclosingChunk(lines: string[], line: number): { start: number; end: number } | null {
  let open = -1;
  for (let l = line; l >= 0 && line - l < 3000; l--) {
    if (/^\}/.test(lines[l]) && l !== line) return null; // between functions
    if (/^\{/.test(lines[l])) {
      open = l;
      break;
    }
  }
  if (open < 0) return null;
  let start = open;
  while (start > 0) {
    const prev = lines[start - 1];
    if (!prev.trim() || /^[}#]/.test(prev) || /[;]\s*$/.test(prev) || /\*\/\s*$/.test(prev)) break;
    start--;
  }
  for (let l = line; l < lines.length && l - line < 3000; l++) {
    if (/^\}/.test(lines[l])) return { start, end: l };
  }
  return null;
}

/** Callers of `name` in a file's text: parse only the functions around textual calls. */
function confirmCallers(ctx: RuleContext, file: string, text: string, name: string, callRe: RegExp): TreeCaller[] {
  const lines = text.split('\n');
  const out: TreeCaller[] = [];
  const done = new Set<number>();
  for (let l = 0; l < lines.length; l++) {
    if (!callRe.test(lines[l]) || done.has(l)) continue;
    const chunk = enclosingChunk(lines, l);
    if (!chunk) {
      // Unusual layout: index the whole file instead.
      const idx = ctx.indexTreeFile(file);
      return idx ? callersIn(idx, name).map((c) => ({ file, line: c.line, caller: c.caller.name })) : [];
    }
    for (let k = chunk.start; k <= chunk.end; k++) done.add(k);
    const idx = indexSource(ctx.parser, file, lines.slice(chunk.start, chunk.end + 1).join('\n'));
    for (const c of callersIn(idx, name)) out.push({ file, line: c.line + chunk.start, caller: c.caller.name });
  }
  return out;
}

/**
 * Functions in the tree that call `name`, defined in `definedIn`. Files the
 * patch touches are read from their post image. A private header is searched
 * in its own directory, a global one (include/, arch/x86/include/) in the
 * whole tree, nearest directories first, within a time budget.
 */
export function findTreeCallers(ctx: RuleContext, name: string, definedIn: string): CallerSearch {
  const deadline = Date.now() + SEARCH_BUDGET_MS;
  const callers: TreeCaller[] = [];
  const dir = path.posix.dirname(definedIn);
  const global = isGlobalHeader(definedIn) || !definedIn.endsWith('.h');
  const result: CallerSearch = { callers, scope: global ? 'the tree' : `${dir}/`, capped: null };
  const patched = new Map(ctx.files.filter((f) => f.post).map((f) => [f.path, f.post!] as const));
  const add = (found: TreeCaller[]) => {
    for (const c of found) {
      if (callers.length < CALLER_CAP) callers.push(c);
      else result.capped = `the list stops at ${CALLER_CAP} callers`;
    }
  };
  // Patched files first: their post image is what gets built.
  for (const [file, idx] of patched) add(callersIn(idx, name).map((c) => ({ file, line: c.line, caller: c.caller.name })));
  if (!ctx.tree) return result;

  let candidates: string[] = [];
  let partial = false;
  if (ctx.tree.isGitCheckout()) {
    // Near scope first: the header's directory and the patched files' directories.
    const near = [...new Set([dir, ...[...patched.keys()].map((f) => path.posix.dirname(f))])]
      .filter((d) => d !== '.')
      .flatMap((d) => [`${d}/*.c`, `${d}/*.h`]);
    const first = gitGrep(ctx.tree, name, near, deadline - Date.now());
    if (first.files === null) {
      result.capped = 'the tree could not be searched';
      return result;
    }
    candidates = first.files;
    partial = first.partial;
    if (global && !partial) {
      const whole = gitGrep(ctx.tree, name, wholeTreeSpecs(definedIn), deadline - Date.now() - CONFIRM_RESERVE_MS);
      if (whole.files) candidates = [...new Set([...candidates, ...whole.files])];
      partial = whole.partial;
    }
  } else {
    const walked = walkGrep(ctx.tree, name, global ? '' : dir, deadline - CONFIRM_RESERVE_MS);
    candidates = walked.files ?? [];
    partial = walked.partial;
  }
  if (partial) result.capped = 'the search of the tree ran out of time';

  candidates = candidates
    .filter((f) => !patched.has(f))
    // Same directory first (driver-private helpers), then .c before .h.
    .sort((a, b) => Number(!a.startsWith(dir + '/')) - Number(!b.startsWith(dir + '/')) ||
      Number(a.endsWith('.h')) - Number(b.endsWith(".h")) || (a < b ? -1 : a > b ? 1 : 0));
  const callRe = new RegExp(`(?<![\\w$])${escapeRegExp(name)}\\s*\\(`);
  let examined = 0;
  for (const file of candidates) {
    if (callers.length >= CALLER_CAP) {
      // More files mention it: assume more callers rather than claim completeness.
      result.capped = `the list stops at ${CALLER_CAP} callers`;
      break;
    }
    if (examined >= FILE_CAP || Date.now() > deadline) {
      result.capped = `only ${examined} of ${candidates.length} files that mention it were examined`;
      break;
    }
    examined++;
    let text: string | null;
    try {
      text = ctx.tree.readFile(file);
    } catch {
      continue;
    }
    if (text === null || text.length > MAX_CANDIDATE_BYTES || !callRe.test(text)) continue;
    add(confirmCallers(ctx, file, text, name, callRe));
  }
  return result;
}

/** Related locations for callers, one per caller function. */
export function callerLocations(callers: TreeCaller[], name: string): RelatedLocation[] {
  return callers.map((c) => ({ file: c.file, line: c.line, message: `${c.caller}() calls ${name}()` }));
}
