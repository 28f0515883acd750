import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';
import { sameTokens, tokenStream } from './no-functional-change';

const rule = 'no-functional-change';

test('one blank line at the top of a file (kpatch warn-detect shape) is an error', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'blank-line-at-top'), { withoutTree });
    const [f, ...rest] = ofRule(r, rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'error');
    assert.equal(f.file, 'arch/x86/demo/vcpu.c');
    assert.equal(f.line, 1); // the added blank line
    assert.match(f.message, /no functional changes found/);
    assert.match(f.message, /__LINE__/);
  }
});

test('comment, indentation and blank-line edits across two C files are one error, with the other file related', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'comments-and-whitespace-only'), { withoutTree });
    const [f, ...rest] = ofRule(r, rule);
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'error');
    assert.equal(f.file, 'drivers/demo/stats.c');
    assert.match(f.message, /2 C files/);
    assert.deepEqual(
      f.related.map((x) => x.file),
      ['drivers/demo/stats.h'],
    );
  }
});

test('a comment-only edit next to a real change in another function is not reported', async () => {
  for (const withoutTree of [false, true]) {
    const r = await runCase(caseDir(rule, 'comment-next-to-real-change'), { withoutTree });
    assert.deepEqual(ofRule(r, rule), []);
  }
});

test('a Makefile change next to a comment edit may be functional: not reported', async () => {
  const r = await runCase(caseDir(rule, 'comment-and-makefile-change'));
  assert.deepEqual(ofRule(r, rule), []);
});

test('documentation next to a comment edit does not count as a change', async () => {
  const r = await runCase(caseDir(rule, 'comment-and-documentation-change'));
  assert.equal(ofRule(r, rule).length, 1);
});

test('token comparison: whitespace and comments do not matter, token boundaries and directives do', () => {
  assert.ok(sameTokens('int a = b+c; /* x */', 'int a = b + c;\n// y\n'));
  assert.ok(sameTokens('f(a,\n  b);', 'f(a, b);'));
  assert.ok(!sameTokens('x = a + +b;', 'x = a ++b;'));
  assert.ok(!sameTokens('x = a - -1;', 'x = a--1;'));
  assert.ok(sameTokens('x =-1;', 'x = -1;'));
  assert.ok(!sameTokens('#define f(x) (x)\n', '#define f (x) (x)\n'));
  assert.ok(!sameTokens('#define A 1\nint b;\n', '#define A 1 int b;\n'));
  assert.ok(sameTokens('#define A \\\n\t1\n', '#define A 1\n'));
  assert.ok(!sameTokens('s = "a /* b */";', 's = "a ";'));
  assert.ok(!sameTokens('s = "a  b";', 's = "a b";'));
  assert.ok(!sameTokens('x = 1e+3;', 'x = 1e + 3;'));
});

test('token comparison of an edited text (scanned around the edit only, with and without the kept stream) agrees with comparing whole streams', () => {
  const base = [
    '#include <linux/x.h>',
    '#define F(a) \\',
    '\t((a) + 1) /* a comment',
    ' * over lines */',
    'static const char *s = "str \\" /* not a comment */";',
    "static char c = '\\'';",
    '// line comment with "quote',
    'int f(int x)',
    '{',
    '\tif (x >= 1e+3 && x-- > 0)',
    '\t\treturn x >>= 2; /* tail */',
    '#ifdef CONFIG_X',
    '\treturn F(x);',
    '#endif',
    '\treturn 0;',
    '}',
    '',
  ].join('\n');
  const pieces = [' ', '\t', '\n', '\n\n', '/*', '*/', '/* c */', '//', '\\\n', '#', '"', "'", 'x', '+', '-', '(', '\r\n'];
  // A small deterministic generator: the same cases on every run.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let same = 0;
  for (let i = 0; i < 3000; i++) {
    let b = base;
    for (let k = 1 + rand(2); k > 0; k--) {
      const at = rand(b.length + 1);
      b = rand(4) === 0 ? b.slice(0, at) + b.slice(at + 1 + rand(3)) : b.slice(0, at) + pieces[rand(pieces.length)] + b.slice(at);
    }
    const expected = tokenStream(base).join('\u0000') === tokenStream(b).join('\u0000');
    // b is new each time: tokenized only as far as the change (the CLI's case).
    assert.equal(sameTokens(b, base), expected, JSON.stringify(b));
    // base, just seen: compared against its whole stream, kept for the next edit (the editor's case).
    assert.equal(sameTokens(base, b), expected, JSON.stringify(b));
    assert.equal(sameTokens(base, b), expected, JSON.stringify(b));
    if (expected) same++;
  }
  // Both answers must occur often enough for the comparison to mean something.
  assert.ok(same > 300 && same < 2700, `${same} of 3000 edits kept the tokens`);
});
