// exported-abi: with CONFIG_MODVERSIONS every exported symbol carries a CRC
// computed by genksyms from its prototype, with every struct it reaches
// expanded. A changed prototype, a changed struct, or a new #include that
// completes a struct the file only knew by name changes those CRCs; the patch
// module then disagrees with the running kernel about them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Rule, RuleContext, FileChange } from './rule';
import type { FileIndex, FunctionDef } from '../model';
import { codeOnly } from './lib/codeText';
import { safeRead, TREE_CACHE_MS } from './lib/treeSearch';
import { describeFunction } from './lib/wording';
import { FUNCTION_ATTRIBUTES } from '../index/attributes';
import { ANNOTATION_MACROS } from '../parse/blank';
import { lineAt, lineStarts } from '../util/text';
import type { KernelTree } from '../tree/kernelTree';
import type { TreeScope } from '../tree/treeState';

const ATTRS = new Set([...FUNCTION_ATTRIBUTES, ...ANNOTATION_MACROS, 'inline', '__inline', '__inline__', 'extern']);

/** Headers made for patch authors (kpatch-macros.h, kpatch-syscall.h...): kpatch-build expects them. */
const PATCH_HELPER_HEADER = /(?:^|\/)(?:kpatch[\w-]*|livepatch_helpers)\.h$/;

/** Prototype as genksyms sees it: no attributes, no parameter names, no whitespace. */
export function abiPrototype(signature: string): string {
  let s = signature
    .replace(/\b__attribute__\s*\(\(.*?\)\)/g, ' ')
    .replace(/\b__(?:section|aligned|printf|scanf|alloc_size|must_hold|acquires|releases)\s*\([^)]*\)/g, ' ');
  s = s
    .split(/(\b[A-Za-z_]\w*\b)/)
    .filter((tok) => !ATTRS.has(tok))
    .join('');
  const open = s.indexOf('(');
  const close = s.lastIndexOf(')');
  if (open < 0 || close < open) return s.replace(/\s+/g, '');
  const params = s
    .slice(open + 1, close)
    .split(',')
    .map((p) => {
      const t = p.trim();
      // Drop a trailing parameter name when more than a type keyword remains.
      const m = /^(.*?[\w*\s])\s*\b([A-Za-z_]\w*)\s*((?:\[[^\]]*\])*)$/.exec(t);
      if (m && /[A-Za-z_*]/.test(m[1]) && !/^(?:struct|union|enum|unsigned|signed|const|volatile)$/.test(m[1].trim()))
        return `${m[1]}${m[3]}`;
      return t;
    });
  return (s.slice(0, open) + '(' + params.join(',') + ')').replace(/\s+/g, '');
}

function exportedNames(idx: FileIndex | null): Map<string, string> {
  return new Map((idx?.exports ?? []).map((e) => [e.symbol, e.macro]));
}

function prototypeChanges(ctx: RuleContext, fc: FileChange): void {
  const exported = new Map([...exportedNames(fc.pre), ...exportedNames(fc.post)]);
  if (!exported.size) return;
  for (const c of fc.pairing.functions) {
    if (c.kind !== 'signature' || !c.old || !c.new || !exported.has(c.name)) continue;
    if (abiPrototype(c.old.signature) === abiPrototype(c.new.signature)) continue;
    const fn = c.new;
    ctx.report({
      file: fc.path,
      line: fn.span.start,
      endLine: fn.bodySpan.start,
      function: fn.name,
      symbol: fn.name,
      message: `The patch changes the prototype of ${describeFunction(fn)}, which is exported with ${exported.get(c.name)}(). Its modversion CRC changes, and modules compiled against the running kernel still call it the old way: kpatch-build stops with "ERROR: Version disagreement for symbol ${fn.name}" (or the patch module fails to load: "disagrees about version of symbol"). Keep the exported prototype; put the new behaviour in a new function and switch the in-tree callers to it.`,
      related: [{ file: fc.path, line: c.old.span.start, image: 'pre', message: `old prototype of ${fn.name}()` }],
    });
  }
}

