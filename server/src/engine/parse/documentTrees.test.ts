// Incremental re-indexing must give exactly what a full index of the new text gives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createParser } from './parser';
import { indexSource } from '../index/indexer';
import type { FileIndex } from '../model';
import { DocumentTrees, mergeRegions, editRegion } from './documentTrees';

const demo = fs.readFileSync(path.join(__dirname, '..', '..', '..', '..', 'examples', 'demo', 'tree', 'fs', 'proc', 'procstats.c'), 'utf8');

function summary(ix: FileIndex) {
  return {
    functions: ix.functions.map((f) => ({
      name: f.name,
      attrs: f.attributes,
      storage: f.storage,
      inline: f.inline,
      sig: f.signature,
      span: f.span,
      body: f.bodySpan,
      norm: f.normBody,
      calls: f.calls,
      statics: f.staticLocals,
      lines: f.lineMacroUses,
    })),
    types: ix.types.map((t) => ({ name: t.name, span: t.span, members: t.members })),
    variables: ix.variables.map((v) => ({ name: v.name, span: v.span, init: v.init, attrs: v.attributes })),
    macros: ix.macros.map((m) => ({ name: m.name, span: m.span, body: m.body })),
    initTargets: [...ix.initTargets],
  };
}

const edits: [string, (t: string) => string][] = [
  ['change a statement inside a function', (t) => t.replace('s->nr_blocked = nr_iowait();', 's->nr_blocked = nr_iowait() + 1;')],
  [
    'insert lines above later functions',
    (t) => t.replace('static void procstats_fill', '/* new\n * comment */\nstatic void procstats_fill'),
  ],
  ['add a whole function', (t) => t.replace('static int __init', 'static int extra(void)\n{\n\treturn 2;\n}\n\nstatic int __init')],
  ['turn __init into __exit (invisible to the blanked parse)', (t) => t.replace('static int __init', 'static int __exit')],
  ['open a brace that swallows what follows', (t) => t.replace('procstats_fill(&s);', 'procstats_fill(&s); {')],
  ['delete a function', (t) => t.replace(/static void procstats_fill[\s\S]*?\n}\n/, '')],
  ['rename a global', (t) => t.replace('procstats_limit = 128', 'procstats_max = 128')],
];

test('incremental re-index equals a full index after each kind of edit', async () => {
  const parser = await createParser();
  for (const [what, edit] of edits) {
    const trees = new DocumentTrees(parser);
    trees.index('u', 'x.c', demo);
    const next = edit(demo);
    assert.notEqual(next, demo, what);
    const inc = trees.index('u', 'x.c', next);
    assert.equal(trees.stats.incremental, 1, what);
    assert.deepEqual(summary(inc), summary(indexSource(parser, 'x.c', next)), what);
  }
});

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
