// Parse trees of open documents, kept per URI and reparsed incrementally.
// tree-sitter reuses the old tree for everything outside the edited range, so
// the edit we give it must cover every byte that changed in the *blanked* text
// (blanking can change a little around an edit); we find that range by
// comparing the old and new blanked texts from both ends.

import { pointOf, type CParser, type SyntaxTree } from './parser';
import { blank } from './blank';
import { indexTree, reindexTree, type EditRegion } from '../index/indexer';
import type { FileIndex } from '../model';
import { createHash } from 'node:crypto';
import * as timings from '../util/timings';

interface Entry {
  blanked: string;
  text: string;
  tree: SyntaxTree;
  index: FileIndex | null;
  path: string;
  /** The previous index and the region that changed since, for incremental re-indexing. */
  previous: { index: FileIndex; region: EditRegion } | null;
}

/** The smallest region outside which `a` and `b` are equal. */
export function editRegion(a: string, b: string): EditRegion {
  // Equal runs are skipped a block at a time: comparing two slices is one native call,
  // where a character loop in a short-lived CLI process runs in the interpreter.
  let start = 0;
  const max = Math.min(a.length, b.length);
  for (const step of BLOCKS) {
    while (start + step <= max && a.slice(start, start + step) === b.slice(start, start + step)) start += step;
  }
  while (start < max && a.charCodeAt(start) === b.charCodeAt(start)) start++;
  let endA = a.length;
  let endB = b.length;
  for (const step of BLOCKS) {
    while (endA - step >= start && endB - step >= start && a.slice(endA - step, endA) === b.slice(endB - step, endB)) {
      endA -= step;
      endB -= step;
    }
  }
  while (endA > start && endB > start && a.charCodeAt(endA - 1) === b.charCodeAt(endB - 1)) {
    endA--;
    endB--;
  }
  return { start, oldEnd: endA, newEnd: endB };
}

const BLOCKS = [4096, 256, 16];

/** Two successive edit regions (old->mid, mid->new) as one old->new region. */
export function mergeRegions(a: EditRegion, b: EditRegion): EditRegion {
  const start = Math.min(a.start, b.start);
  const midEnd = Math.max(a.newEnd, b.oldEnd);
  return { start, oldEnd: midEnd - (a.newEnd - a.oldEnd), newEnd: midEnd + (b.newEnd - b.oldEnd) };
}

export interface ParseStats {
  full: number;
  incremental: number;
}

export class DocumentTrees {
  private entries = new Map<string, Entry>();
  readonly stats: ParseStats = { full: 0, incremental: 0 };

  constructor(
    private readonly parser: CParser,
    private readonly capacity = 20,
  ) {}