/** Exported functions whose prototype names `struct/union/enum tag`, across the patch and (capped) the tree. */
function exportersOf(ctx: RuleContext, kind: string, tag: string): { file: string; fn: FunctionDef }[] {
  const re = new RegExp(`\\b${kind}\\s+${tag}\\b`);
  const out: { file: string; fn: FunctionDef }[] = [];
  const seenFiles = new Set<string>();
  const scan = (file: string, idx: FileIndex | null) => {
    if (!idx || seenFiles.has(file)) return;
    seenFiles.add(file);
    const names = exportedNames(idx);
    for (const fn of idx.functions) if (names.has(fn.name) && re.test(fn.signature)) out.push({ file, fn });
  };
  for (const fc of ctx.files) if (fc.path.endsWith('.c')) scan(fc.path, fc.post);
  if (ctx.tree) {
    let indexed = 0;
    for (const f of ctx.tree.grepWord(tag, 400)) {
      if (!f.endsWith('.c') || seenFiles.has(f)) continue;
      const text = safeRead(ctx.tree, f);
      if (!text || !/\bEXPORT_SYMBOL/.test(text) || !re.test(text)) continue;
      if (++indexed > 12) break;
      scan(f, ctx.indexTreeFile(f));
    }
  }
  return out;
}

function typeChanges(ctx: RuleContext, fc: FileChange): void {
  for (const t of fc.pairing.types) {
    if (t.kind !== 'body' || !t.old || !t.new) continue;
    const users = exportersOf(ctx, t.new.kind, t.new.name);
    if (!users.length) continue;
    const shown = users.slice(0, 4).map((u) => u.fn.name);
    ctx.report({
      file: fc.path,
      line: t.new.span.start,
      endLine: t.new.span.end,
      symbol: `${t.new.kind} ${t.new.name}`,
      message: `${t.new.kind} ${t.new.name} changes, and exported functions take it in their prototypes (${shown.join(', ')}${users.length > shown.length ? `, and ${users.length - shown.length} more` : ''}). genksyms expands the definition into their modversion CRCs, so those CRCs change: kpatch-build reports "Version disagreement for symbol ..." and modules built against the running kernel disagree with the patched symbols. Keep the type as it is (new state goes in a shadow variable); if a definition must change only for the compiler, hide it from genksyms with #ifndef __GENKSYMS__.`,
      related: users.slice(0, 4).map((u) => ({
        file: u.file,
        line: u.fn.span.start,
        message: `${u.fn.name}() is exported and uses ${t.new!.kind} ${t.new!.name}`,
      })),
    });
  }
}

