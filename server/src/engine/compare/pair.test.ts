// sameLineRange is the join-free form of comparing two line ranges' text; property:
// it answers exactly what joining the sliced lines with '\n' and comparing answers.
// pairFile's kinds, shortcuts and all, are what their definitions say.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pairFile, sameLineRange } from './pair';
import { createParser } from '../parse/parser';
import { indexSource } from '../index/indexer';

const lines = fc.array(fc.constantFrom('', 'a', 'b', ' ', '}'), { maxLength: 6 });
const index = fc.integer({ min: -2, max: 8 });

test('sameLineRange agrees with comparing the joined slices', () => {
  fc.assert(
    fc.property(lines, index, index, lines, index, index, (x, s1, e1, y, s2, e2) => {
      const joined = x.slice(s1, e1 + 1).join('\n') === y.slice(s2, e2 + 1).join('\n');
      assert.equal(sameLineRange(x, s1, e1, y, s2, e2), joined);
    }),
    { numRuns: 20000 },
  );
});

// pairFile's shortcuts (one comparison of a function's whole lines, raw bodies before
// normalised ones) must give the kinds the definitions give: signature, then the
// normalised body, then the split lines of the span, then the span's start.
test('pairFile classifies each function as the definitions of the kinds say, line ends and shared lines included', async () => {
  const parser = await createParser('wasm');
  const body = fc.constantFrom('return 0;', 'return 1;', '/* note */ return 0;', 'return  0;', 'x++; return x;');
  const fn = fc.record({
    name: fc.constantFrom('f', 'g', 'h'),
    param: fc.constantFrom('void', 'int x'),
    body,
    lead: fc.constantFrom('', 'static int z; ', '\n'),
  });
  const file = fc.array(fn, { minLength: 1, maxLength: 4 });
  const render = (fns: { name: string; param: string; body: string; lead: string }[], crlf: boolean, finalNewline: boolean) => {
    const text = fns.map((f, i) => `${f.lead}int ${f.name}${i}(${f.param})\n{\n\t${f.body}\n}\n`).join('\n');
    const t = finalNewline ? text : text.slice(0, -1);
    return crlf ? t.replace(/\n/g, '\r\n') : t;
  };
  fc.assert(
    fc.property(file, file, fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (a, b, crlfA, crlfB, nlA, nlB) => {
      const pre = indexSource(parser, 'x.c', render(a, crlfA, nlA));
      const post = indexSource(parser, 'x.c', render(b, crlfB, nlB));
      for (const c of pairFile(pre, post).functions) {
        if (!c.old || !c.new) continue;
        const o = c.old;
        const n = c.new;
        const want =
          o.signature !== n.signature
            ? 'signature'
            : o.normBody !== n.normBody
              ? 'body'
              : pre.lines.slice(o.span.start, o.span.end + 1).join('\n') !== post.lines.slice(n.span.start, n.span.end + 1).join('\n')
                ? 'cosmetic'
                : o.span.start !== n.span.start
                  ? 'moved'
                  : 'unchanged';
        assert.equal(c.kind, want, `${c.name}: ${JSON.stringify(render(a, crlfA, nlA))} -> ${JSON.stringify(render(b, crlfB, nlB))}`);
      }
    }),
    { numRuns: 400 },
  );
});