  /**
   * The tree for the document's current text, reusing the previous tree when there is one.
   * `alternate` names another entry to start from when it is closer to the new text: the
   * buffer's base, so that an edit after an undo back to the base reparses one spot, not
   * everything between the undone edit and the new one.
   */
  update(uri: string, path: string, text: string, alternate?: string): Entry {
    const old = this.entries.get(uri);
    if (old && old.text === text) {
      this.touch(uri, old);
      return old;
    }
    const blanked = timings.timed('blank', () => blank(text));
    let from = old;
    let changed = old ? editRegion(old.blanked, blanked) : null;
    const alt = alternate === undefined ? undefined : this.entries.get(alternate);
    if (alt && alt !== old && alt.tree.copy) {
      const r = editRegion(alt.blanked, blanked);
      if (!changed || r.oldEnd + r.newEnd - 2 * r.start < changed.oldEnd + changed.newEnd - 2 * changed.start) {
        from = alt;
        changed = r;
      }
    }
    let tree: SyntaxTree;
    let previous: Entry['previous'] = null;
    if (from && changed) {
      // The alternate keeps its own tree: edit a copy of it.
      const base = from === old ? from.tree : from.tree.copy!();
      const a = from.blanked;
      const b = blanked;
      const { start, oldEnd: endA, newEnd: endB } = changed;
      this.parser.edit(base, {
        startIndex: start,
        oldEndIndex: endA,
        newEndIndex: endB,
        startPosition: pointOf(a, start),
        oldEndPosition: pointOf(a, endA),
        newEndPosition: pointOf(b, endB),
      });
      try {
        tree = this.parser.parseRaw(blanked, base);
      } catch (err) {
        if (base !== from.tree) base.delete();
        throw err;
      }
      // Structure can change outside the typed range (an unclosed brace): widen the region to cover it.
      const region: EditRegion = { start, oldEnd: endA, newEnd: endB };
      // The index reads names and attributes from the original text, which blanking hides
      // (`__init` -> `__exit` leaves the blanked text unchanged): cover the original edit too.
      const raw = editRegion(from.text, text);
      region.start = Math.min(region.start, raw.start);
      if (raw.newEnd > region.newEnd) {
        region.oldEnd += raw.newEnd - region.newEnd;
        region.newEnd = raw.newEnd;
      }
      for (const r of base.getChangedRanges?.(tree) ?? []) {
        region.start = Math.min(region.start, r.startIndex);
        const end = Math.max(region.newEnd, r.endIndex);
        region.oldEnd += end - region.newEnd;
        region.newEnd = end;
      }
      base.delete();
      if (from !== old) old?.tree.delete();
      this.stats.incremental++;
      if (from.index) previous = { index: from.index, region };
      else if (from.previous) previous = { index: from.previous.index, region: mergeRegions(from.previous.region, region) };
      if (from !== old) this.touch(alternate!, from);
    } else {
      tree = this.parser.parseRaw(blanked);
      this.stats.full++;
    }
    const entry: Entry = { blanked, text, tree, index: null, path, previous };
    this.touch(uri, entry);
    return entry;
  }

  /** The FileIndex of the document's current text (cached until the text changes). */
  index(uri: string, path: string, text: string, alternate?: string): FileIndex {
    const e = this.update(uri, path, text, alternate);
    if (!e.index) {
      timings.start('index');
      e.index = e.previous
        ? reindexTree(e.tree.rootNode, path, text, e.previous.index, e.previous.region)
        : indexTree(e.tree.rootNode, path, text);
      timings.end('index');
      e.previous = null;
    }
    return e.index;
  }

  /** The document's current tree and blanked text, or null (for reading only: the cache owns the tree). */
  entry(uri: string): { tree: SyntaxTree; blanked: string } | null {
    return this.entries.get(uri) ?? null;
  }

  has(uri: string): boolean {
    return this.entries.has(uri);
  }

  drop(uri: string): void {
    const e = this.entries.get(uri);
    if (e) {
      e.tree.delete();
      this.entries.delete(uri);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private touch(uri: string, e: Entry): void {
    this.entries.delete(uri);
    this.entries.set(uri, e);
    // LRU: evict the least recently used tree and free its wasm memory.
    while (this.entries.size > this.capacity) {
      const [k, v] = this.entries.entries().next().value!;
      v.tree.delete();
      this.entries.delete(k);
    }
  }
}

/** FileIndex cache for texts that are not open documents (base blobs, tree files), by content hash. */
export class IndexCache {
  private map = new Map<string, FileIndex>();
  /** Per path, the last text looked up and its key: the editor asks for the same base blob on every keystroke. */
  private lastKey = new Map<string, { text: string; key: string }>();
  constructor(private readonly capacity = 64) {}

  get(path: string, text: string, make: () => FileIndex): FileIndex {
    // Comparing with the last text (usually the very same string) is far cheaper than hashing 400 KB again.
    const last = this.lastKey.get(path);
    const key = last && last.text === text ? last.key : path + '\0' + createHash('sha1').update(text).digest('hex');
    this.lastKey.delete(path);
    this.lastKey.set(path, { text, key });
    while (this.lastKey.size > this.capacity) this.lastKey.delete(this.lastKey.keys().next().value!);
    let hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
    } else {
      hit = make();
    }
    this.map.set(key, hit);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
    return hit;
  }
}
