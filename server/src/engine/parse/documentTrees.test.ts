// Incremental re-indexing must give exactly what a full index of the new text gives.

import { test } from '../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createParser } from './parser';
import { indexSource } from '../index/indexer';
import { DocumentTrees, IndexCache, mergeRegions, editRegion } from './documentTrees';
import { defaultKernelTree } from '../../../../tools/parse-accuracy/accuracy';
import { demo, edits, summary, touchAll } from '../../../../testing/indexSummary';

test('incremental re-index equals a full index after each kind of edit', async () => {
  const parser = await createParser();
  // Body facts read before the edit are carried over to the moved functions, not rescanned: both ways must agree.
  for (const conv of [(t: string) => t, (t: string) => t.replace(/\n/g, '\r\n')]) {
    const base = conv(demo);
    for (const read of [false, true]) {
      for (const [what, edit] of edits) {
        const trees = new DocumentTrees(parser);
        const first = trees.index('u', 'x.c', base);
        if (read) touchAll(first);
        const next = conv(edit(demo));
        assert.notEqual(next, base, what);
        const inc = trees.index('u', 'x.c', next);
        assert.equal(trees.stats.incremental, 1, what);
        assert.deepEqual(summary(inc), summary(indexSource(parser, 'x.c', next)), what);
        // And again from that index, whose facts came from the first one.
        const again = trees.index('u', 'x.c', base);
        assert.deepEqual(summary(again), summary(indexSource(parser, 'x.c', base)), `${what}, undone`);
      }
    }
  }
});

test("an edit inside an #ifdef block re-indexes to what a full index gives, the block's other definitions included", async () => {
  const parser = await createParser();
  const base = [
    '#include <linux/kernel.h>',
    '',
    '#ifdef CONFIG_DEMO_STATS',
    'static int demo_count;',
    '',
    'static int demo_first(void)',
    '{',
    '\treturn demo_count;',
    '}',
    '',
    // A head whose name is a macro: the indexer keeps only its line.
    'static int DEMO_ENTRY',
    '{',
    '\treturn 0;',
    '}',
    '',
    'static int demo_second(int x)',
    '{',
    '\tWARN_ON(x < 0);',
    '\treturn x + demo_count;',
    '}',
    '',
    '#define DEMO_LIMIT 16',
    '',
    'static int demo_third(void)',
    '{',
    '\treturn DEMO_LIMIT;',
    '}',
    '#endif /* CONFIG_DEMO_STATS */',
    '',
    'int demo_outside(void)',
    '{',
    '\treturn 1;',
    '}',
    '',
  ].join('\n');
  const full = indexSource(parser, 'x.c', base);
  assert.ok(full.opaqueLines.length > 0, 'the fixture has a function the indexer cannot name');
  for (const [what, next] of [
    ['a statement of the middle function', base.replace('return x + demo_count;', 'return x + demo_count + 1;')],
    ['a line added in the first function', base.replace('\treturn demo_count;', '\tdemo_count++;\n\treturn demo_count;')],
    ['the opaque function', base.replace('\treturn 0;\n}\n\nstatic int demo_second', '\treturn 2;\n}\n\nstatic int demo_second')],
    ['the macro between functions', base.replace('DEMO_LIMIT 16', 'DEMO_LIMIT 32')],
  ] as const) {
    const trees = new DocumentTrees(parser);
    touchAll(trees.index('u', 'x.c', base));
    assert.notEqual(next, base, what);
    const inc = trees.index('u', 'x.c', next);
    assert.equal(trees.stats.incremental, 1, what);
    assert.deepEqual(summary(inc), summary(indexSource(parser, 'x.c', next)), what);
  }
});

const coreC = path.join(defaultKernelTree(), 'kernel', 'sched', 'core.c');
test(
  'incremental re-index of kernel/sched/core.c equals a full index after one-line edits across the file',
  { skip: fs.existsSync(coreC) ? false : `no kernel tree at ${defaultKernelTree()} (scripts/fetch-kernel-source.sh)` },
  async () => {
    const parser = await createParser();
    const text = fs.readFileSync(coreC, 'utf8');
    const lines = text.split('\n');
    const trees = new DocumentTrees(parser);
    touchAll(trees.index('u', 'core.c', text));
    // Every 500th line: a statement, a comment, a declaration, an EXPORT_SYMBOL, a blank line...
    for (let l = 3; l < lines.length; l += 500) {
      for (const change of [(s: string) => s + ' x', (s: string) => s + '\n\n', () => '']) {
        const next = lines.slice();
        next[l] = change(lines[l]);
        const t = next.join('\n');
        const inc = trees.index('u', 'core.c', t);
        assert.deepEqual(summary(inc), summary(indexSource(parser, 'core.c', t)), `line ${l + 1}: ${JSON.stringify(next[l])}`);
        if (l % 1000 === 3) touchAll(inc);
      }
    }
  },
);

