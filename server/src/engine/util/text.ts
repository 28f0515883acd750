// Small text helpers shared by the indexer and the rules.

/** Splits text into lines, accepting LF and CRLF. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}

/** `s` as a regular expression that matches exactly `s`. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Byte offset -> 0-based line, for one text. */
export function lineStarts(text: string): number[] {
  // indexOf is a native scan; a character loop runs interpreted in a short CLI process.
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** The first index of an ascending list whose value is at least x (the list's length if none is). */
export function firstAtLeast(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

/** JavaScript's \s. */
function isSpace(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** [A-Za-z0-9_], as \\w, for a character code. */
export function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

/** Length of a line continuation (backslash, optional CR, LF) at i, or 0. */
function continuation(text: string, i: number): number {
  if (text.charCodeAt(i) !== 92) return 0;
  if (text.charCodeAt(i + 1) === 10) return 2;
  return text.charCodeAt(i + 1) === 13 && text.charCodeAt(i + 2) === 10 ? 3 : 0;
}

/**
 * C text with comments removed and whitespace collapsed, and no space kept next
 * to punctuation. Two fragments with equal normal forms compile to the same code
 * (up to __LINE__), which is how whitespace- and comment-only edits are told apart.
 *
 * A single scan (it was a regex replace with a callback per whitespace run,
 * which made a 1 MB initializer cost seconds). Per position, in this order: a
 * block comment (to its end or the end of the text) or a line comment is
 * dropped; a string or char literal (ending at its quote or before a newline)
 * is kept verbatim; a run of whitespace and line continuations is dropped.
 * A dropped piece leaves one space when it sat between two word characters
 * ("unsigned long").
 */
export function normalizeC(text: string): string {
  const n = text.length;
  let out = '';
  let kept = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    let end: number;
    if (c === 47 && text.charCodeAt(i + 1) === 42) {
      const e = text.indexOf('*/', i + 2);
      end = e < 0 ? n : e + 2;
    } else if (c === 47 && text.charCodeAt(i + 1) === 47) {
      const e = text.indexOf('\n', i + 2);
      end = e < 0 ? n : e;
    } else if (c === 34 || c === 39) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === c || d === 10) break;
        if (d === 92) {
          // An escape takes any next character but a line terminator.
          const e = j + 1 < n ? text.charCodeAt(j + 1) : 10;
          if (e === 10 || e === 13 || e === 0x2028 || e === 0x2029) break;
          j += 2;
        } else j++;
      }
      i = j < n && text.charCodeAt(j) === c ? j + 1 : j;
      continue;
    } else if (isSpace(c) || continuation(text, i)) {
      end = i;
      for (;;) {
        if (end < n && isSpace(text.charCodeAt(end))) end++;
        else {
          const k = continuation(text, end);
          if (!k) break;
          end += k;
        }
      }
    } else {
      i++;
      continue;
    }
    out += text.slice(kept, i);
    if (i > 0 && end < n && isWordChar(text.charCodeAt(i - 1)) && isWordChar(text.charCodeAt(end))) out += ' ';
    kept = i = end;
  }
  return kept === 0 ? text : out + text.slice(kept);
}

/** Identifier tokens of a C fragment, comments and literals excluded. */
export function identifiersOf(text: string): string[] {
  const norm = normalizeC(text).replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  return norm.match(/[A-Za-z_]\w*/g) ?? [];
}

/** The whitespace-separated words of `s`: long name lists written as text. */
export function words(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}