/** Is line `l` inside an `#ifndef __GENKSYMS__` block? */
function hiddenFromGenksyms(lines: string[], l: number): boolean {
  let depth = 0;
  for (let i = l - 1; i >= 0; i--) {
    const s = lines[i];
    if (/^\s*#\s*endif\b/.test(s)) depth++;
    else if (/^\s*#\s*if/.test(s)) {
      if (depth === 0) return /^\s*#\s*(?:ifndef\s+__GENKSYMS__|if\s+!\s*defined\s*\(?\s*__GENKSYMS__)/.test(s);
      depth--;
    }
  }
  return false;
}

function definitionLine(tree: NonNullable<RuleContext['tree']>, file: string, tag: string): number {
  const text = safeRead(tree, file) ?? '';
  const [kind, name] = tag.split(' ');
  const m = new RegExp(`\\b${kind}\\s+${name}\\s*(?:__\\w+\\s*)*\\{`).exec(codeOnly(text));
  return m ? lineAt(lineStarts(text), m.index) : 0;
}

function newIncludes(ctx: RuleContext, fc: FileChange): void {
  if (!fc.pre || !fc.post || !fc.path.endsWith('.c')) return;
  const before = new Set(fc.pre.includes.map((i) => i.path.replace(/\s+/g, '')));
  const added = fc.post.includes.filter(
    (i) =>
      !before.has(i.path.replace(/\s+/g, '')) &&
      fc.maps.added.has(i.line) &&
      !PATCH_HELPER_HEADER.test(i.path.slice(1, -1)) &&
      !hiddenFromGenksyms(fc.post!.lines, i.line),
  );
  if (!added.length) return;
  const exports = fc.post.exports.length ? fc.post.exports : fc.pre.exports;
  const fix = `Avoid the new #include (declare what you need locally, or move the code to a file without exports), or wrap it in #ifndef __GENKSYMS__ / #endif so genksyms computes the old CRCs.`;
  if (!ctx.tree) {
    // Hunks alone cannot tell what the header brings in, nor (usually) whether the file exports anything.
    for (const inc of added) {
      ctx.report({
        severity: exports.length ? 'warning' : 'info',
        file: fc.path,
        line: inc.line,
        symbol: inc.path,
        message: `New #include ${inc.path}${exports.length ? ` in a file that exports symbols (${exports[0].symbol}...)` : ''}: if it defines a struct this file so far only knew by name, the modversion CRCs of this file's exported symbols change and kpatch-build stops with "ERROR: Version disagreement for symbol ...". Run with the kernel tree to check. ${fix}`,
      });
    }
    return;
  }
  if (!exports.length) return;
  const tree = ctx.tree;
  // What the file knew before: its own text and everything its old includes pull in.
  const old = includeClosure(
    tree,
    fc.path,
    fc.pre.includes.map((i) => i.path),
  );
  const known = new Set<string>();
  const opaque = new Set<string>();
  const self = headerFactsOf(fc.pre.text);
  for (const hf of [self, ...old.files.values()]) for (const d of hf.defined) known.add(d);
  for (const hf of [self, ...old.files.values()]) for (const m of hf.mentioned) if (!known.has(m)) opaque.add(m);
  for (const inc of added) {
    const now = includeClosure(tree, fc.path, [inc.path]);
    if (now.unresolved.length) {
      ctx.report({
        severity: 'warning',
        file: fc.path,
        line: inc.line,
        symbol: inc.path,
        message: `New #include ${inc.path} in a file that exports symbols (${exports[0].symbol}...), and the header is not in the tree, so the checker cannot tell whether it changes their modversion CRCs ("Version disagreement for symbol ..." from kpatch-build). ${fix}`,
      });
      continue;
    }
    const completed: { tag: string; header: string }[] = [];
    for (const [file, hf] of now.files) {
      if (old.files.has(file)) continue;
      for (const d of hf.defined) if (opaque.has(d) && !completed.some((c) => c.tag === d)) completed.push({ tag: d, header: file });
    }
    if (!completed.length) continue;
    const shown = completed.slice(0, 4);
    ctx.report({
      file: fc.path,
      line: inc.line,
      symbol: inc.path,
      message: `New #include ${inc.path} in a file that exports ${exports.length} symbol${exports.length > 1 ? 's' : ''} (${exports
        .slice(0, 3)
        .map((e) => e.symbol)
        .join(
          ', ',
        )}${exports.length > 3 ? ', ...' : ''}): it brings in the definition of ${shown.map((c) => c.tag).join(', ')}${completed.length > shown.length ? ` and ${completed.length - shown.length} more` : ''}, which this file only knew by name. genksyms then expands such definitions into the CRCs of the exported symbols that reach them, the CRCs change, and kpatch-build stops with "ERROR: Version disagreement for symbol ..." (CONFIG_MODVERSIONS). ${fix}`,
      related: shown.map((c) => ({ file: c.header, line: definitionLine(tree, c.header, c.tag), message: `defines ${c.tag}` })),
    });
  }
}

// What a new #include brings in: the headers it reaches and the struct tags they define.

interface HeaderFacts {
  includes: string[];
  /** "struct foo" / "union foo" / "enum foo" named anywhere. */
  mentioned: Set<string>;
  /** Tags defined with a body. */
  defined: Set<string>;
  /** The file's KernelTree.fileStamp when these were read. */
  stamp: string | null;
}
const headerCache = new Map<string, { at: number; facts: Map<string, HeaderFacts | null> }>();

function headerFactsOf(text: string, stamp: string | null = null): HeaderFacts {
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
  return { includes, mentioned, defined, stamp };
}

const includeMemo = new Map<string, Map<string, string | null>>();

/** Resolves an #include to a tree file (x86 search order); null when it is generated or outside the tree. */
function resolveInclude(tree: KernelTree, from: string, spec: string): string | null {
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

/**
 * Header facts persisted per tree commit: reading thousands of headers costs seconds, a JSON
 * file milliseconds. Each file's facts carry its size, time and inode when they were read,
 * and are read again when those differ: a header edited in the working tree is noticed
 * without asking git about the state of the whole tree.
 */
function loadHeaderFacts(file: string | null): Map<string, HeaderFacts | null> {
  const map = new Map<string, HeaderFacts | null>();
  if (!file) return map;
  try {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, [string[], string[], string[], string] | null>;
    for (const [k, v] of Object.entries(raw)) {
      if (v && typeof v[3] === 'string') map.set(k, { includes: v[0], mentioned: new Set(v[1]), defined: new Set(v[2]), stamp: v[3] });
    }
  } catch {
    // first run for this commit
  }
  return map;
}

function saveHeaderFacts(file: string | null, facts: Map<string, HeaderFacts | null>): void {
  if (!file) return;
  const raw: Record<string, [string[], string[], string[], string]> = {};
  for (const [k, v] of facts) if (v?.stamp) raw[k] = [v.includes, [...v.mentioned], [...v.defined], v.stamp];
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file + '.tmp', JSON.stringify(raw));
    fs.renameSync(file + '.tmp', file);
  } catch {
    // a read-only cache only costs speed
  }
}

