// Small text helpers shared by the indexer and the rules.

/** Splits text into lines, accepting LF and CRLF. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}

/** Byte offset -> 0-based line, for one text. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

export function lineAt(starts: number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const NORM_RE = /\/\*[\s\S]*?(?:\*\/|$)|\/\/[^\n]*|("(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)|(?:\s|\\\r?\n)+/g;
const WORD_CHAR = /[A-Za-z0-9_]/;

/**
 * C text with comments removed and whitespace collapsed, and no space kept next
 * to punctuation. Two fragments with equal normal forms compile to the same code
 * (up to __LINE__), which is how whitespace- and comment-only edits are told apart.
 */
export function normalizeC(text: string): string {
  const out = text.replace(NORM_RE, (m: string, literal: string | undefined, offset: number) => {
    if (literal !== undefined) return literal;
    // A separator survives only between two word characters ("unsigned long").
    const before = text[offset - 1];
    const after = text[offset + m.length];
    return before !== undefined && after !== undefined && WORD_CHAR.test(before) && WORD_CHAR.test(after) ? ' ' : '';
  });
  return out;
}

/** Identifier tokens of a C fragment, comments and literals excluded. */
export function identifiersOf(text: string): string[] {
  const norm = normalizeC(text).replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  return norm.match(/[A-Za-z_]\w*/g) ?? [];
}
