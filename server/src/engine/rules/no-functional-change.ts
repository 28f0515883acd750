// no-functional-change: a patch that only touches whitespace, blank lines or
// comments compiles to the same code (up to __LINE__), and kpatch-build stops
// with "no functional changes found" (kpatch's warn-detect-FAIL test is exactly
// one blank line added at the top of a file).

import type { FileChange, Rule } from './rule';
import { firstChange, hunkDeltas } from './lib/hunks';
import { plural } from './lib/wording';
// lineAt: the last of an ascending list that is <= x (a binary search, not only for line starts).
import { lineAt } from '../util/text';

/** Files that never reach an object file: they neither add nor remove a functional change. */
const NEUTRAL = /^(?:Documentation\/|LICENSES\/)|\.(?:rst|txt|md)$|(?:^|\/)(?:MAINTAINERS|CREDITS|README)$/;

/** True when the file's change is only whitespace or comments; null when we cannot tell. */
function cosmeticOnly(fc: FileChange): boolean | null {
  if (fc.patch.status !== 'modified' || !fc.patch.hunks.length) return false;
  if (!fc.pre || !fc.post) return null;
  // Cheap exits first: a changed definition means a real change.
  const p = fc.pairing;
  const real = (k: string) => k === 'added' || k === 'removed' || k === 'body' || k === 'signature';
  if (
    p.functions.some((c) => real(c.kind)) ||
    p.types.some((c) => real(c.kind)) ||
    p.variables.some((c) => real(c.kind)) ||
    p.macros.some((c) => real(c.kind))
  ) {
    return false;
  }
  return sameTokens(fc.pre.text, fc.post.text);
}

// C token streams: two texts with equal streams compile alike.

// Longest first: C's maximal munch decides what `a+ +b` vs `a++b` mean.
const PUNCTUATORS = [
  '>>=',
  '<<=',
  '...',
  '->',
  '++',
  '--',
  '<<',
  '>>',
  '<=',
  '>=',
  '==',
  '!=',
  '&&',
  '||',
  '*=',
  '/=',
  '%=',
  '+=',
  '-=',
  '&=',
  '^=',
  '|=',
  '##',
];
const PUNCT3 = new Set(PUNCTUATORS.filter((p) => p.length === 3));
const PUNCT2 = new Set(PUNCTUATORS.filter((p) => p.length === 2));

/**
 * The token stream of a C text: comments and whitespace dropped, but the end of
 * every preprocessor directive kept (a newline ends `#define`), and a marker for
 * function-like macro heads (`#define f(x)` is not `#define f (x)`). Two texts
 * with equal streams compile alike, up to __LINE__.
 *
 * After a newline outside comments and continuations the tokenizer is in its
 * starting state, so a scan may start at such a newline (a checkpoint) and give
 * the tokens a whole-text scan gives from there. `stop` is asked at each
 * checkpoint after `from` and ends the scan when it says so.
 */
function cTokens(text: string, from = 0, stop?: (pos: number, count: number) => boolean): Stream {
  const out: string[] = [];
  const cpPos = [from];
  const cpCount = [0];
  const n = text.length;
  let atLineStart = true;
  let inDirective = false;
  let directiveStart = 0;
  let i = from;
  const isWord = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_';
  while (i < n) {
    const c = text[i];
    if (c === '\n') {
      if (inDirective) out.push('<eol>');
      inDirective = false;
      atLineStart = true;
      i++;
      cpPos.push(i);
      cpCount.push(out.length);
      if (stop?.(i, out.length)) break;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      i += text[i + 1] === '\n' ? 2 : 3;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      // A comment spanning lines inside a directive does not end it; keep it simple: skip.
      i = e < 0 ? n : e + 2;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e;
      continue;
    }
    if (c === '#' && atLineStart) {
      inDirective = true;
      atLineStart = false;
      directiveStart = out.length;
      out.push('#');
      i++;
      continue;
    }
    atLineStart = false;
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      out.push(text.slice(i, Math.min(j + 1, n)));
      i = j + 1;
      continue;
    }
    if (isWord(c) || (c === '.' && text[i + 1] >= '0' && text[i + 1] <= '9')) {
      let j = i + 1;
      const number = !(isWord(c) && !(c >= '0' && c <= '9'));
      while (j < n) {
        const d = text[j];
        if (isWord(d) || (number && d === '.')) j++;
        else if (number && (d === '+' || d === '-') && /[eEpP]/.test(text[j - 1])) j++;
        else break;
      }
      out.push(text.slice(i, j));
      // `#define NAME(` with no space: a function-like macro.
      if (inDirective && out.length - directiveStart === 3 && out[directiveStart + 1] === 'define' && text[j] === '(') {
        out.push('<fn-like>');
      }
      i = j;
      continue;
    }
    const three = text.substr(i, 3);
    const p = PUNCT3.has(three) ? three : PUNCT2.has(three.slice(0, 2)) ? three.slice(0, 2) : c;
    out.push(p);
    i += p.length;
  }
  return { tokens: out, cpPos, cpCount };
}

interface Stream {
  tokens: string[];
  /** Checkpoints: positions where the tokenizer is in its starting state (ascending), and the tokens before each. */
  cpPos: number[];
  cpCount: number[];
}

