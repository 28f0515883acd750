// The on-disk index store: what comes back is the index that went in, and anything
// else (another text, path or build, a damaged file) is a miss, never a wrong index.

import { test } from '../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createParser } from '../parse/parser';
import { indexTree } from './indexer';
import { rootItems } from '../parse/slice';
import { blank } from '../parse/blank';
import { IndexStore, IndexStoreMiss } from './indexStore';
import type { FileIndex } from '../model';
import { tempDir } from '../../../../testing/tempDir';
import { demo, plain, summary, touchAll } from '../../../../testing/indexSummary';

const BUILD = '0123456789abcdef';
const OTHER_BUILD = 'fedcba9876543210';

async function indexed(text: string, file = 'fs/proc/procstats.c') {
  const parser = await createParser();
  const tree = parser.parse(text);
  try {
    return { index: indexTree(tree.rootNode, file, text), items: rootItems(tree.rootNode) };
  } finally {
    tree.delete();
  }
}

test('index store: an index comes back from disk equal to the one put in, body facts included', async () => {
  const root = tempDir('klp-istore-');
  // With an export, an initcall, an escape hatch and a static local, every part of an index is non-empty.
  const text = demo + '\nEXPORT_SYMBOL_GPL(procstats_fill);\nKPATCH_IGNORE_FUNCTION(procstats_fill);\n';
  const { index, items } = await indexed(text);
  touchAll(index);
  const store = new IndexStore(root, BUILD);
  store.put('fs/proc/procstats.c', text, index, items);
  assert.equal(new IndexStore(root, BUILD).get('fs/proc/procstats.c', text), null, 'nothing is written before flush()');
  store.flush();
  const back = new IndexStore(root, BUILD).get('fs/proc/procstats.c', text);
  assert.ok(back);
  assert.deepEqual(plain(back.index), plain(index));
  assert.deepEqual(back.items, items);
  assert.equal(back.blanked, blank(text), 'the text as the parser saw it');
  assert.ok(back.index.exports.length && back.index.escapeHatches.size && back.index.initTargets.size);
});

/** A store holding the demo file's index. */
async function storedDemo(): Promise<{ root: string; index: FileIndex }> {
  const root = tempDir('klp-istore-');
  const { index, items } = await indexed(demo);
  const store = new IndexStore(root, BUILD);
  store.put('fs/proc/procstats.c', demo, index, items);
  store.flush();
  return { root, index };
}

test('index store: another text, path or build misses; a damaged or foreign entry misses', async () => {
  const { root } = await storedDemo();
  const again = new IndexStore(root, BUILD);
  assert.equal(again.get('fs/proc/procstats.c', demo + ' '), null, 'changed text');
  assert.equal(again.get('fs/proc/other.c', demo), null, 'another path');
  assert.equal(new IndexStore(root, OTHER_BUILD).get('fs/proc/procstats.c', demo), null, 'another build');
  const [file] = fs.readdirSync(path.join(root, BUILD)).filter((f) => !f.endsWith('.aux.bin'));
  fs.writeFileSync(path.join(root, BUILD, file), 'not a stored index');
  assert.equal(again.get('fs/proc/procstats.c', demo), null, 'damaged entry');
  fs.writeFileSync(path.join(root, BUILD, file), Buffer.alloc(0));
  assert.equal(again.get('fs/proc/procstats.c', demo), null, 'empty entry');
});

test('index store: an entry whose items and blanked text are lost still gives its index, and says so when they are asked for', async () => {
  const { root, index } = await storedDemo();
  const [aux] = fs.readdirSync(path.join(root, BUILD)).filter((f) => f.endsWith('.aux.bin'));
  assert.ok(aux, 'the items and blanked text go in a file of their own');
  for (const damage of [() => fs.writeFileSync(path.join(root, BUILD, aux), 'damaged'), () => fs.rmSync(path.join(root, BUILD, aux))]) {
    damage();
    const back = new IndexStore(root, BUILD).get('fs/proc/procstats.c', demo);
    assert.ok(back);
    assert.deepEqual(summary(back.index), summary(index));
    assert.throws(() => back.items, IndexStoreMiss);
    assert.throws(() => back.blanked, IndexStoreMiss);
  }
});

