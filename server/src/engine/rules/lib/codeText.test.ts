import { describe, it, test } from '../../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { createParser } from '../../parse/parser';
import { DocumentTrees } from '../../parse/documentTrees';
import { indexSource } from '../../index/indexer';
import type { FileIndex } from '../../model';
import { codeIdentifiers, codeLines, codeLinesStats, codeOnly, firstAfter, functionsNaming } from './codeText';
import { noteLineEdit } from '../../index/lineEdits';

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

// codeLines after an edit re-blanks only around it: it must equal codeOnly over the whole new text.

/** A stand-in index: codeLines and noteLineEdit read only the lines. */
const linesIndex = (text: string) => ({ lines: text.split('\n') }) as unknown as FileIndex;
const wholeCode = (text: string) => codeOnly(text).split('\n');
const newlines = (s: string) => s.split('\n').length - 1;

const C_PIECES = ['/*', '*/', '//', '"', "'", '\\', '\\\n', '\n', '\n', 'a', 'x = 1;', ' ', '*', '/', '\\\\', '\\"', "\\'", '{', '}'];
const cText = (maxLength: number) => fc.array(fc.constantFrom(...C_PIECES), { maxLength }).map((p) => p.join(''));

test('property: codeLines after a chain of edits equals codeOnly over the whole text, asked after any of them', () => {
  let incremental = 0;
  fc.assert(
    fc.property(
      cText(60),
      fc.array(fc.tuple(fc.nat(), fc.nat(8), cText(6), fc.nat(3), fc.nat(3), fc.boolean()), { minLength: 1, maxLength: 6 }),
      (start, edits) => {
        let text = start;
        const whole = codeLinesStats.whole;
        let idx = linesIndex(text);
        assert.deepEqual(codeLines(idx), wholeCode(text));
        for (const [i, [at, del, ins, widenUp, widenDown, ask]] of edits.entries()) {
          const s = at % (text.length + 1);
          const e = Math.min(text.length, s + del);
          const next = text.slice(0, s) + ins + text.slice(e);
          // Lines [aLine, bOld] became [aLine, bNew]; the indexer may widen that region.
          const aLine = Math.max(0, newlines(text.slice(0, s)) - widenUp);
          const grow = Math.min(widenDown, newlines(text.slice(e)));
          const bOld = newlines(text.slice(0, e)) + grow;
          const bNew = newlines(next.slice(0, s + ins.length)) + grow;
          const nextIdx = linesIndex(next);
          const before = codeLinesStats.incremental;
          noteLineEdit(idx, nextIdx, aLine, bOld, bNew);
          // Rules ask for the code lines of some versions only: the others are skipped.
          if (ask || i === edits.length - 1) {
            assert.deepEqual(codeLines(nextIdx), wholeCode(next), JSON.stringify({ start, edits: edits.slice(0, i + 1) }));
            incremental += codeLinesStats.incremental - before;
          }
          text = next;
          idx = nextIdx;
        }
        // Only the first version was blanked over its whole text.
        assert.equal(codeLinesStats.whole - whole, 1);
      },
    ),
    { seed: 15, numRuns: 3000 },
  );
  assert.ok(incremental > 2000, `${incremental} incremental results`);
});

test('codeLines: an edit that opens a comment re-blanks to its end, and closing it again resyncs', () => {
  const text = 'int a;\n"s\\\nt" b;\nint c; /* x\ny */ d;\n// e\nint f;\nint g;\n';
  const idx = linesIndex(text);
  codeLines(idx);
  const opened = text.replace('int f;', '/*t f;');
  const idx2 = linesIndex(opened);
  noteLineEdit(idx, idx2, 6, 6, 6);
  assert.deepEqual(codeLines(idx2), wholeCode(opened));
  assert.equal(codeLines(idx2)[7], '      ');
  const idx3 = linesIndex(text);
  noteLineEdit(idx2, idx3, 6, 6, 6);
  assert.deepEqual(codeLines(idx3), wholeCode(text));
  assert.equal(codeLines(idx3)[7], 'int g;');
});

const TREE = path.join(os.homedir(), '.cache/kernel-livepatch/linux-6.1');
const CORE = path.join(TREE, 'kernel/sched/core.c');
describe('codeLines on a file of the 6.1 tree', { skip: fs.existsSync(CORE) ? false : `no kernel tree at ${TREE}` }, () => {
  it('follows a sequence of editor edits to kernel/sched/core.c exactly', async () => {
    const parser = await createParser('wasm');
    const trees = new DocumentTrees(parser);
    let text = fs.readFileSync(CORE, 'utf8');
    const uri = 'file:///core.c';
    let idx = trees.index(uri, 'kernel/sched/core.c', text);
    assert.deepEqual(codeLines(idx), wholeCode(idx.lines.join('\n')));
    const before = codeLinesStats.incremental;
    // Typing in a function body, then comments, strings and continuations opened and closed.
    const at = text.indexOf('\treturn ret;\n', text.indexOf('int sched_setattr_nocheck(')) + 1;
    const edits: [number, number, string][] = [
      [at, 0, 'x'],
      [at + 1, 0, 'y = 1;\n\t'],
      [at, 0, '/*'],
      [at, 2, ''],
      [at, 0, '"'],
      [at, 0, '"'],
      [at + 1, 0, 'abc\\\n'],
      [at, 7, ''],
      [at, 0, "'\\''"],
      [at, 4, ''],
      [at, 0, '// c \\\n'],
      [at, 7, ''],
      [text.length - 1, 0, '\n/* tail'],
      [0, 0, '/* head */\n'],
      [0, 11, ''],
      [at, 9, ''],
    ];
    let asked = 0;
    for (const [i, [s, del, ins]] of edits.entries()) {
      text = text.slice(0, s) + ins + text.slice(s + del);
      idx = trees.index(uri, 'kernel/sched/core.c', text);
      // Some versions are never asked for their code lines, as when no rule reads them.
      if (i % 3 === 1) continue;
      assert.deepEqual(codeLines(idx), wholeCode(idx.lines.join('\n')), JSON.stringify([s, del, ins]));
      asked++;
    }
    assert.equal(codeLinesStats.incremental - before, asked);
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