/** Headers reachable from `roots` (bounded), with their facts. */
function includeClosure(
  tree: KernelTree,
  from: string,
  roots: string[],
  limit = 4000,
): { files: Map<string, HeaderFacts>; unresolved: string[] } {
  // In memory by the same key as on disk (the commit), or by the tree for one that git does not track.
  const file = tree.cacheFile('header-facts.json', []);
  const key = file ?? tree.root;
  let cache = headerCache.get(key);
  if (!cache || Date.now() - cache.at > TREE_CACHE_MS) {
    cache = { at: Date.now(), facts: loadHeaderFacts(file) };
    headerCache.delete(key);
    headerCache.set(key, cache);
    // Another commit gives a new key: keep the last two (thousands of headers each).
    while (headerCache.size > 2) headerCache.delete(headerCache.keys().next().value!);
  }
  const facts = cache.facts;
  let grew = false;
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
    const stamp = tree.fileStamp(rel);
    let hf = facts.get(rel);
    if (hf === undefined || hf?.stamp !== stamp) {
      const t = safeRead(tree, rel);
      hf = t === null ? null : headerFactsOf(t, stamp);
      facts.set(rel, hf);
      grew ||= hf !== null;
    }
    if (!hf) continue;
    files.set(rel, hf);
    for (const inc of hf.includes) queue.push({ from: rel, spec: inc });
  }
  if (grew) saveHeaderFacts(file, facts);
  return { files, unresolved };
}

export const exportedAbi: Rule = {
  id: 'exported-abi',
  readsTreeCache: true,
  severity: 'error',
  title: 'Exported symbol ABI (modversion CRC) changes: prototype, reachable type or new #include',
  treeScopes(files) {
    const scopes = new Set<TreeScope>();
    for (const fc of files) {
      if (!fc.isC) continue;
      // A changed type: its exporters are searched in the .c and .h files (exportersOf).
      if (fc.pairing.types.some((t) => t.kind === 'body' && t.old && t.new)) for (const s of ['c', 'h'] as const) scopes.add(s);
    }
    return [...scopes];
  },
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.isC) continue;
      prototypeChanges(ctx, fc);
      typeChanges(ctx, fc);
      newIncludes(ctx, fc);
    }
  },
};
