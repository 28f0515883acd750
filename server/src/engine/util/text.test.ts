// normalizeC is a hand-written scanner (it was a regex replace with a callback
// per whitespace run, which cost seconds on a 1 MB initializer). Property: it
// gives exactly what the regex gave, on text made of the characters that matter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escapeRegExp, normalizeC, identifiersOf, lineStarts } from './text';

const NORM_RE = /\/\*[\s\S]*?(?:\*\/|$)|\/\/[^\n]*|("(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)|(?:\s|\\\r?\n)+/g;
const WORD_CHAR = /[A-Za-z0-9_]/;

/** The regex version, kept as the reference. */
function reference(text: string): string {
  return text.replace(NORM_RE, (m: string, literal: string | undefined, offset: number) => {
    if (literal !== undefined) return literal;
    const before = text[offset - 1];
    const after = text[offset + m.length];
    return before !== undefined && after !== undefined && WORD_CHAR.test(before) && WORD_CHAR.test(after) ? ' ' : '';
  });
}

const PIECES = [
  'a',
  'b_',
  '9',
  ' ',
  '\t',
  '\n',
  '\r',
  '\r\n',
  '\v',
  '\f',
  '\\',
  '\\\n',
  '\\\r\n',
  '\\\r',
  '"',
  "'",
  '/',
  '*',
  '/*',
  '*/',
  '//',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\u3000',
  '\u0085',
  '\\\u2028',
  'x',
  '(',
  ';',
  '#',
  'ü',
];

test('property: normalizeC equals the regex it replaced', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 24 }), (parts) => {
      const s = parts.join('');
      assert.equal(normalizeC(s), reference(s));
    }),
    { seed: 7, numRuns: 20000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      assert.equal(normalizeC(s), reference(s));
    }),
    { seed: 7, numRuns: 5000 },
  );
});

test('normalizeC keeps words apart and literals intact', () => {
  assert.equal(normalizeC('unsigned  long x /* c */ = "a  b" ; // t'), 'unsigned long x="a  b";');
  assert.equal(normalizeC('#define A \\\n  1'), '#define A 1');
  assert.deepEqual(identifiersOf('int x = y("z w");'), ['int', 'x', 'y']);
});

test('escapeRegExp: the pattern matches the text itself, every special character literally', () => {
  const special = 'a.b*c+d?e^f$g{h}i(j)k|l[m]n\\o';
  assert.ok(new RegExp(`^${escapeRegExp(special)}$`).test(special));
  assert.ok(!new RegExp(`^${escapeRegExp('a.c')}$`).test('abc'));
  fc.assert(fc.property(fc.string(), (s) => new RegExp(`^${escapeRegExp(s)}$`).test(s)));
});

test('lineStarts: the offset after every newline, as a character scan finds them', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', '\n', '\r', ' ', 'é'), { maxLength: 300 }), (chars) => {
      const text = chars.join('');
      const naive = [0];
      for (let i = 0; i < text.length; i++) if (text[i] === '\n') naive.push(i + 1);
      assert.deepEqual(lineStarts(text), naive);
    }),
  );
});
