// The post-image's index from a stored pre-image index, parsing only the top-level
// items the hunks touch. A patch changes a few functions of a file of thousands of
// lines; with the pre-image's index at hand (engine/index/indexStore.ts) there is no
// tree to reparse incrementally, and parsing the whole post-image again is what a run
// would spend most of its parse time on.
//
// tree-sitter parses just a byte range of the text when told to (included ranges),
// with the whole text's offsets. The range is the changed top-level items plus one
// unchanged item on each side (a guard). The guards were whole, error-free items of
// the pre-image's tree; when the range parses without an error and gives them back
// unchanged, the parser entered and left the changed part at the top level, as a parse
// of the whole file would, and the items in between are what that parse would give.
// Otherwise (an unclosed brace, an `#if` whose `#endif` is elsewhere, any error, whose
// recovery depends on text beyond the range) the caller parses the whole file as before.

import { children, type CParser, type SyntaxNode } from './parser';
import { blank } from './blank';
import { editRegion } from './documentTrees';
import { reindexTree } from '../index/indexer';
import type { FileIndex } from '../model';
import type { StoredFile } from '../index/indexStore';
import * as timings from '../util/timings';

/** The top-level items of a tree: where each starts and ends, its node type, and whether it holds an error. */
export interface RootItems {
  starts: number[];
  ends: number[];
  types: string[];
  errors: boolean[];
}

export function rootItems(root: SyntaxNode): RootItems {
  return itemsOf(children(root));
}

function itemsOf(nodes: SyntaxNode[]): RootItems {
  const out: RootItems = { starts: [], ends: [], types: [], errors: [] };
  for (const c of nodes) {
    out.starts.push(c.startIndex);
    out.ends.push(c.endIndex);
    out.types.push(c.type);
    out.errors.push(c.hasError || c.type === 'ERROR' || c.isMissing);
  }
  return out;
}

/** How many erroneous items next to the change a guard may step over before giving up. */
const MAX_GUARD_STEPS = 8;

/**
 * The post-image's index and top-level items, parsing only the changed top-level items of
 * `post`; null when that cannot be shown to match a whole parse (the caller then parses
 * the whole file).
 */
export function indexPostBySlice(parser: CParser, path: string, stored: StoredFile, post: string): StoredFile | null {
  const { index: pre, items } = stored;
  if (post === pre.text) return stored;
  if (!parser.parseRange) return null;
  const preText = pre.text;
  const blankedPost = timings.timed('blank', () => blank(post));
  // What changed, in the text and in its blanked form (an opened comment or `#if 0`
  // blanks lines beyond the edit): the union of both.
  const raw = editRegion(preText, post);
  const blanked = editRegion(stored.blanked, blankedPost);
  const db = post.length - preText.length;
  let start = Math.min(raw.start, blanked.start);
  let oldEnd = Math.max(raw.oldEnd, blanked.oldEnd);
  // The definitions the change touches are indexed again whole.
  for (const list of [pre.functions, pre.types, pre.variables, pre.macros] as { span: { startByte: number; endByte: number } }[][]) {
    for (const d of list) {
      if (d.span.endByte > start && d.span.startByte < oldEnd) {
        start = Math.min(start, d.span.startByte);
        oldEnd = Math.max(oldEnd, d.span.endByte);
      }
    }
  }
  const n = items.starts.length;
  // Guards: the nearest items that neither touch the change nor hold an error.
  let before = -1;
  while (before + 1 < n && items.ends[before + 1] < start) before++;
  let after = n;
  while (after - 1 >= 0 && items.starts[after - 1] > oldEnd) after--;
  for (let steps = 0; before >= 0 && items.errors[before]; steps++) {
    if (steps === MAX_GUARD_STEPS) return null;
    before--;
  }
  for (let steps = 0; after < n && items.errors[after]; steps++) {
    if (steps === MAX_GUARD_STEPS) return null;
    after++;
  }
  const sliceStart = before >= 0 ? items.starts[before] : 0;
  const sliceEnd = after < n ? items.ends[after] + db : post.length;
  const tree = parser.parseRange(blankedPost, sliceStart, sliceEnd);
  try {
    // Error recovery weighs what follows the error, and the slice hides that: only an
    // error-free slice is known to parse as it would within the whole file.
    if (tree.rootNode.hasError) return null;
    const got = children(tree.rootNode);
    const same = (node: SyntaxNode | undefined, i: number, shift: number): boolean =>
      !!node &&
      !node.hasError &&
      node.type === items.types[i] &&
      node.startIndex === items.starts[i] + shift &&
      node.endIndex === items.ends[i] + shift;
    if (before >= 0 && !same(got[0], before, 0)) return null;
    if (after < n && !same(got[got.length - 1], after, db)) return null;
    // Everything between the guards is indexed again; the rest is carried over from the pre-image.
    const innerStart = before >= 0 ? items.ends[before] : 0;
    const innerEnd = after < n ? items.starts[after] : preText.length;
    timings.start('index');
    let index: FileIndex;
    try {
      index = reindexTree(tree.rootNode, path, post, pre, { start: innerStart, oldEnd: innerEnd, newEnd: innerEnd + db });
    } finally {
      timings.end('index');
    }
    // The post-image's items: the pre-image's up to the first guard, the slice's, then the rest moved by the change.
    const tail = (list: number[]) => list.slice(after + 1).map((x) => x + db);
    const mid = itemsOf(got);
    const keep = Math.max(before, 0);
    return {
      index,
      items: {
        starts: [...items.starts.slice(0, keep), ...mid.starts, ...tail(items.starts)],
        ends: [...items.ends.slice(0, keep), ...mid.ends, ...tail(items.ends)],
        types: [...items.types.slice(0, keep), ...mid.types, ...items.types.slice(after + 1)],
        errors: [...items.errors.slice(0, keep), ...mid.errors, ...items.errors.slice(after + 1)],
      },
      blanked: blankedPost,
    };
  } finally {
    tree.delete();
  }
}
