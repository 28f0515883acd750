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

/**
 * C text with comments removed and whitespace collapsed, and no space kept next
 * to punctuation. Two fragments with equal normal forms compile to the same code
 * (up to __LINE__), which is how whitespace- and comment-only edits are told apart.
 */
export function normalizeC(text: string): string {
  let out = '';
  let pendingSpace = false;
  const n = text.length;
  const isWord = (c: string) => /[A-Za-z0-9_]/.test(c);
  for (let i = 0; i < n; i++) {
    const ch = text[i];
    if (ch === '/' && text[i + 1] === '*') {
      const e = text.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 1;
      pendingSpace = true;
      continue;
    }
    if (ch === '/' && text[i + 1] === '/') {
      const e = text.indexOf('\n', i);
      i = e < 0 ? n : e - 1;
      pendingSpace = true;
      continue;
    }
    if (ch === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      // Line continuation in a macro.
      pendingSpace = true;
      i += text[i + 1] === '\r' ? 2 : 1;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v') {
      pendingSpace = true;
      continue;
    }
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < n && text[j] !== ch && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      if (pendingSpace && out.length && isWord(out[out.length - 1])) out += ' ';
      pendingSpace = false;
      out += text.slice(i, Math.min(j + 1, n));
      i = j;
      continue;
    }
    if (pendingSpace && out.length && isWord(out[out.length - 1]) && isWord(ch)) out += ' ';
    pendingSpace = false;
    out += ch;
  }
  return out;
}

/** Identifier tokens of a C fragment, comments and literals excluded. */
export function identifiersOf(text: string): string[] {
  const norm = normalizeC(text).replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  return norm.match(/[A-Za-z_]\w*/g) ?? [];
}