test('index store: a write drops other builds but leaves what is not a store alone', async () => {
  const root = tempDir('klp-istore-');
  const { index, items } = await indexed(demo);
  const old = new IndexStore(root, OTHER_BUILD);
  old.put('a.c', demo, index, items);
  old.flush();
  fs.mkdirSync(path.join(root, 'my-notes'));
  const store = new IndexStore(root, BUILD);
  store.put('a.c', demo, index, items);
  store.flush();
  assert.deepEqual(fs.readdirSync(root).sort(), [BUILD, 'my-notes']);
  assert.throws(() => new IndexStore(root, '../x'), /not 16 hex digits/);
});

test('index store: past its size bound the oldest entries go, down to half of it', async () => {
  const root = tempDir('klp-istore-');
  const { index, items } = await indexed(demo);
  const dir = path.join(root, BUILD);
  fs.mkdirSync(dir, { recursive: true });
  // Stand-ins for old entries of 110 KB each, older than anything written now: 1.1 MB in all.
  for (let i = 0; i < 10; i++) {
    const f = path.join(dir, `old${i}.bin`);
    fs.writeFileSync(f, Buffer.alloc(110 * 1024));
    fs.utimesSync(f, 1000 + i, 1000 + i);
  }
  const store = new IndexStore(root, BUILD, 1024 * 1024);
  store.put('a.c', demo, index, items);
  store.flush();
  const left = fs.readdirSync(dir).sort();
  // Over 1 MB with the new entry: the oldest go until at most 512 KB remain.
  const bytes = left.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  assert.ok(bytes <= 512 * 1024, `${bytes} bytes left`);
  assert.ok(left.includes('old9.bin') && !left.includes('old0.bin'), left.join(' '));
  assert.ok(new IndexStore(root, BUILD).get('a.c', demo), 'the new entry stays');
});

test('index store: a store that cannot be written costs nothing but time', async () => {
  const root = tempDir('klp-istore-');
  fs.writeFileSync(path.join(root, 'file'), '');
  const { index, items } = await indexed(demo);
  const store = new IndexStore(path.join(root, 'file'), BUILD);
  store.put('a.c', demo, index, items);
  store.flush();
  assert.equal(store.get('a.c', demo), null);
});

test('index store: a kept value is computed once and comes back for the same kind and input only', () => {
  const root = tempDir('klp-istore-');
  let computed = 0;
  const value = () => (computed++, new Map([[3, { conditional: true, jiffiesGuard: false }]]));
  const store = new IndexStore(root, BUILD);
  assert.deepEqual(store.kept('contexts', 'int f(void) { }', value), value());
  computed = 0;
  store.flush();
  const again = new IndexStore(root, BUILD);
  assert.deepEqual(again.kept('contexts', 'int f(void) { }', value), new Map([[3, { conditional: true, jiffiesGuard: false }]]));
  assert.equal(computed, 0, 'read back, not computed');
  again.kept('contexts', 'int f(void) { } ', value);
  again.kept('other kind', 'int f(void) { }', value);
  new IndexStore(root, OTHER_BUILD).kept('contexts', 'int f(void) { }', value);
  assert.equal(computed, 3, 'another input, kind or build computes');
  // A damaged entry is computed again, not trusted.
  const [file] = fs.readdirSync(path.join(root, BUILD)).filter((n) => n.endsWith('.kept.bin'));
  fs.writeFileSync(path.join(root, BUILD, file), 'damaged');
  new IndexStore(root, BUILD).kept('contexts', 'int f(void) { }', value);
  assert.equal(computed, 4);
});
