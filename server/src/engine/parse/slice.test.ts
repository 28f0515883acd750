// A post-image indexed from a stored pre-image index, parsing only the changed items,
// must give exactly what a full parse and index of the post-image gives, or nothing.

import { test } from '../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createParser, type CParser } from './parser';
import { indexTree } from '../index/indexer';
import { indexPostBySlice, rootItems, type RootItems } from './slice';
import type { StoredFile } from '../index/indexStore';
import { blank } from './blank';
import type { FileIndex } from '../model';
import { defaultKernelTree } from '../../../../tools/parse-accuracy/accuracy';
import { demo, edits, plain } from '../../../../testing/indexSummary';

/** The pre-image's index and items, as the store keeps them. */
function stored(parser: CParser, file: string, text: string): { index: FileIndex; items: RootItems; blanked: string } {
  const blanked = blank(text);
  const tree = parser.parseRaw(blanked);
  try {
    return { index: indexTree(tree.rootNode, file, text), items: rootItems(tree.rootNode), blanked };
  } finally {
    tree.delete();
  }
}

/** A sliced result must be what the store would keep after a whole parse: the same index, items and blanked text. */
function assertWhole(parser: CParser, file: string, got: StoredFile, post: string, what: string): void {
  const whole = stored(parser, file, post);
  assert.deepEqual(plain(got.index), plain(whole.index), what);
  assert.deepEqual(got.items, whole.items, `${what}: top-level items`);
  assert.ok(got.blanked === whole.blanked, `${what}: blanked text`);
}

/** Counts the parser's calls and the characters it was asked to parse. */
function counting(parser: CParser) {
  const seen = { whole: 0, ranges: 0, rangeChars: 0 };
  const p: CParser = {
    backend: parser.backend,
    parse: (t, prev) => (seen.whole++, parser.parse(t, prev)),
    parseRaw: (t, prev) => (seen.whole++, parser.parseRaw(t, prev)),
    edit: (tree, e) => parser.edit(tree, e),
    parseRange: (t, s, e) => (seen.ranges++, (seen.rangeChars += e - s), parser.parseRange!(t, s, e)),
  };
  return { p, seen };
}

test('slice parse: each kind of edit gives the full index of the post-image, or falls back when structure leaks', async () => {
  const parser = await createParser();
  for (const conv of [(t: string) => t, (t: string) => t.replace(/\n/g, '\r\n')]) {
    const base = conv(demo);
    const pre = stored(parser, 'x.c', base);
    for (const [what, edit] of edits) {
      const post = conv(edit(demo));
      const { p, seen } = counting(parser);
      const got = indexPostBySlice(p, 'x.c', pre, post);
      if (what === 'open a brace that swallows what follows') {
        // The function after the edit becomes part of the one before: not provable from a slice.
        assert.equal(got, null, what);
        continue;
      }
      assert.ok(got, `${what}: sliced`);
      assertWhole(parser, 'x.c', got, post, what);
      assert.equal(seen.whole, 0, `${what}: no whole parse`);
      assert.ok(seen.rangeChars < post.length, `${what}: parsed ${seen.rangeChars} of ${post.length} characters`);
    }
  }
});

test('slice parse: the same text gives the stored index itself; a parser without ranges gives nothing', async () => {
  const parser = await createParser();
  const pre = stored(parser, 'x.c', demo);
  assert.equal(indexPostBySlice(parser, 'x.c', pre, demo), pre);
  const { parseRange: _, ...noRanges } = parser;
  assert.equal(indexPostBySlice(noRanges as CParser, 'x.c', pre, demo + '\nint x;\n'), null);
});

test('slice parse: an edit at the very start and at the very end of a file', async () => {
  const parser = await createParser();
  const pre = stored(parser, 'x.c', demo);
  for (const post of [
    'static int first_thing;\n' + demo,
    demo + '\nstatic int last_thing(void)\n{\n\treturn 1;\n}\n',
    demo.slice(demo.indexOf('\n') + 1),
  ]) {
    const got = indexPostBySlice(parser, 'x.c', pre, post);
    assert.ok(got);
    assertWhole(parser, 'x.c', got, post, JSON.stringify(post.slice(0, 40)));
  }
});

const KERNEL_FILES = ['kernel/fork.c', 'mm/slub.c', 'arch/x86/kvm/x86.c', 'kernel/sched/core.c'];
const kernelTree = defaultKernelTree();
test(
  'slice parse of real kernel files: one-line edits across each file give the full index, and most of them slice',
  {
    skip: fs.existsSync(path.join(kernelTree, KERNEL_FILES[0]))
      ? false
      : `no kernel tree at ${kernelTree} (scripts/fetch-kernel-source.sh)`,
  },
  async () => {
    const parser = await createParser();
    let sliced = 0;
    let total = 0;
    for (const file of KERNEL_FILES) {
      const text = fs.readFileSync(path.join(kernelTree, file), 'utf8');
      const lines = text.split('\n');
      const pre = stored(parser, file, text);
      // Every 997th line: a statement added, a line doubled, a line removed, a new function after it.
      for (let l = 5; l < lines.length; l += 997) {
        for (const change of [
          (s: string) => s + '\n\tpr_info("%d\\n", __LINE__);',
          (s: string) => s + '\n' + s,
          () => '',
          (s: string) => s + '\nstatic int added_fn(void)\n{\n\treturn 0;\n}',
        ]) {
          const next = lines.slice();
          next[l] = change(lines[l]);
          const post = next.join('\n');
          total++;
          const got = indexPostBySlice(parser, file, pre, post);
          if (!got) continue;
          sliced++;
          assertWhole(parser, file, got, post, `${file}:${l + 1}: ${JSON.stringify(next[l])}`);
        }
      }
    }
    console.log(`# ${sliced} of ${total} edits sliced`);
    // Most edits land in one function between clean neighbours; a fallback costs only time.
    assert.ok(sliced / total > 0.5, `${sliced} of ${total} edits sliced`);
  },
);
