// inline-callers: when gcc inlines the changed function, every caller's code
// changes too and kpatch-build replaces all of them. That widens the patch,
// its consistency requirements and the transition; for headers it also means
// many rebuilt objects.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FunctionDef, RelatedLocation } from '../model';
import type { Rule, RuleContext } from './rule';
import type { KernelTree } from '../tree/kernelTree';
import { indexSource } from '../index/indexer';
import { escapeRegExp } from '../util/text';
import { addressTaken, callersIn } from './lib/callers';
import { eachChangedFunction, isHeader, reportOnFunction, type ChangedFunction } from './lib/changedFunctions';
import { wordRe } from './lib/codeText';
import { describeFunction } from './lib/wording';
import { fullyInlined, outOfLineCopies } from './lib/targetSymbols';
import { listed, symbolWitness } from '../target/facts';

const NOT_INLINED = ['noinline', '__noinline', 'noinline_for_stack', '__cold', '__weak'];

type Reason = 'always' | 'inline' | 'header' | 'single';

function reasonOf(fn: FunctionDef, header: boolean, callSites: number | null, taken: boolean): Reason | null {
  if (fn.syscallMacro || fn.attributes.some((a) => NOT_INLINED.includes(a))) return null;
  if (fn.inline === 'always') return 'always';
  if (fn.inline === 'inline') return 'inline';
  if (header) return 'header';
  // One direct caller and no address taken: gcc inlines a static function like that.
  if (fn.storage === 'static' && callSites === 1 && !taken) return 'single';
  return null;
}

// ---------------------------------------------------------------------------
// Caller search across the tree (for header and non-static inline functions).
// A whole-tree `git grep` costs 1-2 s warm and minutes with a cold page cache,
// so the search is scoped, time-boxed, and confirms candidates by parsing only
// the functions around each textual call instead of whole files.

interface TreeCaller {
  file: string;
  line: number;
  caller: string;
}

interface CallerSearch {
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

interface GrepResult {
  files: string[] | null;
  /** The grep stopped at its deadline; `files` holds what it found until then. */
  partial: boolean;
}

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
  const specs = [
    '*.c',
    '*.h',
    ':(exclude)tools/*',
    ':(exclude)samples/*',
    ':(exclude)Documentation/*',
    ':(exclude)scripts/*',
    ':(exclude)drivers/gpu/drm/amd/include/asic_reg/*',
  ];
  if (!ownArch || ownArch === 'x86') specs.push(':(exclude)arch/*', 'arch/x86/*.c', 'arch/x86/*.h');
  return specs;
}

