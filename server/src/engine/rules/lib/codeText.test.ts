import { describe, it, test } from '../../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { createParser } from '../../parse/parser';
import { indexSource } from '../../index/indexer';
import type { FunctionDef } from '../../model';
import { bodyCode, codeIdentifiers, codeOnly, firstAfter, functionsNaming } from './codeText';

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

// bodyCode blanks a function alone: it must give the lines that blanking the whole file gives.

const wholeCode = (text: string) => codeOnly(text).split('\n');
/** The body's lines from the whole file's blanking, with what shares its first or last line and is not the function's as spaces. */
const bodyOf = (text: string, fn: FunctionDef) => {
  const lines = wholeCode(text);
  const startOf = (l: number) => lines.slice(0, l).reduce((n, x) => n + x.length + 1, 0);
  const out = lines.slice(fn.bodySpan.start, fn.bodySpan.end + 1);
  if (fn.span.start === fn.bodySpan.start) {
    const before = fn.span.startByte - startOf(fn.span.start);
    out[0] = ' '.repeat(before) + out[0].slice(before);
  }
  const upTo = fn.bodySpan.endByte - startOf(fn.bodySpan.end);
  out[out.length - 1] = out[out.length - 1].slice(0, upTo) + ' '.repeat(Math.max(0, out[out.length - 1].length - upTo));
  return out.join('\n');
};

const C_PIECES = ['/*', '*/', '//', '"', "'", '\\', '\\\n', '\n', '\n', 'a', 'x = 1;', ' ', '*', '/', '\\\\', '\\"', "\\'", '{', '}'];
const cText = (maxLength: number) => fc.array(fc.constantFrom(...C_PIECES), { maxLength }).map((p) => p.join(''));

test('property: the code of a function body, blanked alone, is what blanking the whole file gives', async () => {
  const parser = await createParser('wasm');
  let functions = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(cText(12), cText(16)), { minLength: 1, maxLength: 4 }), (parts) => {
      // Functions with comments, literals and continuations inside and between them; a
      // comment may end on the line a function starts on.
      const text = parts.map(([between, body], i) => `${between}\n/* c */ static int f${i}(void)\n{\n${body}\n\treturn 0;\n}\n`).join('');
      const idx = indexSource(parser, 'f.c', text);
      for (const fn of idx.functions) {
        assert.equal(bodyCode(idx, fn), bodyOf(text, fn), JSON.stringify(text));
        functions++;
      }
    }),
    { seed: 15, numRuns: 1500 },
  );
  assert.ok(functions > 1000, `${functions} functions`);
});

const TREE = path.join(os.homedir(), '.cache/kernel-livepatch/linux-6.1');
const CORE = path.join(TREE, 'kernel/sched/core.c');
describe('bodyCode on a file of the 6.1 tree', { skip: fs.existsSync(CORE) ? false : `no kernel tree at ${TREE}` }, () => {
  it('gives every function of kernel/sched/core.c the lines that blanking the whole file gives', async () => {
    const parser = await createParser('wasm');
    const text = fs.readFileSync(CORE, 'utf8');
    const idx = indexSource(parser, 'kernel/sched/core.c', text);
    assert.ok(idx.functions.length > 400);
    for (const fn of idx.functions) assert.equal(bodyCode(idx, fn), bodyOf(text, fn), fn.name);
  });
});

test('property: firstAfter finds for a name what a global scan for the pattern and any name finds first (unless names nest)', () => {
  const KTHREAD = ['kthread_run', 'kthread_create', 'kernel_thread', 'xkthread_run'];
  const piece = fc.oneof(
    fc.constantFrom(...KTHREAD).map((k) => `${k}(`),
    fc.constantFrom('fn', 'fn2', 'my_fn', 'afn', 'fn_x'),
    fc.constantFrom(' ', '\n', '\t', '&', ', ', ';', '(', '.probe = ', '.init_one=&', '.init =', '/* fn */'),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), fc.constantFrom('fn', 'fn2', 'my_fn'), (pieces, name) => {
      const text = pieces.join('');
      for (const [global, anchored] of [
        [
          /\b(?:kthread_run|kthread_create|kernel_thread)\s*\(\s*&?\s*([A-Za-z_]\w*)/g,
          /\b(?:kthread_run|kthread_create|kernel_thread)\s*\(\s*&?\s*$/,
        ],
        [/\.(probe|init|init_one)\s*=\s*&?\s*([A-Za-z_]\w*)/g, /\.(probe|init|init_one)\s*=\s*&?\s*$/],
      ] as const) {
        const all = [...text.matchAll(global)];
        // `kthread_run(kthread_run(fn`: the scan takes the inner keyword for the name and skips
        // fn, where firstAfter finds fn. Not C that anything starts a kthread with.
        if (all.some((m) => KTHREAD.includes(m[m.length - 1]))) continue;
        const want = all.find((m) => m[m.length - 1] === name);
        const got = firstAfter(text, name, anchored);
        assert.equal(got?.index, want?.index, JSON.stringify(text));
        if (want && want.length > 2) assert.equal(got?.match[1], want[1]);
      }
    }),
    { numRuns: 2000 },
  );
});