/** Length of the common prefix of a and b (compared a block at a time: string equality is far faster than a char loop). */
function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let i = 0;
  for (let step = 4096; step >= 1; step >>= 4) {
    while (i + step <= max && a.slice(i, i + step) === b.slice(i, i + step)) i += step;
  }
  while (i < max && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** Length of the common suffix of a and b, at most max. */
function commonSuffix(a: string, b: string, max: number): number {
  let i = 0;
  for (let step = 4096; step >= 1; step >>= 4) {
    while (i + step <= max && a.slice(a.length - i - step, a.length - i) === b.slice(b.length - i - step, b.length - i)) i += step;
  }
  while (i < max && a.charCodeAt(a.length - 1 - i) === b.charCodeAt(b.length - 1 - i)) i++;
  return i;
}

/** The whole token stream of a text (for tests: sameTokens must agree with comparing these). */
export function tokenStream(text: string): string[] {
  return cTokens(text).tokens;
}

/** The last text's stream: in the editor, every keystroke compares the same pre-image with a new post-image. */
let lastStream: { text: string; stream: Stream } | null = null;
/** The last `a` compared: a text seen a second time gets its whole stream kept (streamOf). */
let lastSeen: string | null = null;

function streamOf(text: string): Stream {
  if (lastStream?.text !== text) lastStream = { text, stream: cTokens(text) };
  return lastStream.stream;
}

/**
 * True when a and b have the same token stream. Only the part of b around its
 * difference from a is tokenized: from the last checkpoint of a before the
 * difference to the first checkpoint of b, in the common tail, that is also a
 * checkpoint of a (from there on both scans see the same text in the same state).
 */
export function sameTokens(a: string, b: string): boolean {
  if (a === b) return true;
  const prefix = commonPrefix(a, b);
  const suffix = commonSuffix(a, b, Math.min(a.length, b.length) - prefix);
  if (lastStream?.text !== a && lastSeen !== a) {
    // First sight of `a` (every file of a CLI run): tokenize it only as far as the change.
    lastSeen = a;
    const once = sameTokensOnce(a, b, prefix, suffix);
    if (once !== null) return once;
  }
  const A = streamOf(a);
  const first = lineAt(A.cpPos, prefix);
  const from = A.cpPos[first];
  const k0 = A.cpCount[first];
  const delta = b.length - a.length;
  let resync = -1;
  const B = cTokens(b, from, (pos) => {
    if (pos < b.length - suffix) return false;
    const j = lineAt(A.cpPos, pos - delta);
    if (A.cpPos[j] !== pos - delta) return false;
    resync = j;
    return true;
  });
  const k1 = resync >= 0 ? A.cpCount[resync] : A.tokens.length;
  return sameRun(B.tokens, A.tokens, k0, k1);
}

/** True when `tokens` equals `of[from..to)`. */
function sameRun(tokens: string[], of: string[], from: number, to: number): boolean {
  if (tokens.length !== to - from) return false;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] !== of[from + i]) return false;
  return true;
}

/**
 * sameTokens without a's whole stream. The texts differ only between `prefix` and their
 * shared tail (`suffix` long). a is tokenized from its start to its first checkpoint in
 * the tail; b from a's last checkpoint at or before the difference to its own first
 * checkpoint in the tail. When those two checkpoints face each other, the rest is the
 * same text scanned from the same state, and the tokens between decide. Null when they
 * do not (the change opens or closes a comment): the caller then compares against a's
 * whole stream.
 */
function sameTokensOnce(a: string, b: string, prefix: number, suffix: number): boolean | null {
  const tailA = a.length - suffix;
  const tailB = b.length - suffix;
  // The scan reports every checkpoint but its first, position 0.
  let from = 0;
  let k0 = 0;
  let endA = tailA === 0 ? 0 : -1;
  let k1 = 0;
  const A =
    endA === 0
      ? null
      : cTokens(a, 0, (pos, count) => {
          if (pos <= prefix) {
            from = pos;
            k0 = count;
          }
          if (pos < tailA) return false;
          endA = pos;
          k1 = count;
          return true;
        });
  if (A && endA < 0) k1 = A.tokens.length;
  let endB = from >= tailB ? from : -1;
  const B =
    endB >= 0
      ? null
      : cTokens(b, from, (pos) => {
          if (pos < tailB) return false;
          endB = pos;
          return true;
        });
  // Both scans ran to the end, or stopped at the same place in the shared tail.
  const delta = b.length - a.length;
  if (endA < 0 ? endB >= 0 : endB < 0 || endB - delta !== endA) return null;
  return sameRun(B?.tokens ?? [], A?.tokens ?? [], k0, k1);
}

export const noFunctionalChange: Rule = {
  id: 'no-functional-change',
  severity: 'error',
  title: 'The patch changes only whitespace or comments: nothing to live-patch',
  check(ctx) {
    const cosmetic: FileChange[] = [];
    for (const fc of ctx.files) {
      if (!fc.isC) {
        if (NEUTRAL.test(fc.path)) continue;
        return; // Makefile, Kconfig, assembly...: could be a real change.
      }
      const only = cosmeticOnly(fc);
      if (only !== true) return;
      cosmetic.push(fc);
    }
    if (!cosmetic.length) return;
    const fc = cosmetic[0];
    const at = firstChange(fc);
    const shift = cosmetic.some((f) => hunkDeltas(f).some((d) => d.delta !== 0));
    ctx.report({
      file: fc.path,
      line: at.line,
      endLine: at.endLine,
      image: at.image,
      message:
        `The patch changes only whitespace, blank lines or comments (${plural(cosmetic.length, 'C file')}), so the ` +
        `compiled code is the same` +
        (shift ? ' except for shifted __LINE__ values' : '') +
        `: kpatch-build stops ` +
        `with "ERROR: no functional changes found"` +
        (shift
          ? ' (or, where a shifted __LINE__ is passed as an argument, builds a module that only replaces ' +
            'functions whose line numbers moved; see line-macro)'
          : '') +
        `. Check that the intended code change is really in the patch (unsaved file, hunk lost in a ` +
        `rebase); a patch without one has nothing to live-patch.`,
      related: cosmetic.slice(1).map((f) => ({ file: f.path, line: firstChange(f).line, message: 'also only whitespace or comments' })),
    });
  },
};
