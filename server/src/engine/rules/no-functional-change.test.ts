import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';
import { sameTokens } from './no-functional-change';

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
