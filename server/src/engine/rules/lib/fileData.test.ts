import assert from 'node:assert/strict';
import { test } from '../../../../../testing/nodeTest';
import { createParser } from '../../parse/parser';
import { indexSource } from '../../index/indexer';
import fc from 'fast-check';
import { DocumentTrees } from '../../parse/documentTrees';
import { fileData, macroVarsStats } from './fileData';

const TEXT = `static DEFINE_MUTEX(top_lock);

static int f(void)
{
	static DEFINE_MUTEX(in_f);
	WARN_ON(1);
	return 0;
}

LIST_HEAD(between);
static DEFINE_RATELIMIT_STATE(spread, 5 * HZ,
			      10);
EXPORT_SYMBOL(f);

static void g(void)
{
	DEFINE_SPINLOCK(in_g);
	LIST_HEAD(also_in_g);
}
DECLARE_BITMAP(last, 8);
`;

test('macro-made objects: file scope only, whatever order the functions are listed in', async () => {
  const idx = indexSource(await createParser(), 'x.c', TEXT);
  const names = fileData(idx).map((v) => `${v.macro}:${v.name}`);
  assert.deepEqual(names, ['DEFINE_MUTEX:top_lock', 'LIST_HEAD:between', 'DEFINE_RATELIMIT_STATE:spread', 'DECLARE_BITMAP:last']);
  // Lines as the index counts them (0-based), a macro over two lines included.
  assert.deepEqual(
    fileData(idx)
      .filter((v) => v.macro)
      .map((v) => [v.span.start, v.span.end]),
    [
      [0, 0],
      [9, 9],
      [10, 11],
      [19, 19],
    ],
  );
  // The inside-a-function test does not rely on the index's order.
  const reversed = { ...idx, functions: [...idx.functions].reverse() };
  assert.deepEqual(fileData(reversed), fileData(idx));
  // Nor on functions being disjoint: one span covering another still hides what is in either.
  const [f, g] = idx.functions;
  const wide = { ...g, span: { ...g.span, start: f.span.start } };
  const overlapping = { ...idx, functions: [wide, f] };
  assert.deepEqual(
    fileData(overlapping)
      .filter((v) => v.macro)
      .map((v) => v.name),
    ['top_lock', 'last'],
  );
});

const LINES = [
  'static DEFINE_MUTEX(m1);',
  'LIST_HEAD(l1);',
  'static DEFINE_RATELIMIT_STATE(rs, 5 * HZ,',
  '\t\t\t      10);',
  'DECLARE_BITMAP(bm, 8);',
  'static int f(void)',
  '{',
  '\tDEFINE_SPINLOCK(in_f);',
  '\treturn 0;',
  '}',
  '',
  '/* DEFINE_MUTEX(c); */',
  'int x;',
];

test('property: after an incremental re-index, the macro-made objects read around the edit equal a whole reading', async () => {
  const parser = await createParser();
  const before = macroVarsStats.incremental;
  const lines = fc.array(fc.constantFrom(...LINES), { maxLength: 24 });
  fc.assert(
    fc.property(lines, fc.nat(), fc.nat(), lines, (base, at, len, added) => {
      const from = at % (base.length + 1);
      const next = [...base.slice(0, from), ...added, ...base.slice(from + (len % 4))];
      const trees = new DocumentTrees(parser);
      const text = base.join('\n') + '\n';
      fileData(trees.index('u', 'x.c', text));
      const nextText = next.join('\n') + '\n';
      const idx = trees.index('u', 'x.c', nextText);
      // A copy of the same index has no earlier reading to start from: read whole. (Not a
      // fresh index of the text: on broken code the re-index itself may differ from one.)
      assert.deepEqual(fileData(idx), fileData({ ...idx }), JSON.stringify([text, nextText]));
    }),
    { seed: 7, numRuns: 400 },
  );
  assert.ok(macroVarsStats.incremental - before > 200, `${macroVarsStats.incremental - before} read around an edit`);
});