/** `git grep -l -w` for `name`: KernelTree.gitGrep caches the answer for the tree's commit, index and working-tree changes. */
function gitGrep(tree: KernelTree, name: string, specs: string[], timeoutMs: number): GrepResult {
  const r = tree.gitGrep(['-l', '-w', '-I', '--no-color', '-e', name, '--', ...specs], timeoutMs);
  return r === null ? { files: null, partial: false } : { files: r.out.split('\n').filter(Boolean), partial: !r.complete };
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
function findTreeCallers(ctx: RuleContext, name: string, definedIn: string): CallerSearch {
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
    .sort(
      (a, b) =>
        Number(!a.startsWith(dir + '/')) - Number(!b.startsWith(dir + '/')) ||
        Number(a.endsWith('.h')) - Number(b.endsWith('.h')) ||
        (a < b ? -1 : a > b ? 1 : 0),
    );
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

/**
 * How a function stopped being inline: `static inline` -> `static noinline` (or `__cold`...),
 * or the `inline` keyword dropped. Null when it did not. Callers that had its body now call it.
 */
function lostInline(old: FunctionDef, fn: FunctionDef): string | null {
  if (old.inline === 'none' || old.attributes.some((a) => NOT_INLINED.includes(a))) return null;
  const was = old.inline === 'always' ? '__always_inline' : 'inline';
  const blocker = fn.attributes.find((a) => NOT_INLINED.includes(a) && !old.attributes.includes(a));
  if (blocker) return `was ${was} and is now ${blocker}`;
  if (fn.inline === 'none') return `was ${was} and no longer is`;
  if (old.inline === 'always' && fn.inline === 'inline') return 'was __always_inline and is now only inline';
  return null;
}

/** Related locations for callers, one per caller function. */
function callerLocations(callers: TreeCaller[], name: string): RelatedLocation[] {
  return callers.map((c) => ({ file: c.file, line: c.line, message: `${c.caller}() calls ${name}()` }));
}

/** Callers of a changed function: the patched file's for a static .c function, else searched in the tree. */
function callersOf(ctx: RuleContext, fc: ChangedFunction['fc'], fn: FunctionDef, header: boolean, local: ReturnType<typeof callersIn>) {
  if (header || fn.storage !== 'static') {
    const s = findTreeCallers(ctx, fn.name, fc.path);
    return { callers: s.callers, capped: s.capped, scope: ctx.tree ? s.scope : null };
  }
  return { callers: local.map((x) => ({ file: fc.path, line: x.line, caller: x.caller.name })), capped: null, scope: null };
}

/** An inline function made out of line: every caller that inlined it changes, whatever the body does. */
function reportLostInline(
  ctx: RuleContext,
  fc: ChangedFunction['fc'],
  fn: FunctionDef,
  lost: string,
  header: boolean,
  local: ReturnType<typeof callersIn>,
): void {
  const { callers, capped, scope } = callersOf(ctx, fc, fn, header, local);
  const files = new Set(callers.map((x) => x.file)).size;
  const inScope = scope ? ` in ${scope}` : '';
  const found = callers.length
    ? ` Callers found${inScope}: ${callers.length} in ${files} file${files === 1 ? '' : 's'}${capped ? ` (incomplete: ${capped})` : ''}.`
    : !ctx.tree && (header || fn.storage !== 'static')
      ? ' Callers in files the patch does not touch are not known without the kernel tree.'
      : '';
  const copies = header ? ' Each object that includes the header and calls it also gets its own out-of-line copy, new to kpatch.' : '';
  reportOnFunction(ctx, fc, fn, {
    message: `${describeFunction(fn)} ${lost}: callers that had its body inlined now call it instead, so every one of them changes and kpatch-build replaces them all, even if the body is unchanged.${copies}${found} If the aim is a smaller patch, keep the inline-ness as it was and change the body only; review every "changed function:" line kpatch-build prints.`,
    related: callerLocations(callers, fn.name),
  });
}

export const inlineCallers: Rule = {
  id: 'inline-callers',
  readsTreeCache: true,
  severity: 'warning',
  title: 'Changed function that gets inlined: its callers change and are replaced too',
  check(ctx) {
    for (const { fc, old, fn } of eachChangedFunction(ctx)) {
      const header = isHeader(fc.path);
      const local = callersIn(fc.post, fn.name);
      const lost = lostInline(old, fn);
      if (lost) {
        reportLostInline(ctx, fc, fn, lost, header, local);
        continue;
      }
      const sites = local.reduce((n, x) => n + x.count, 0);
      // Without the tree the post image holds only the hunks, so a call count is only a lower bound.
      const reason = reasonOf(fn, header, ctx.tree ? sites : null, addressTaken(fc.post, fn.name));
      // The target shows what gcc decided for the running kernel: a static function it does not
      // list was inlined into every caller; one it lists out of line was not inlined into its only caller.
      const facts = ctx.facts;
      const inlinable = !fn.syscallMacro && !fn.attributes.some((a) => NOT_INLINED.includes(a));
      // __always_inline is certain already: nothing for the target to add.
      const gone = facts && inlinable && !header && reason !== 'always' ? fullyInlined(ctx, facts, fc, fn) : null;
      const kept = facts && reason === 'single' ? outOfLineCopies(ctx, facts, fc, fn.name) : null;
      if (!reason && !gone) continue;
      // Callers can be anywhere that includes the header (or links to it).
      const { callers, capped, scope } = callersOf(ctx, fc, fn, header, local);
      const related: RelatedLocation[] = callerLocations(callers, fn.name);
      const files = new Set(callers.map((x) => x.file)).size;
      if (kept && !kept.ambiguousWith.length) {
        const at = local[0] ? ` in ${local[0].caller.name}()` : '';
        reportOnFunction(ctx, fc, fn, {
          severity: 'info',
          message: `${describeFunction(fn)} is static with a single call site${at}, but ${symbolWitness(facts!, kept.entries[0].object)} lists ${listed(facts!, fn.name, [...new Set(kept.entries.map((e) => e.object))])} out of line: gcc did not inline it there, so its caller most likely keeps calling it and only ${fn.name}() is replaced. If kpatch-build still lists the caller as changed, gcc inlined part of it.`,
          related,
        });
        continue;
      }
      const seen = gone
        ? `${symbolWitness(facts!, gone.object)} lists no out-of-line copy of it (it lists ${gone.witness}() of the same file)`
        : '';
      const what = gone
        ? `is ${reason === 'inline' ? 'declared inline' : 'static'} and ${seen}: gcc inlined it into every caller`
        : {
            always: `is __always_inline, so gcc copies its body into every caller`,
            inline: `is declared inline, so gcc copies its body into most or all callers`,
            header: `is defined in a header, so every object that includes it and calls it gets its own (normally inlined) copy`,
            single: `is static with a single call site${local[0] ? `, in ${local[0].caller.name}()` : ''}, so gcc almost certainly inlined it there`,
          }[reason!];
      const inScope = scope ? ` in ${scope}` : '';
      let found = callers.length
        ? ` Callers found${inScope}: ${callers.length} in ${files} file${files === 1 ? '' : 's'}${capped ? ` (incomplete: ${capped})` : ''}.`
        : capped
          ? ` No callers found${inScope} (incomplete: ${capped}).`
          : scope
            ? ` No callers found${inScope}.`
            : '';
      if ((header || fn.storage !== 'static') && !ctx.tree)
        found += ' Callers in files the patch does not touch are not known without the kernel tree.';
      const advice = header
        ? 'A header change also rebuilds every including object, which slows kpatch-build a lot and can trip its bugs: where possible, move the change into a .c file (for example behind a new out-of-line function). Review every "changed function:" line kpatch-build prints.'
        : reason === 'always' || gone
          ? 'Expect each caller in kpatch-build\'s "changed function:" list and review them all; they are all replaced, and all must be off every stack for the transition to finish.'
          : 'Expect the callers in kpatch-build\'s "changed function:" list and review them; to keep the patch to this one function, mark the patched copy noinline.';
      reportOnFunction(ctx, fc, fn, {
        message: `${describeFunction(fn)} ${what}: each caller's code changes with it and kpatch-build replaces the callers too.${found} ${advice}`,
        related,
      });
    }
  },
};