test('several edits between two index requests are merged correctly', async () => {
  const parser = await createParser();
  const trees = new DocumentTrees(parser);
  trees.index('u', 'x.c', demo);
  let t = demo;
  for (const [, edit] of edits.slice(0, 3)) {
    t = edit(t);
    trees.update('u', 'x.c', t);
  }
  assert.deepEqual(summary(trees.index('u', 'x.c', t)), summary(indexSource(parser, 'x.c', t)));
});

test("an edit after an undo back to the base reparses from the base's tree: one spot, and the same index as a full parse", async () => {
  const parser = await createParser();
  const trees = new DocumentTrees(parser);
  // The demo file with 40 more functions below it, so that two edits can lie far apart.
  const base = demo + Array.from({ length: 40 }, (_, i) => `\nstatic int filler_${i}(int x)\n{\n\treturn x + ${i};\n}\n`).join('');
  const [, first] = edits[0];
  trees.index('base', 'x.c', base);
  trees.index('u', 'x.c', first(base));
  // The buffer went back to the base (nothing parsed for it), then changed near its end.
  const next = base.replace('return x + 38;', 'return x - 38;');
  const e = trees.update('u', 'x.c', next, 'base');
  const firstAt = editRegion(base, first(base)).start;
  assert.ok(e.previous, 'reparsed, not parsed anew');
  // From the buffer's last tree, the region would run from the first edit to this one.
  assert.ok(e.previous.region.start > firstAt + 1000, `${JSON.stringify(e.previous.region)}; the undone edit was at ${firstAt}`);
  assert.deepEqual(summary(trees.index('u', 'x.c', next)), summary(indexSource(parser, 'x.c', next)));
  // The base keeps its own tree and index.
  assert.equal(trees.entry('base')!.tree.rootNode.endIndex, base.length);
  assert.deepEqual(summary(trees.index('base', 'x.c', base)), summary(indexSource(parser, 'x.c', base)));
  // When the buffer's own last tree is the closer one, that one is used.
  const typed = next.replace('return x + 39;', 'return x + 3;');
  const e2 = trees.update('u', 'x.c', typed, 'base');
  assert.ok(e2.previous && e2.previous.region.start > next.indexOf('filler_38'), JSON.stringify(e2.previous?.region));
  assert.deepEqual(summary(trees.index('u', 'x.c', typed)), summary(indexSource(parser, 'x.c', typed)));
});

test('mergeRegions composes two edits', () => {
  const a = 'abcdefghij';
  const mid = 'abXXXefghij'; // cd -> XXX
  const b = 'abXXXefgYij'; // h -> Y
  const r = mergeRegions(editRegion(a, mid), editRegion(mid, b));
  assert.equal(a.slice(0, r.start) + b.slice(r.start, r.newEnd) + a.slice(r.oldEnd), b);
});

test('the tree cache is LRU-bounded and frees evicted trees', async () => {
  const parser = await createParser();
  const trees = new DocumentTrees(parser, 3);
  for (let i = 0; i < 5; i++) trees.update(`u${i}`, 'x.c', demo + `\nint v${i};\n`);
  assert.equal(trees.size, 3);
  assert.ok(!trees.has('u0') && !trees.has('u1') && trees.has('u4'));
});

test('the index cache answers by content: the same text again (even a copy) without indexing, a changed one indexed anew', async () => {
  const parser = await createParser();
  const cache = new IndexCache(4);
  let made = 0;
  const get = (p: string, t: string) =>
    cache.get(p, t, () => {
      made++;
      return indexSource(parser, p, t);
    });
  const first = get('x.c', demo);
  assert.equal(get('x.c', demo), first);
  assert.equal(get('x.c', (demo + ' ').slice(0, -1)), first, 'an equal copy of the text');
  assert.equal(made, 1);
  const changed = demo.replace('procstats_limit = 128', 'procstats_limit = 129');
  assert.notEqual(get('x.c', changed), first);
  assert.equal(made, 2);
  assert.equal(get('x.c', demo), first, 'back to the first text: still cached by its hash');
  assert.equal(made, 2);
  assert.notEqual(get('y.c', demo), first, 'another path is another entry');
  assert.equal(made, 3);
});

test('editRegion finds the same region as a character-by-character scan, block skipping or not', () => {
  const naive = (a: string, b: string) => {
    let start = 0;
    while (start < Math.min(a.length, b.length) && a[start] === b[start]) start++;
    let endA = a.length;
    let endB = b.length;
    while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
      endA--;
      endB--;
    }
    return { start, oldEnd: endA, newEnd: endB };
  };
  fc.assert(
    fc.property(
      // Shared runs long enough to cross the 4096/256/16 blocks, middles that may repeat the runs' ends.
      fc.string({ maxLength: 9000 }),
      fc.string({ maxLength: 40 }),
      fc.string({ maxLength: 40 }),
      fc.string({ maxLength: 9000 }),
      (head, x, y, tail) => {
        const a = head + x + tail;
        const b = head + y + tail;
        assert.deepEqual(editRegion(a, b), naive(a, b));
        assert.deepEqual(editRegion(b, a), naive(b, a));
      },
    ),
    { numRuns: 300 },
  );
  assert.deepEqual(editRegion(demo, demo), naive(demo, demo));
  assert.deepEqual(editRegion('', demo), naive('', demo));
});
