import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createParser } from '../../parse/parser';
import { indexSource } from '../../index/indexer';
import { codeIdentifiers, functionsNaming } from './codeText';

test('codeIdentifiers drops comments spanning lines and // comments on every line', () => {
  const decl = 'static int /* was\n __read_mostly */ hits // per_cpu here\n = 0; /* x */';
  assert.deepEqual(codeIdentifiers(decl), ['static', 'int', 'hits']);
  assert.deepEqual(codeIdentifiers('a("x y", \'z\') b'), ['a', 'b']);
});

const BODY_PIECES = [
  'foo(',
  'foo',
  'p->foo(',
  '"foo("',
  '/* foo( */',
  'xfoo(',
  'foo_bar(',
  '0xfoo',
  'bar(',
  ' ',
  '\n',
  ';',
  ')',
  '(',
  '{',
  '}',
  "'",
];

test('property: functionsNaming keeps every function that calls or names the word, in index order', async () => {
  const parser = await createParser('wasm');
  let kept = 0;
  let left = 0;
  fc.assert(
    fc.property(fc.array(fc.array(fc.constantFrom(...BODY_PIECES), { maxLength: 10 }), { maxLength: 4 }), (bodies) => {
      const text = bodies.map((b, i) => `static int f${i}(int x)\n{\n${b.join('')}\n}\n`).join('\n');
      const idx = indexSource(parser, 'f.c', text);
      for (const word of ['foo', 'bar', 'foo_bar', 'x']) {
        const got = functionsNaming(idx, word);
        assert.deepEqual(
          got,
          idx.functions.filter((f) => got.includes(f)),
        );
        for (const f of idx.functions) {
          const uses = f.calls.some((c) => c.name === word) || f.identifiers.has(word);
          if (uses) assert.ok(got.includes(f), `${JSON.stringify(text)}: ${f.name} uses ${word}`);
          if (got.includes(f)) kept++;
          else left++;
        }
      }
    }),
    { seed: 15, numRuns: 1500 },
  );
  assert.ok(kept > 100 && left > 100, `${kept} kept, ${left} left out`);
  // Not a plain identifier: no filtering.
  const idx = indexSource(parser, 'f.c', 'int f(void)\n{\n\treturn 0;\n}\n');
  assert.equal(functionsNaming(idx, 'a$b'), idx.functions);
});
